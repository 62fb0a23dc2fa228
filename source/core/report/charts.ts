// Charts as inline SVG strings, for pages that must open offline with no script: the
// throughput against p99 latency scatter (with intervals and the front), the waterfall
// of kept steps, and plain horizontal bars. Scales and ticks come from d3-scale; every
// text is escaped. Each mark carries a class and a <title>, so a browser shows the
// figures on hover and a test can count the marks.
import {scaleLinear, scaleLog} from 'd3-scale';
import {htmlEscape} from 'escape-goat';

const WIDTH = 640;
const FONT = 'font-family="system-ui, sans-serif"';

function num(value: number): string {
	return Number.isFinite(value) ? String(Math.round(value * 10) / 10) : '0';
}

/** Tick labels at the very edges are anchored inward so they are not cut off. */
function anchorAt(x: number): string {
	return x > WIDTH - 30 ? 'end' : x < 30 ? 'start' : 'middle';
}

function svgOpen(height: number, className: string, label: string): string {
	return `<svg class="chart ${className}" viewBox="0 0 ${WIDTH} ${height}" role="img" aria-label="${htmlEscape(label)}" xmlns="http://www.w3.org/2000/svg" ${FONT} font-size="12">`;
}

// ---------------------------------------------------------------- scatter

export interface ScatterPoint {
	/** Shown next to the point and in the page's table: "3". */
	id: string;
	/** Hover text. */
	title: string;
	x: number;
	y: number;
	yLow: number;
	yHigh: number;
	/** CSS class: baseline, kept, dropped, winner, other. */
	kind: string;
}

/**
 * The points no other point beats on both axes (more throughput and less latency): the
 * throughput/latency front, ordered by latency.
 */
export function paretoFront<T extends {x: number; y: number}>(points: T[]): T[] {
	const sorted = [...points].sort((a, b) => a.x - b.x || b.y - a.y);
	const front: T[] = [];
	for (const p of sorted) if (front.length === 0 || p.y > front[front.length - 1]!.y) front.push(p);
	return front;
}

export function scatterSvg(points: ScatterPoint[], opts: {xLabel: string; yLabel: string; label: string}): string {
	const height = 380;
	const m = {left: 60, right: 18, top: 14, bottom: 46};
	if (!points.some((p) => p.x > 0)) return `<p class="empty">No probe produced a figure to plot.</p>`;
	const xs = points.map((p) => p.x).filter((x) => x > 0);
	const xMin = Math.min(...xs);
	const xMax = Math.max(...xs);
	// Latency spans orders of magnitude between batch 1 and a big batch: log then.
	const useLog = xs.length > 1 && xMax / xMin >= 8;
	let x: (value: number) => number;
	let xTicks: number[];
	if (useLog) {
		const log = scaleLog().domain([xMin / 1.25, xMax * 1.25]).range([m.left, WIDTH - m.right]);
		// d3's log tick format leaves the minor ticks blank: keep the labelled ones.
		const shown = log.tickFormat(6);
		x = log;
		xTicks = log.ticks(6).filter((t) => shown(t) !== '');
	} else {
		const linear = scaleLinear().domain([0, (xMax || 1) * 1.08]).range([m.left, WIDTH - m.right]).nice();
		x = linear;
		xTicks = linear.ticks(7);
	}
	const yMax = Math.max(...points.map((p) => p.yHigh), 0) || 1;
	const y = scaleLinear().domain([0, yMax * 1.08]).range([height - m.bottom, m.top]).nice();
	const out = [svgOpen(height, 'scatter', opts.label)];
	// Grid and axes.
	for (const t of y.ticks(6)) {
		out.push(`<line class="grid" x1="${m.left}" x2="${WIDTH - m.right}" y1="${num(y(t))}" y2="${num(y(t))}"/>`);
		out.push(`<text class="tick" x="${m.left - 6}" y="${num(y(t) + 4)}" text-anchor="end">${htmlEscape(y.tickFormat(6)(t))}</text>`);
	}
	for (const t of xTicks) {
		out.push(`<line class="grid" x1="${num(x(t))}" x2="${num(x(t))}" y1="${m.top}" y2="${height - m.bottom}"/>`);
		out.push(`<text class="tick" x="${num(x(t))}" y="${height - m.bottom + 16}" text-anchor="${anchorAt(x(t))}">${htmlEscape(String(+t.toPrecision(3)))}</text>`);
	}
	out.push(`<line class="axis" x1="${m.left}" x2="${WIDTH - m.right}" y1="${height - m.bottom}" y2="${height - m.bottom}"/>`);
	out.push(`<line class="axis" x1="${m.left}" x2="${m.left}" y1="${m.top}" y2="${height - m.bottom}"/>`);
	out.push(`<text class="axis-label" x="${(m.left + WIDTH - m.right) / 2}" y="${height - 8}" text-anchor="middle">${htmlEscape(opts.xLabel)}${useLog ? ' (log scale)' : ''}</text>`);
	out.push(`<text class="axis-label" transform="translate(14 ${(m.top + height - m.bottom) / 2}) rotate(-90)" text-anchor="middle">${htmlEscape(opts.yLabel)}</text>`);
	// The front, drawn under the points.
	const front = paretoFront(points.filter((p) => p.x > 0));
	if (front.length > 1) {
		const d = front.map((p, i) => `${i === 0 ? 'M' : 'L'}${num(x(p.x))},${num(y(p.y))}`).join(' ');
		out.push(`<path class="front" d="${d}"/>`);
	}
	const onFront = new Set(front);
	for (const p of points) {
		if (!(p.x > 0)) continue;
		const cx = num(x(p.x));
		out.push(`<line class="ci" x1="${cx}" x2="${cx}" y1="${num(y(p.yLow))}" y2="${num(y(p.yHigh))}"/>`);
		out.push(
			`<circle class="point ${htmlEscape(p.kind)}${onFront.has(p) ? ' on-front' : ''}" data-id="${htmlEscape(p.id)}" cx="${cx}" cy="${num(y(p.y))}" r="${p.kind === 'winner' ? 7 : 5}"><title>${htmlEscape(p.title)}</title></circle>`,
		);
		out.push(`<text class="point-label" x="${num(x(p.x) + 8)}" y="${num(y(p.y) - 6)}">${htmlEscape(p.id)}</text>`);
	}
	out.push('</svg>');
	return out.join('\n');
}

