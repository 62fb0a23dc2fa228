// report.html as text: what it shows, from which figures, and that it stays offline.
import {describe, expect, it} from 'vitest';
import {paretoFront} from '../source/core/report/charts.js';
import {headlineFigures} from '../source/core/report/headline.js';
import {OUTPUT_FILE_NAMES, renderOutputFiles, REPORT_HTML_NAME} from '../source/core/report/outputs.js';
import {keptSteps, renderReportHtml, scatterPoints, waterfallRows} from '../source/core/report/report-html.js';
import {detection, python, report, walk} from './helpers/report-fixture.js';

describe('report.html', () => {
	it('is one of the output files, rendered from the same report as report.json', async () => {
		expect(OUTPUT_FILE_NAMES).toContain(REPORT_HTML_NAME);
		const files = await renderOutputFiles({result: walk(), detection: detection(), python, model: {name: 'resnet50'}, options: {}, startedAt: new Date(), pricePerHour: null});
		const html = files.find((f) => f.name === REPORT_HTML_NAME)!.content;
		expect(html).toMatch(/^<!doctype html>/);
		expect(html).toContain('resnet50');
	});

	it('is self-contained: no script, no link, no network address', () => {
		const html = renderReportHtml(report());
		expect(html).not.toMatch(/<script|<link|<iframe|<img|@import|url\(/i);
		expect(html).not.toMatch(/(?:src|href)=/);
		expect(html).not.toMatch(/https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
	});

	it('headlines the verified figures, the output check and its data, and the cost', () => {
		const r = report();
		const html = renderReportHtml(r);
		const h = headlineFigures(r);
		expect(h.verified).toBe(true);
		expect(html).toContain('>33.0 <small>samples/s</small>');
		expect(html).toContain(`${h.speedup.toFixed(2)}×`);
		expect(html).toContain('speedup, verified back to back');
		expect(html).toMatch(/Output check:<\/strong> cosine 1\.00000, max abs error 0\.0010, top-1 100% against fp32 eager, on a seeded random input of 4 samples/);
		// 0.145 $/h at 33 samples/s.
		expect(html).toContain('$1.22');
		expect(html).toMatch(/us-east-1, prices of 2026-01-19/);
	});

	it('says on what data the output check ran: the user\'s samples, or random inputs with the accuracy warning for a lossy winner', () => {
		const onSamples = report();
		onSamples.verification = {...onSamples.verification!, best: {...onSamples.verification!.best, check: {...onSamples.verification!.best.check!, data: 'samples', rows: 16}}};
		onSamples.accuracy = {lossy: true, data: 'samples', rows: 16, score: null, baselineScore: null, text: 'accuracy checked on 16 real samples against fp32 eager'};
		const html = renderReportHtml(onSamples);
		expect(html).toContain('on 16 of your samples (--samples)');
		expect(html).not.toContain('no real samples were given');
		expect(html).toMatch(/<p id="accuracy"><strong>Accuracy:<\/strong> accuracy checked on 16 real samples/);

		const random = report();
		random.accuracy = {lossy: true, data: 'random', rows: 4, score: null, baselineScore: null, text: 'accuracy not checked on real data: the output check ran on 4 seeded random inputs'};
		expect(renderReportHtml(random)).toMatch(/<p id="accuracy" class="warn"><strong>Accuracy:<\/strong> accuracy not checked on real data/);
	});

	it('says when the winner was not verified and when the price is unknown', () => {
		const html = renderReportHtml(report({verified: false, detection: {cloud: {provider: null, instanceType: null}}}));
		expect(html).toContain('speedup from the walk (not re-verified)');
		expect(html).toContain('cost per million inferences: price unknown');
		expect(html).toContain('pass --price-per-hour when tuning');
	});

	it('waterfall: baseline, each kept step once (a sweep by its last size), the verified winner', () => {
		const r = report();
		expect(keptSteps(r.decisions).map((d) => d.title)).toEqual(['Batch size 4', 'tcmalloc allocator']);
		const rows = waterfallRows(r);
		expect(rows.map((row) => [row.label, row.kind, row.value])).toEqual([
			['Baseline', 'total', 20],
			['Batch size 4', 'step', 30],
			['tcmalloc allocator', 'step', 34],
			['Winner, verified', 'total', 33],
		]);
		// The gain the walk decided on, not the distance between bars.
		expect(rows[1]!.note).toBe('30.0 samples/s (+15% against the best then)');
	});

	it('scatter: one point per probe with a figure, the winner marked; failed probes are in the table only', () => {
		const r = report();
		const points = scatterPoints(r);
		expect(points).toHaveLength(r.probes.filter((p) => p.result).length);
		expect(points.find((p) => p.id === '6')!.kind).toBe('winner');
		expect(points.find((p) => p.id === '4')!.kind).toBe('kept');
		expect(points.find((p) => p.id === '5')!.kind).toBe('dropped');
		const html = renderReportHtml(r);
		expect(html.match(/<circle class="point/g)).toHaveLength(points.length);
		expect(html).toContain('failed: compile-failed');
	});

	it('the front is the probes nothing beats on both throughput and latency', () => {
		const front = paretoFront([
			{x: 60, y: 20},
			{x: 58, y: 20.4},
			{x: 90, y: 26},
			{x: 150, y: 30},
			{x: 160, y: 29},
			{x: 130, y: 34},
		]);
		expect(front).toEqual([
			{x: 58, y: 20.4},
			{x: 90, y: 26},
			{x: 130, y: 34},
		]);
	});

	it('escapes what it shows', () => {
		const html = renderReportHtml(report({model: {path: '/models/<img src=x onerror=alert(1)>.pt'}}));
		expect(html).not.toContain('<img');
		expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;.pt');
	});

	it('lists the steps not kept with their reasons, the machine and the deploy commands', () => {
		const html = renderReportHtml(report());
		expect(html).toMatch(/<td>channels_last memory format<\/td><td>dropped<\/td>.*-3%: slower/);
		expect(html).toMatch(/<td>OpenVINO backend<\/td><td>skipped<\/td>.*time budget spent/);
		expect(html).toContain('AWS Graviton3 (Neoverse-V1), 4 vCPU, SVE 256-bit, BF16, I8MM — c7g.xlarge');
		expect(html).toContain('<code>./launch.sh [args]</code>');
		expect(html).toContain('GT_BATCH_SIZE=4');
	});
});
