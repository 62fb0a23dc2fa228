// `graviton-tune check`'s pure parts (source/core/walk/check.ts): the env file read back as
// the configuration it deploys, and the verdict on measured pairs against the record. The
// whole command, with real probes, is in test/auto.test.ts.
import {describe, expect, it} from 'vitest';
import {deployedFromEnvFile, judge} from '../source/core/walk/check.js';
import type {KernelAccount} from '../source/core/types.js';
import {report, result} from './helpers/report-fixture.js';

const kernels = (kernel: string): KernelAccount => ({source: 's', pass: 'p', warnings: [], groups: [{family: 'convolution', precision: 'fp32', kernel, count: 53, seconds: 0.1}]});

describe('check', () => {
	it('reads the env file as deployed: GT_* lines as options, a line left out as the helper\'s default, the rest as environment', () => {
		const r = report({verified: true});
		const deployed = deployedFromEnvFile('# header\nOMP_NUM_THREADS=4\nLD_PRELOAD=/lib/libtcmalloc.so.4\nGT_BATCH_SIZE=16\nGT_AUTOCAST=none\n', r);
		expect(deployed.config.batchSize).toBe(16);
		expect(deployed.config.autocast).toBeNull();
		expect(deployed.config.channelsLast).toBe(false); // not in the file: the default, not the walk's channels_last
		expect(deployed.config.model).toEqual(r.best.config.model);
		expect(deployed.env).toEqual({OMP_NUM_THREADS: '4', LD_PRELOAD: '/lib/libtcmalloc.so.4'});
		expect(() => deployedFromEnvFile('GT_BATCH_SIZE=lots\n', r)).toThrow(/graviton-tune.env: GT_BATCH_SIZE lots: expected a positive whole number/);
		expect(() => deployedFromEnvFile('just words\n', r)).toThrow(/is not a KEY=VALUE line/);
	});

	it('passes within the recorded interval, fails below it, when the kernels change, or when the outputs drift', () => {
		const r = report({verified: true});
		r.verification = {...r.verification!, speedup: 3, interval: {low: 2.8, high: 3.2, ratios: [2.9, 3, 3.1]}, best: {...r.verification!.best, kernels: kernels('jit:avx512_core')}};
		const now = {...result(30, 10), kernels: kernels('jit:avx512_core')};
		expect(judge(r, {ratio: 2.9, low: 2.6, high: 3.1, ratios: [2.8, 2.9, 3]}, now).ok).toBe(true);
		const slower = judge(r, {ratio: 2, low: 1.9, high: 2.1, ratios: [2, 2, 2]}, now);
		expect(slower.reasons).toEqual(['slower by 33%: 2.00× [1.90×–2.10×] the baseline, below the recorded 3.00× [2.80×–3.20×]']);
		expect(judge(r, {ratio: 0.9, low: 0.8, high: 0.95, ratios: [0.9]}, now).reasons[0]).toMatch(/^no longer faster than the baseline/);
		const other = judge(r, {ratio: 3, low: 2.9, high: 3.1, ratios: [3]}, {...now, kernels: kernels('ref:any')});
		expect(other.kernels.changed).toBe(true);
		expect(other.reasons).toEqual(['kernels changed from "convolutions: 53 of 53 fp32 (jit:avx512_core)" to "convolutions: 53 of 53 fp32 (ref:any)"']);
		const drifted = judge(r, {ratio: 3, low: 2.9, high: 3.1, ratios: [3]}, {...now, check: {cosine: 0.95, maxAbsError: 0.1, top1Agreement: 0.9}});
		expect(drifted.reasons[0]).toMatch(/^outputs drifted: cosine 0.9500 against fp32, recorded 1.0000/);
	});

	it('without three recorded pairs, allows 25% below the recorded ratio (one pair cannot settle it closer)', () => {
		const r = report({verified: true});
		r.verification = {...r.verification!, speedup: 4, interval: {low: 0.5, high: 30, ratios: [3.5, 4.5]}};
		const now = result(30, 10);
		expect(judge(r, {ratio: 3.2, low: 3, high: 3.4, ratios: [3.2]}, now).ok).toBe(true);
		expect(judge(r, {ratio: 2.5, low: 2.4, high: 2.7, ratios: [2.5]}, now).reasons[0]).toMatch(/below the recorded 4.00× \(fewer than 3 pairs, no interval: 25% allowed\)/);
	});
});
