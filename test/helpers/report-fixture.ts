// A finished walk as the planner leaves it, and its Report, for the pages' tests: a
// baseline, a batch sweep that kept two sizes, a kept allocator, a dropped and a failed
// step, a step skipped for the budget, and the back-to-back verification.
import {buildReport} from '../../source/core/report/outputs.js';
import type {Report} from '../../source/core/report/outputs.js';
import type {Candidate, Decision, Detection, ModelSpec, ProbeConfig, ProbeRecord, ProbeResult, PythonEnv, WalkResult} from '../../source/core/types.js';

export function config(over: Partial<ProbeConfig> = {}): ProbeConfig {
	return {model: {name: 'resnet50'}, batchSize: 1, channelsLast: false, autocast: null, fp32Precision: null, compile: false, quantization: null, backend: 'torch', workers: 1, threadsPerWorker: 4, budgetSeconds: 10, ...over};
}

export function result(median: number, p99: number, batchSize = 1, cosine = 1): ProbeResult {
	return {
		samplesPerSecond: {median, ciLow: median * 0.97, ciHigh: median * 1.03},
		latencyMs: {p50: p99 * 0.8, p90: p99 * 0.9, p99},
		iterations: 50,
		batchSize,
		setupSeconds: 2,
		warmupSeconds: 1,
		measureSeconds: 5,
		converged: true,
		peakRssBytes: 300_000_000,
		check: {cosine, maxAbsError: 0.001, top1Agreement: 1},
	};
}

export function detection(over: Partial<Detection> = {}): Detection {
	return {
		root: '/',
		live: true,
		cpu: {arch: 'aarch64', vendor: 'Arm', core: 'Neoverse-V1', platform: 'AWS Graviton3', platformGuess: null, modelName: null, logicalCpus: 4, features: ['bf16'], isa: {bf16: true, i8mm: true, sve: true, sve2: false, avx512: false, avx512bf16: false, vnni: false, amx: false}, sveVectorBits: 256, implementer: '0x41', part: '0xd40', variant: '1', revision: '1', bogomips: 2100},
		usableCpus: 4,
		usableCpuList: [0, 1, 2, 3],
		cpuQuota: null,
		numaNodes: null,
		memoryBytes: 8 * 2 ** 30,
		thp: 'madvise',
		allocators: {tcmalloc: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4', jemalloc: null, mimalloc: null},
		cloud: {provider: 'aws', instanceType: 'c7g.xlarge'},
		os: {id: 'debian', idLike: [], versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)'},
		notes: [],
		...over,
	};
}

export const python: PythonEnv = {
	interpreter: '/home/u/.cache/graviton-tune/venv/bin/python',
	source: 'managed',
	reason: "graviton-tune's managed venv",
	pythonVersion: '3.11.7',
	torch: {version: '2.13.0', cpuCapability: 'SVE256', numThreads: 4, mkldnn: true},
	packages: {},
	importErrors: {},
	problem: null,
};

function cand(over: Partial<ProbeConfig>, env: Record<string, string>, recipes: string[]): Candidate {
	return {config: config(over), env, recipes};
}

function probe(stepId: string, title: string, candidate: Candidate, res: ProbeResult | null, failure: ProbeRecord['failure'] = null): ProbeRecord {
	return {stepId, title, candidate, result: res, failure, startedAt: '2026-01-01T00:00:00Z', durationMs: 9000};
}

function decision(stepId: string, recipeId: string | null, title: string, outcome: Decision['outcome'], samplesPerSecond: number | null, ratio: number | null, reason: string): Decision {
	return {stepId, recipeId, title, outcome, samplesPerSecond, ratio, reason};
}

/** The walk; `scale` multiplies every throughput (another machine), `model` names the model. */
export function walk(opts: {scale?: number; model?: ModelSpec; verified?: boolean; interrupted?: boolean} = {}): WalkResult {
	const s = opts.scale ?? 1;
	const model = opts.model ?? {name: 'resnet50'};
	const tc = {LD_PRELOAD: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4'};
	const base = cand({model}, {}, []);
	const b2 = cand({model, batchSize: 2}, {}, ['batch-size']);
	const b4 = cand({model, batchSize: 4}, {}, ['batch-size']);
	const cl = cand({model, batchSize: 4, channelsLast: true}, {}, ['batch-size', 'channels-last']);
	const best = cand({model, batchSize: 4}, tc, ['batch-size', 'tcmalloc']);
	const comp = cand({model, batchSize: 4, compile: true}, tc, ['batch-size', 'tcmalloc', 'torch-compile']);
	const probes = [
		probe('baseline', 'Baseline: fp32, eager, batch 1', base, result(20 * s, 60)),
		probe('baseline-repeat', 'Baseline again', base, result(20.4 * s, 58)),
		probe('01-batch-size', 'Batch size 2', b2, result(26 * s, 90, 2)),
		probe('02-batch-size', 'Batch size 4', b4, result(30 * s, 150, 4)),
		probe('03-channels-last', 'channels_last memory format', cl, result(29 * s, 160, 4)),
		probe('04-tcmalloc', 'tcmalloc allocator', best, result(34 * s, 130, 4)),
		probe('05-torch-compile', 'torch.compile (inductor, frozen weights)', comp, null, {kind: 'probe-error', code: 'compile-failed', message: 'inductor failed', hint: null, exitCode: 1, signal: null, stderrTail: ''}),
	];
	const decisions = [
		decision('baseline', null, 'Baseline', 'baseline', 20 * s, 1, 'fp32 eager, batch 1: the reference'),
		decision('01-batch-size', 'batch-size', 'Batch size 2', 'kept', 26 * s, 1.3, '+30%'),
		decision('02-batch-size', 'batch-size', 'Batch size 4', 'kept', 30 * s, 1.15, '+15%'),
		decision('03-channels-last', 'channels-last', 'channels_last memory format', 'dropped', 29 * s, 0.97, '-3%: slower'),
		decision('04-tcmalloc', 'tcmalloc', 'tcmalloc allocator', 'kept', 34 * s, 1.13, '+13%'),
		decision('05-torch-compile', 'torch-compile', 'torch.compile (inductor, frozen weights)', 'failed', null, null, 'compile-failed: inductor failed'),
		decision('06-openvino', 'openvino', 'OpenVINO backend', 'skipped', null, null, 'time budget spent'),
	];
	const verified = opts.verified ?? true;
	return {
		baseline: {candidate: base, result: result(20 * s, 60)},
		best: {candidate: best, result: result(34 * s, 130, 4), speedup: verified ? 33 / 19.5 : 34 / 20},
		verification: verified ? {baseline: result(19.5 * s, 61), best: result(33 * s, 128, 4), speedup: 33 / 19.5} : null,
		probes,
		decisions,
		interrupted: opts.interrupted ?? false,
		elapsedSeconds: 118,
	};
}

export function report(opts: {scale?: number; model?: ModelSpec; verified?: boolean; interrupted?: boolean; detection?: Partial<Detection>; pricePerHour?: number | null} = {}): Report {
	const model = opts.model ?? {name: 'resnet50'};
	return buildReport({
		result: walk(opts),
		detection: detection(opts.detection),
		python,
		model,
		options: {minCosine: 0.99, minTop1: 0.99},
		startedAt: new Date('2026-01-01T00:00:00Z'),
		generatedAt: new Date('2026-01-01T00:02:00Z'),
		pricePerHour: opts.pricePerHour ?? null,
	});
}
