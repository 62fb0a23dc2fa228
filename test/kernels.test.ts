// A probe's kernel account in words (source/core/report/kernels.ts) and the promises the
// contract's options make (promisedPrecisions): pure, on accounts shaped as the probe writes them.
import {describe, expect, it} from 'vitest';
import {firstShortfall, kernelSummary, precisionShares, sharesText, shortfall} from '../source/core/report/kernels.js';
import {optionDefaults, promisedPrecisions} from '../source/core/recipes/contract.js';
import type {OptionValues} from '../source/core/recipes/contract.js';
import type {KernelAccount, KernelGroup} from '../source/core/types.js';

const account = (groups: KernelGroup[]): KernelAccount => ({source: 'test', pass: 'one untimed call after the timed ones', groups, warnings: []});
const conv = (precision: string, kernel: string, count: number, seconds?: number, extra: Partial<KernelGroup> = {}): KernelGroup => ({family: 'convolution', precision, kernel, count, ...(seconds === undefined ? {} : {seconds}), ...extra});

describe('kernel accounts', () => {
	it('summarises per family and precision, heaviest first, with the kernels that ran', () => {
		const a = account([conv('int8', 'brg_conv_fwd:avx512_core_vnni', 17, 0.13), conv('int8', 'brgconv_1x1:avx512_core_vnni', 3, 0.02), {family: 'matmul', precision: 'fp32', kernel: 'mkl packed linear', count: 1, seconds: 0.01}]);
		expect(kernelSummary(a)).toBe('convolutions: 20 of 20 int8 (brg_conv_fwd:avx512_core_vnni, brgconv_1x1:avx512_core_vnni); matmul: 1 of 1 fp32 (mkl packed linear)');
		expect(sharesText(a)).toBe('int8 94%, fp32 6%');
	});

	it('shares by time where every group is timed, else by count (OpenVINO)', () => {
		expect(precisionShares(account([conv('int8', 'a', 1, 0.9), conv('fp32', 'b', 9, 0.1)]))[0]).toEqual({precision: 'int8', share: 0.9});
		expect(precisionShares(account([conv('int8', 'a', 1), conv('fp32', 'b', 9)]))[0]).toEqual({precision: 'fp32', share: 0.9});
	});

	it('says when lower-precision math was asked and not done', () => {
		const a = account([conv('fp32', 'jit:avx512_core', 20, 0.02, {asked: 'bf16', note: 'bf16 math asked (attr-fpmath), but jit:avx512_core computes in fp32'})]);
		expect(kernelSummary(a)).toBe('convolutions: 20 of 20 fp32 (bf16 math asked, not done) (jit:avx512_core)');
		expect(shortfall(a, 'bf16')).toEqual({promised: 'bf16', share: 0, none: true, words: 'no bf16 kernel ran: all fp32 (bf16 math asked (attr-fpmath), but jit:avx512_core computes in fp32)'});
	});

	it('holds a promise kept by the majority of the compute, int4 keeping int8\'s', () => {
		expect(shortfall(account([conv('int8', 'a', 3), conv('fp16', 'b', 5)]), 'int8')?.words).toBe('38% of compute ran int8, the rest fp16');
		expect(shortfall(account([conv('int8', 'a', 5), conv('fp16', 'b', 3)]), 'int8')).toBeNull();
		expect(shortfall(account([conv('int4', 'a', 5)]), 'int8')).toBeNull();
		expect(shortfall(undefined, 'int8')).toBeNull();
		expect(firstShortfall(account([conv('fp32', 'a', 5)]), ['bf16', 'int8'])?.promised).toBe('bf16');
	});
});

describe('what a configuration promises', () => {
	const base = optionDefaults() as OptionValues;
	it('is the precision of each option that changed and applies on its backend', () => {
		expect(promisedPrecisions(base, {...base, autocast: 'bf16'})).toEqual(['bf16']);
		expect(promisedPrecisions(base, {...base, quantization: 'int8', fp32Precision: 'bf16'})).toEqual(['bf16', 'int8']);
		expect(promisedPrecisions(base, {...base, weightQuantization: 'int4'})).toEqual(['int4']);
		expect(promisedPrecisions(base, {...base, channelsLast: true, batchSize: 8})).toEqual([]);
		const int8 = {...base, quantization: 'int8'} as OptionValues;
		expect(promisedPrecisions(int8, {...int8, batchSize: 8})).toEqual([]); // kept from before: not this step's promise
		expect(promisedPrecisions(int8, {...int8, backend: 'openvino'})).toEqual(['int8']); // another runtime's int8 is a new promise
		expect(promisedPrecisions(null, int8)).toEqual(['int8']);
	});
});
