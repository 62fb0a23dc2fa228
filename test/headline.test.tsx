// One headline: wherever a person reads the winner against the baseline (report.md,
// report.html, the env file header, the headless log, the --json result line, the
// Ink summary), it is the verified pair when there is one, never the walk's winner
// against the verified ratio. The fixture's walk and verification disagree on purpose
// (the walk: 215 against 32.8; back to back: 212.4 against 25.5, 8.33x).
import {describe, expect, it} from 'vitest';
import {buildReport, renderEnvFile, renderReportMarkdown} from '../source/core/report/outputs.js';
import {renderReportHtml} from '../source/core/report/report-html.js';
import {resultLine} from '../source/headless/auto.js';
import {createTextRenderer} from '../source/headless/text.js';
import {ResultSummary} from '../source/ui/components/result-summary.js';
import type {WalkResult} from '../source/core/types.js';
import {detection, python, result, walk} from './helpers/report-fixture.js';
import {render} from './helpers/render.js';

function disagreeing(verified = true): WalkResult {
	const w = walk();
	const verification = {baseline: result(25.5, 61), best: result(212.4, 30, 4), speedup: 212.4 / 25.5};
	return {
		...w,
		baseline: {...w.baseline, result: result(32.8, 60)},
		best: {...w.best, result: result(215, 29, 4), speedup: verified ? verification.speedup : 215 / 32.8},
		verification: verified ? verification : null,
	};
}

const facts = (r: WalkResult) => ({result: r, detection: detection(), python, model: {name: 'resnet50'}, options: {}, startedAt: new Date('2026-01-01T00:00:00Z'), generatedAt: new Date('2026-01-01T00:02:00Z')});

function headlessText(r: WalkResult): string {
	const lines: string[] = [];
	createTextRenderer(line => lines.push(line))({type: 'session-end', result: r, error: null});
	return lines.join('\n');
}

describe('the headline figures are the same everywhere', () => {
	it('the verified pair, in every file and face', () => {
		const r = disagreeing();
		const report = buildReport(facts(r));
		const md = renderReportMarkdown(report);
		expect(md).toContain('**212 samples/s** against a baseline of 25.5 (8.33x)');
		expect(md).not.toMatch(/215 samples\/s\*\* against/);

		const html = renderReportHtml(report);
		const headline = html.slice(html.indexOf('<section id="headline">'), html.indexOf('</section>', html.indexOf('<section id="headline">')));
		expect(headline).toContain('212');
		expect(headline).toContain('baseline 25.5');
		expect(headline).toContain('8.33');
		expect(headline).not.toContain('215');

		const env = renderEnvFile({result: r, detection: detection(), model: 'resnet50', date: new Date('2026-01-01T00:02:00Z')});
		expect(env).toContain('baseline 25.5 -> winner 212 samples/s (8.33x)');

		expect(headlessText(r)).toContain('212 samples/s, 8.33× the baseline (25.5 samples/s), verified back to back');

		const line = resultLine(r, null);
		expect(line.best.samplesPerSecond).toBe(212.4);
		expect(line.baseline.samplesPerSecond).toBe(25.5);
		expect(line.best.speedup).toBeCloseTo(8.33, 2);
		expect(line.verified).toBe(true);

		const {lastFrame, unmount} = render(<ResultSummary result={r} />);
		const frame = lastFrame();
		unmount();
		expect(frame).toMatch(/baseline\s+25\.5 samples\/s/);
		expect(frame).toMatch(/best\s+212 samples\/s/);
		expect(frame).toContain('8.33×');
		expect(frame).not.toContain('215');
	});

	it('without a verification, the walk\'s own pair, said to be the walk\'s', () => {
		const r = disagreeing(false);
		const md = renderReportMarkdown(buildReport(facts(r)));
		expect(md).toContain('**215 samples/s** against a baseline of 32.8 (6.55x)');
		expect(md).toContain('not measured again');
		expect(headlessText(r)).toContain('215 samples/s, 6.55× the baseline (32.8 samples/s), from the walk (not re-verified)');
		const {lastFrame, unmount} = render(<ResultSummary result={r} />);
		const frame = lastFrame();
		unmount();
		expect(frame).toContain('not re-verified');
		expect(frame).toContain('6.55×');
	});
});
