// The distance to the limit: one computation (source/core/machine/limits.ts) for every face, and a
// real matmul-rate probe and flop count on this machine.
import {existsSync} from 'node:fs';
import {describe, expect, it} from 'vitest';
import {implication, limitShare, limitsNote, measureMatmulRates, precisionOf} from '../source/core/machine/limits.js';
import {inspectModel} from '../source/core/walk/model-check.js';
import {managedPython} from '../source/core/paths.js';
import {buildReport, renderReportMarkdown} from '../source/core/report/outputs.js';
import {renderReportHtml} from '../source/core/report/report-html.js';
import {detection, python as fixturePython, walk} from './helpers/report-fixture.js';

const python = existsSync(managedPython()) ? managedPython() : 'python3';

describe('the share of the matmul rate', () => {
	const rates = {at: '', threads: 2, fp32: 40, int8: 0.8};

	it('compares with the rate of the precision the configuration computes in, or fp32 where that is faster', () => {
		expect(precisionOf({quantization: 'int8', autocast: null, fp32Precision: null})).toBe('int8');
		expect(precisionOf({quantization: null, autocast: 'bf16', fp32Precision: null})).toBe('bf16');
		// 10 samples/s × 2 GFLOP = 20 GFLOP/s of 40: half.
		expect(limitShare(10, 2e9, rates, 'fp32')!.share).toBeCloseTo(0.5, 10);
		// int8 without a fast kernel here (0.8 GOP/s): the fp32 rate is the ceiling.
		const int8 = limitShare(10, 2e9, rates, 'int8')!;
		expect(int8.ratePrecision).toBe('fp32');
		expect(int8.share).toBeCloseTo(0.5, 10);
		expect(limitShare(10, 2e9, {at: '', threads: 2, fp32: 40, bf16: 160}, 'bf16')!.share).toBeCloseTo(0.125, 10);
		// OpenVINO's int8 on an AVX2 CPU beyond the fp32 ceiling while torch's int8 matmul crawls
		// (seen here: 210% of 114 GFLOP/s, torch int8 2 GOP/s): said as such, in the ceiling's unit.
		const avx2 = {at: '', threads: 2, fp32: 114, int8: 2};
		const beyond = limitShare(30, 8e9, avx2, 'int8')!;
		expect(beyond.share).toBeGreaterThan(2);
		expect(implication(beyond, avx2)).toMatch(/^beyond this CPU's fp32 matmul rate: the int8 kernels used outrun torch's int8 matmul here \(2 GOP\/s\), so the int8 ceiling is not known/);
		expect(implication(beyond, avx2)).not.toMatch(/little more to gain/);
	});

	it('says what the share implies, for baseline and winner, from the headline figures', () => {
		const run = walk(); // baseline and winner, verified (test/helpers/report-fixture.ts)
		const flops = 1e9;
		const note = limitsNote(run, {rates: {at: '', threads: 2, fp32: 1000}, flopsPerSample: flops})!;
		expect(note.lines).toHaveLength(3);
		expect(note.lines[0]).toMatch(/^baseline: [\d.]+% of this CPU's fp32 matmul rate \(1000 GFLOP\/s\)$/);
		expect(note.implication).toMatch(/memory bound: batch or fuse/);
		const near = limitsNote(run, {rates: {at: '', threads: 2, fp32: 50, int8: 200}, flopsPerSample: flops})!; // the winner at 66% of fp32's
		expect(near.implication).toMatch(/further gains need int8/);
		expect(limitsNote(run, null)).toBeNull();
		expect(near.rateReadsLow).toBe(false);
	});

	it('a figure past its own precision\'s rate says the kept rate reads low, not "little more to gain"', () => {
		const run = walk(); // the winner verified at 33 samples/s, fp32
		// 33 samples/s × 1 GFLOP against a kept fp32 rate of 20 GFLOP/s: 165%, which no fp32 model reaches.
		const low = limitsNote(run, {rates: {at: '', threads: 2, fp32: 20}, flopsPerSample: 1e9})!;
		expect(low.best.share).toBeGreaterThan(1);
		expect(low.rateReadsLow).toBe(true);
		expect(low.implication).toBe('not known: this walk outran the fp32 matmul rate kept for this machine, so that rate was measured in a busy moment and reads low; measured again on the next run');
		// Both baseline (fp32) and winner (int8) past their own rates: both named.
		const int8Run = {...run, best: {...run.best, candidate: {...run.best.candidate, config: {...run.best.candidate.config, quantization: 'int8' as const}}}};
		expect(limitsNote(int8Run, {rates: {at: '', threads: 2, fp32: 10, int8: 20}, flopsPerSample: 1e9})!.implication).toMatch(/^not known: this walk outran the fp32 and int8 matmul rates kept for this machine, so they were measured/);
		expect(low.lines.at(-1)).toBe(`so: ${low.implication}`);
		// Past a rate borrowed from another precision is not a low reading: that case keeps its own words.
		const avx2 = limitsNote(run, {rates: {at: '', threads: 2, fp32: 200, int8: 2}, flopsPerSample: 1e9})!;
		expect(avx2.rateReadsLow).toBe(false);
	});
});

describe('every file says it the same way', () => {
	it('report.json, report.md and report.html carry the note computed once', () => {
		const run = {...walk(), limits: {rates: {at: '', threads: 2, fp32: 68}, flopsPerSample: 3.63e9}};
		const report = buildReport({result: run, detection: detection(), python: fixturePython, model: {name: 'resnet18'}, options: {}, startedAt: new Date(), generatedAt: new Date(), pricePerHour: null});
		const note = limitsNote(run, run.limits)!;
		expect(report.limits).toEqual(note);
		expect(renderReportMarkdown(report)).toContain(`Distance to the limit: ${note.lines.join('; ')}.`);
		expect(renderReportHtml(report)).toContain('<p id="limits"><strong>Distance to the limit:</strong>');
		// A report written before issue 12 (no rates) says nothing about it.
		expect(buildReport({result: walk(), detection: detection(), python: fixturePython, model: {name: 'resnet18'}, options: {}, startedAt: new Date(), generatedAt: new Date(), pricePerHour: null}).limits).toBeNull();
	});
});

describe('measured on this machine (real torch)', () => {
	it('the matmul probe gives an fp32 rate, and bf16 only where the CPU has it natively', async () => {
		const rates = await measureMatmulRates(python, 1, {seconds: 0.5});
		expect(rates).not.toBeNull();
		expect(rates!.fp32).toBeGreaterThan(1);
		const cpuinfo = existsSync('/proc/cpuinfo') ? (await import('node:fs')).readFileSync('/proc/cpuinfo', 'utf8') : '';
		if (!/\b(avx512_bf16|amx_bf16|bf16)\b/.test(cpuinfo)) expect(rates!.bf16).toBeUndefined();
	}, 120_000);

	it('the model check counts a model\'s operations per sample', async () => {
		const check = await inspectModel(python, {name: 'resnet18'});
		expect(check.ok).toBe(true);
		// ResNet-18 at 224×224: 1.82 G multiply-adds, 3.6 GFLOP.
		if (check.ok) expect(check.info.flopsPerSample! / 1e9).toBeCloseTo(3.63, 1);
	}, 120_000);
});
