// The frame of graviton-tune's HTML pages (report.html, the compare page): one
// stylesheet, escaping, and a page that needs nothing from the network and runs no script.
import {htmlEscape} from 'escape-goat';

/** The page's stylesheet: shared with the compare page. Narrow windows and print are first-class. */
export const PAGE_CSS = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --accent: #1f6feb; --good: #1a7f37; --bad: #c2410c; --bg-soft: #f5f7fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); margin: 0 auto; max-width: 980px; padding: 16px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.15rem; margin: 28px 0 8px; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
p.sub, .muted { color: var(--muted); }
p, li, h1 { overflow-wrap: break-word; }
code, pre { font: 13px/1.45 ui-monospace, "SFMono-Regular", Menlo, monospace; }
pre { background: var(--bg-soft); padding: 10px 12px; border-radius: 6px; white-space: pre-wrap; word-break: break-word; }
.figures { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 10px; margin: 14px 0; }
.figure { background: var(--bg-soft); border-radius: 8px; padding: 10px 12px; }
.figure .value { font-size: 1.45rem; font-weight: 650; }
.figure .label { color: var(--muted); font-size: 0.85rem; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
table.wide { min-width: 720px; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-weight: 600; background: var(--bg-soft); }
td.num, th.num { text-align: right; white-space: nowrap; }
td.nowrap { white-space: nowrap; }
tr.winner td { font-weight: 600; }
svg.chart { width: 100%; height: auto; display: block; margin: 8px 0; }
/* In a phone-wide window a chart keeps a legible size and scrolls sideways in its own box. */
.chart-wrap { overflow-x: auto; }
.chart-wrap svg.chart { min-width: 480px; }
svg .grid { stroke: #eceff3; }
svg .axis { stroke: #8a93a3; }
svg .tick, svg .bar-note, svg .point-label { fill: var(--muted); font-size: 11px; }
svg .axis-label, svg .bar-label { fill: var(--fg); }
svg .ci { stroke: #6b7280; stroke-width: 1.5; }
svg .front { fill: none; stroke: var(--accent); stroke-width: 2; stroke-dasharray: 6 4; }
svg .point { stroke: #fff; stroke-width: 1.5; fill: #9aa3b2; }
svg .point.baseline { fill: #374151; }
svg .point.kept { fill: var(--good); }
svg .point.dropped, svg .point.failed { fill: var(--bad); }
svg .point.skipped { fill: #d4a72c; }
svg .point.winner { fill: var(--accent); stroke: #0b3d91; stroke-width: 2; }
svg .point.on-front { stroke: var(--accent); stroke-width: 2.5; }
svg .bar.total { fill: var(--accent); }
svg .bar.up, svg .bar.good { fill: var(--good); }
svg .bar.down, svg .bar.bad { fill: var(--bad); }
svg .bar.unknown { fill: #9aa3b2; }
svg .connector { stroke: #8a93a3; stroke-dasharray: 2 2; }
.legend { display: flex; flex-wrap: wrap; gap: 12px; font-size: 0.85rem; color: var(--muted); margin: 0; padding: 0; list-style: none; }
.legend span.dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%; margin-right: 4px; vertical-align: middle; }
.ok { color: var(--good); } .warn { color: var(--bad); }
footer { margin-top: 32px; color: var(--muted); font-size: 0.85rem; }
@media (max-width: 560px) {
	body { padding: 10px; font-size: 14px; }
	.figure .value { font-size: 1.2rem; }
	th, td { padding: 4px 5px; }
	td.num, th.num { white-space: normal; }
	.hide-narrow { display: none; }
}
@media print {
	body { max-width: none; padding: 0; font-size: 11pt; }
	.table-wrap, .chart-wrap { overflow: visible; }
	.chart-wrap svg.chart { min-width: 0; }
	svg.chart, .figures, table { break-inside: avoid; }
	h2 { break-after: avoid; }
	* { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
`;

export function esc(text: string | number): string {
	return htmlEscape(String(text));
}

/** Markdown-ish `code` spans to <code>, everything else escaped. */
export function inlineCode(text: string): string {
	return text
		.split('`')
		.map((part, i) => (i % 2 === 1 ? `<code>${esc(part)}</code>` : esc(part)))
		.join('');
}

export function page(title: string, body: string[]): string {
	return [
		'<!doctype html>',
		'<html lang="en">',
		'<head>',
		'<meta charset="utf-8">',
		'<meta name="viewport" content="width=device-width, initial-scale=1">',
		// No script, no network: the page is read offline.
		`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
		`<title>${esc(title)}</title>`,
		`<style>${PAGE_CSS}</style>`,
		'</head>',
		'<body>',
		...body,
		'</body>',
		'</html>',
		'',
	].join('\n');
}
