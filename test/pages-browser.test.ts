// report.html and the compare page opened in a real headless browser (Debian's
// chromium, driven by playwright-core): they render without console errors or failed
// requests, the charts have their points, nothing spills sideways in a phone-wide
// window, print works, and screenshots are kept in test-artifacts/ (git-ignored).
import {mkdirSync, mkdtempSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {buildComparison, renderCompareHtml} from '../source/core/report/compare.js';
import {renderOutputFiles, REPORT_HTML_NAME, writeOutputs} from '../source/core/report/outputs.js';
import {ARTIFACTS_DIR, browserAvailable, CHROMIUM, openBrowser} from './helpers/browser.js';
import type {OpenBrowser} from './helpers/browser.js';
import {detection, python, report, walk} from './helpers/report-fixture.js';

const required = process.env['GT_REQUIRE_BROWSER'] === '1';
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-pages-'));

interface Opened {
	errors: string[];
	requests: string[];
}

describe.skipIf(!browserAvailable() && !required)('HTML pages in chromium', () => {
	let browser: OpenBrowser;
	let reportPath: string;
	let comparePath: string;

	beforeAll(async () => {
		if (!browserAvailable()) throw new Error(`no chromium at ${CHROMIUM}: run bash scripts/setup-browser.sh (as root: apt-get install chromium)`);
		mkdirSync(ARTIFACTS_DIR, {recursive: true});
		// report.html exactly as a run writes it, beside the other files.
		const out = path.join(tmp, 'out');
		const files = await renderOutputFiles({result: walk(), detection: detection(), python, model: {name: 'resnet50'}, options: {minCosine: 0.99, minTop1: 0.99}, startedAt: new Date(), pricePerHour: null});
		await writeOutputs(out, files);
		reportPath = path.join(out, REPORT_HTML_NAME);
		// Three machines and a failed run, one of them priced unknown.
		const comparison = buildComparison(
			[
				{source: 'c7g', file: 'c7g/report.json', report: report({scale: 1})},
				{source: 'c8g', file: 'c8g/report.json', report: report({scale: 1.5, detection: {cloud: {provider: 'aws', instanceType: 'c8g.xlarge'}}})},
				{source: 'lab-box', file: 'lab-box/report.json', report: report({scale: 2.2, detection: {cloud: {provider: null, instanceType: null}}})},
			],
			[{source: 'm7i', reason: 'no report.json in this folder: the run there failed or was interrupted before writing'}],
		);
		comparePath = path.join(tmp, 'compare.html');
		writeFileSync(comparePath, renderCompareHtml(comparison));
		browser = await openBrowser();
	});

	afterAll(async () => {
		await browser?.close();
	});

	async function open(file: string, width: number, shot: string): Promise<Opened & {page: Awaited<ReturnType<OpenBrowser['context']['newPage']>>}> {
		const page = await browser.context.newPage();
		await page.setViewportSize({width, height: 900});
		const errors: string[] = [];
		const requests: string[] = [];
		page.on('console', (m) => {
			if (m.type() === 'error' || m.type() === 'warning') errors.push(`${m.type()}: ${m.text()}`);
		});
		page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
		page.on('request', (r) => {
			if (!r.url().startsWith('file://')) requests.push(r.url());
		});
		await page.goto(`file://${file}`, {waitUntil: 'load'});
		const target = path.join(ARTIFACTS_DIR, shot);
		await page.screenshot({path: target, fullPage: true});
		expect(statSync(target).size).toBeGreaterThan(10_000);
		return {page, errors, requests};
	}

	it('report.html renders with its charts and their points', async () => {
		const {page, errors, requests} = await open(reportPath, 1000, 'report.png');
		expect(errors).toEqual([]);
		expect(requests).toEqual([]);
		const r = report();
		const measured = r.probes.filter((p) => p.result).length;
		expect(await page.locator('svg.scatter circle.point').count()).toBe(measured);
		expect(await page.locator('svg.scatter circle.point.winner').count()).toBeGreaterThan(0);
		expect(await page.locator('svg.scatter line.ci').count()).toBe(measured);
		expect(await page.locator('svg.scatter path.front').count()).toBe(1);
		// Baseline, the two kept steps (the batch sweep once), the verified winner.
		expect(await page.locator('svg.waterfall rect.bar').count()).toBe(4);
		// The charts are drawn at a real size, not collapsed.
		const box = await page.locator('svg.scatter').boundingBox();
		expect(box!.width).toBeGreaterThan(500);
		expect(box!.height).toBeGreaterThan(250);
		const circle = await page.locator('svg.scatter circle.point').first().boundingBox();
		expect(circle!.width).toBeGreaterThan(4);
		expect(await page.locator('#headline').innerText()).toMatch(/33\.0 samples\/s/);
		expect(await page.locator('#dropped').innerText()).toMatch(/channels_last memory format\s+dropped/);
		await page.close();
	});

	it('report.html reads in a phone-wide window and prints', async () => {
		const {page, errors} = await open(reportPath, 380, 'report-narrow.png');
		expect(errors).toEqual([]);
		// Nothing wider than the window: tables scroll inside their own box.
		const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		expect(overflow).toBeLessThanOrEqual(0);
		// Charts keep a legible size and scroll inside their own box.
		const svgWidth = (await page.locator('svg.scatter').boundingBox())!.width;
		expect(svgWidth).toBeGreaterThanOrEqual(480);
		const wrap = await page.locator('.chart-wrap').first().evaluate((el) => ({client: el.clientWidth, scroll: el.scrollWidth}));
		expect(wrap.client).toBeLessThanOrEqual(380);
		expect(wrap.scroll).toBeGreaterThan(wrap.client);
		await page.emulateMedia({media: 'print'});
		await page.screenshot({path: path.join(ARTIFACTS_DIR, 'report-print.png'), fullPage: true});
		const pdf = await page.pdf({path: path.join(ARTIFACTS_DIR, 'report.pdf'), format: 'A4'});
		expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
		await page.close();
	});

	it('the compare page renders its table and charts', async () => {
		const {page, errors, requests} = await open(comparePath, 1000, 'compare.png');
		expect(errors).toEqual([]);
		expect(requests).toEqual([]);
		expect(await page.locator('#table tbody tr').count()).toBe(3);
		// Cost bars for the two priced machines, throughput bars for all three, one point each.
		const bars = page.locator('svg.bars');
		expect(await bars.count()).toBe(2);
		expect(await bars.nth(0).locator('rect.bar').count()).toBe(2);
		expect(await bars.nth(1).locator('rect.bar').count()).toBe(3);
		expect(await page.locator('svg.scatter circle.point').count()).toBe(3);
		expect(await page.locator('#table tbody tr').first().innerText()).toMatch(/c8g/);
		expect(await page.locator('#notes').innerText()).toMatch(/Not compared: m7i: no report\.json/);
		await page.close();
		const narrow = await open(comparePath, 380, 'compare-narrow.png');
		expect(narrow.errors).toEqual([]);
		expect(await narrow.page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth)).toBeLessThanOrEqual(0);
		await narrow.page.close();
	});
});