// ---------------------------------------------------------------- waterfall

export interface WaterfallRow {
	label: string;
	/** The level after this row (samples/s). */
	value: number;
	/** total: a bar from zero (baseline, winner); step: a bar from the previous level. */
	kind: 'total' | 'step';
	/** Text at the end of the bar: "24.1 samples/s (+22%)". */
	note: string;
}

export function waterfallSvg(rows: WaterfallRow[], opts: {label: string}): string {
	const rowHeight = 38;
	const m = {left: 8, right: 8, top: 6, bottom: 22};
	const height = m.top + rows.length * rowHeight + m.bottom;
	const max = Math.max(...rows.map((r) => r.value), 0) || 1;
	const x = scaleLinear().domain([0, max * 1.05]).range([m.left, WIDTH - m.right]).nice();
	const out = [svgOpen(height, 'waterfall', opts.label)];
	for (const t of x.ticks(6)) {
		out.push(`<line class="grid" x1="${num(x(t))}" x2="${num(x(t))}" y1="${m.top}" y2="${height - m.bottom}"/>`);
		out.push(`<text class="tick" x="${num(x(t))}" y="${height - 6}" text-anchor="${anchorAt(x(t))}">${htmlEscape(x.tickFormat(6)(t))}</text>`);
	}
	let level = 0;
	rows.forEach((row, i) => {
		const top = m.top + i * rowHeight;
		const from = row.kind === 'total' ? 0 : level;
		const lo = Math.min(from, row.value);
		const hi = Math.max(from, row.value);
		const kind = row.kind === 'total' ? 'total' : row.value >= from ? 'up' : 'down';
		out.push(`<text class="bar-label" x="${m.left}" y="${top + 13}">${htmlEscape(row.label)} <tspan class="bar-note">${htmlEscape(row.note)}</tspan></text>`);
		out.push(
			`<rect class="bar ${kind}" x="${num(x(lo))}" y="${top + 18}" width="${num(Math.max(x(hi) - x(lo), 1.5))}" height="14"><title>${htmlEscape(`${row.label}: ${row.note}`)}</title></rect>`,
		);
		if (i > 0) out.push(`<line class="connector" x1="${num(x(level))}" x2="${num(x(level))}" y1="${top + 17}" y2="${top + 32}"/>`);
		level = row.value;
	});
	out.push('</svg>');
	return out.join('\n');
}

// ---------------------------------------------------------------- bars

export interface BarRow {
	label: string;
	value: number;
	note: string;
	kind?: string;
}

/** Horizontal bars from zero, one row each, label above the bar (reads in a narrow window). */
export function barsSvg(rows: BarRow[], opts: {label: string; axisLabel: string}): string {
	const rowHeight = 38;
	const m = {left: 8, right: 8, top: 6, bottom: 38};
	const height = m.top + rows.length * rowHeight + m.bottom;
	const max = Math.max(...rows.map((r) => r.value), 0) || 1;
	const x = scaleLinear().domain([0, max * 1.05]).range([m.left, WIDTH - m.right]).nice();
	const out = [svgOpen(height, 'bars', opts.label)];
	for (const t of x.ticks(6)) {
		out.push(`<line class="grid" x1="${num(x(t))}" x2="${num(x(t))}" y1="${m.top}" y2="${height - m.bottom}"/>`);
		out.push(`<text class="tick" x="${num(x(t))}" y="${height - m.bottom + 14}" text-anchor="${anchorAt(x(t))}">${htmlEscape(x.tickFormat(6)(t))}</text>`);
	}
	out.push(`<text class="axis-label" x="${WIDTH / 2}" y="${height - 6}" text-anchor="middle">${htmlEscape(opts.axisLabel)}</text>`);
	rows.forEach((row, i) => {
		const top = m.top + i * rowHeight;
		out.push(`<text class="bar-label" x="${m.left}" y="${top + 13}">${htmlEscape(row.label)} <tspan class="bar-note">${htmlEscape(row.note)}</tspan></text>`);
		out.push(
			`<rect class="bar ${htmlEscape(row.kind ?? 'total')}" x="${num(x(0))}" y="${top + 18}" width="${num(Math.max(x(row.value) - x(0), 1.5))}" height="14"><title>${htmlEscape(`${row.label}: ${row.note}`)}</title></rect>`,
		);
	});
	out.push('</svg>');
	return out.join('\n');
}
