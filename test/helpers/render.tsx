// One way to render Ink in tests: ink-testing-library underneath, plus waiting on
// conditions (never fixed sleeps). Each wait yields with setImmediate so React 19 can
// flush effects and Ink can subscribe to input before the next key is sent.
import {render as inkRender} from 'ink-testing-library';
import type {ReactElement} from 'react';
import {stripVTControlCharacters} from 'node:util';
import type {Prepared} from '../../source/core/walk/session.js';
import type {Applicability, Candidate, Detection, ProbeRecord, ProbeResult, PythonEnv, Recipe, RecipeStage, WalkResult} from '../../source/core/types.js';
import type {TuneFlags} from '../../source/options.js';

export {cleanup} from 'ink-testing-library';

export const keys = {
	enter: '\r',
	space: ' ',
	up: '\u001B[A',
	down: '\u001B[B',
	ctrlC: '\u0003',
} as const;

const tick = () => new Promise<void>(resolve => setImmediate(resolve));

export interface WaitOptions {
	/** Wall-clock limit in ms before the wait fails (the condition is polled, not slept on). */
	timeout?: number;
	/** What was awaited, for the failure message. */
	what?: string;
}

export interface RenderOptions {
	/** Terminal width; the design's floor, 80, unless a test asks otherwise. */
	columns?: number;
}

export function render(tree: ReactElement, {columns = 80}: RenderOptions = {}) {
	const instance = inkRender(tree);
	// ink-testing-library's stdout is 100 wide; Ink reads the width on every render, so
	// from the next frame on the app lays out for `columns`.
	Object.defineProperty(instance.stdout, 'columns', {get: () => columns});
	/** The last frame as plain text (static output included: Ink renders in debug mode here). */
	const frame = () => stripVTControlCharacters(instance.lastFrame() ?? '');

	async function waitFor(condition: () => boolean, {timeout = 5000, what = 'condition'}: WaitOptions = {}): Promise<void> {
		const deadline = Date.now() + timeout;
		while (!condition()) {
			if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last frame:\n${frame()}`);
			await tick();
		}
		await tick();
	}

	const waitForText = (text: string | RegExp, options: WaitOptions = {}) =>
		waitFor(() => (typeof text === 'string' ? frame().includes(text) : text.test(frame())), {what: `${String(text)} on screen`, ...options});

	/**
	 * Let the app settle: yield until two turns of the event loop pass without a new
	 * frame, so renders are committed and input handlers re-subscribed with fresh state.
	 */
	async function settle(): Promise<void> {
		let seen: number;
		do {
			seen = instance.frames.length;
			await tick();
			await tick();
		} while (instance.frames.length !== seen);
	}

	/** Send keys one at a time, letting the app settle between them. */
	async function press(...sequence: string[]): Promise<void> {
		for (const key of sequence) {
			await settle();
			instance.stdin.write(key);
			await settle();
		}
	}

	return {...instance, frame, waitFor, waitForText, press, settle};
}

/** A promise with its resolve handle: lets a fake wait for the test's go-ahead. */
export function deferred<T = void>() {
	let resolve!: (value: T) => void;
	const promise = new Promise<T>(r => (resolve = r));
	return {promise, resolve};
}

// ---------------------------------------------------------------- fixtures for the UI tests
// Constructed core values (no machine, no Python): a Graviton3 with tcmalloc, a venv
// with torch, and a handful of recipes in each applicability group.

export function detection(): Detection {
	return {
		root: '/',
		live: true,
		cpu: {
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-V1',
			platform: 'AWS Graviton3',
			platformGuess: null,
			modelName: null,
			logicalCpus: 8,
			features: ['asimd', 'sve', 'bf16', 'i8mm'],
			isa: {bf16: true, i8mm: true, sve: true, sve2: false, avx512: false, avx512bf16: false, vnni: false, amx: false},
			sveVectorBits: 256,
			implementer: '0x41',
			part: '0xd40',
			variant: '1',
			revision: '1',
			bogomips: 2100,
		},
		usableCpus: 8,
		usableCpuList: [0, 1, 2, 3, 4, 5, 6, 7],
		cpuQuota: null,
		numaNodes: null,
		memoryBytes: 16 * 2 ** 30,
		thp: 'madvise',
		allocators: {tcmalloc: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4', jemalloc: null, mimalloc: null},
		cloud: {provider: 'aws', instanceType: 'c7g.2xlarge'},
		os: {id: 'ubuntu', idLike: ['debian'], versionId: '24.04', prettyName: 'Ubuntu 24.04 LTS'},
		notes: [],
	};
}

export function python(overrides: Partial<PythonEnv> = {}): PythonEnv {
	return {
		interpreter: '/home/ubuntu/.venv/bin/python',
		source: 'virtualenv',
		reason: 'VIRTUAL_ENV is set',
		pythonVersion: '3.12.3',
		torch: {version: '2.5.1', cpuCapability: 'SVE256', numThreads: 8, mkldnn: true},
		packages: {transformers: null, onnxruntime: null},
		importErrors: {},
		problem: null,
		...overrides,
	};
}

function recipe(id: string, title: string, stage: RecipeStage, lossy = false): Recipe {
	return {id, title, stage, why: `${title} helps because of reasons.`, source: 'a guide', changes: {}, requires: {}, risks: {}, lossy};
}

export function applicability(): Applicability[] {
	const a = (r: Recipe, status: Applicability['status'], reason: string, install: string | null = null): Applicability => ({recipe: r, status, reason, install, changes: r.changes});
	return [
		a(recipe('batch-size', 'Batch size sweep', 'batch'), 'applicable', 'always'),
		a(recipe('channels-last', 'channels_last memory format', 'precision'), 'applicable', 'image model'),
		a(recipe('tcmalloc', 'tcmalloc allocator', 'memory'), 'applicable', 'found libtcmalloc.so.4'),
		a(recipe('bf16-fastmath', 'bf16 fast math', 'precision', true), 'applicable', 'this CPU has bf16'),
		a(recipe('onnxruntime', 'ONNX Runtime backend', 'backend'), 'needs', 'needs onnxruntime in this Python', 'pip install onnxruntime'),
		a(recipe('jemalloc', 'jemalloc allocator', 'memory'), 'not-applicable', 'libjemalloc is not installed'),
		a(recipe('old-torch', 'Old torch', 'advisory'), 'not-applicable', 'torch is recent'),
	];
}

export function prepared(overrides: Partial<Prepared> = {}): Prepared {
	return {detection: detection(), python: python(), applicability: applicability(), advice: [], ...overrides};
}

export function tuneFlags(overrides: Partial<TuneFlags> = {}): TuneFlags {
	return {
		model: {name: 'resnet50'},
		budgetSeconds: 600,
		out: 'graviton-tune-out',
		json: false,
		maxLatencyMs: null,
		app: ['python', 'app.py'],
		resume: false,
		minCosine: 0.99,
		minTop1: 0.99,
		maxAccuracyDrop: 0.01,
		yes: false,
		pricePerHour: null,
		quietWaitSeconds: 120,
		...overrides,
	};
}

export function probeResult(median: number, batchSize = 1): ProbeResult {
	return {
		samplesPerSecond: {median, ciLow: median * 0.99, ciHigh: median * 1.01},
		latencyMs: {p50: 10, p90: 11, p99: 12.5},
		iterations: 100,
		batchSize,
		setupSeconds: 2,
		warmupSeconds: 1,
		measureSeconds: 10,
		converged: true,
		peakRssBytes: 500 * 2 ** 20,
		check: {cosine: 0.99998, maxAbsError: 0.001, top1Agreement: 1},
	};
}

export function candidate(batchSize = 1, recipes: string[] = [], env: Record<string, string> = {}): Candidate {
	return {
		config: {model: {name: 'resnet50'}, batchSize, channelsLast: recipes.includes('channels-last'), autocast: null, fp32Precision: null, compile: false, quantization: null, backend: 'torch', workers: 1, threadsPerWorker: 8, budgetSeconds: 10},
		env,
		recipes,
	};
}

export function probeRecord(stepId: string, title: string, c: Candidate, median: number | null): ProbeRecord {
	return {
		stepId,
		title,
		candidate: c,
		result: median === null ? null : probeResult(median, c.config.batchSize),
		failure: median === null ? {kind: 'probe-error', code: 'oom', message: 'out of memory', hint: 'use a smaller batch', exitCode: 1, signal: null, stderrTail: ''} : null,
		startedAt: '2025-01-01T00:00:00.000Z',
		durationMs: 12_000,
	};
}

/** A walk that went from 40 to 100 samples/s (verified 40 → 100: 2.50×). */
export function walkResult(overrides: Partial<WalkResult> = {}): WalkResult {
	const base = candidate(1);
	const best = candidate(8, ['batch-size', 'channels-last']);
	return {
		baseline: {candidate: base, result: probeResult(40)},
		best: {candidate: best, result: probeResult(98, 8), speedup: 2.5},
		verification: {baseline: probeResult(40), best: probeResult(100, 8), speedup: 2.5},
		probes: [],
		decisions: [
			{stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: 'reference', samplesPerSecond: 40, ratio: 1},
			{stepId: '01-batch-size', recipeId: 'batch-size', title: 'Batch size 8', outcome: 'kept', reason: 'faster', samplesPerSecond: 80, ratio: 2},
			{stepId: '02-channels-last', recipeId: 'channels-last', title: 'channels_last memory format', outcome: 'kept', reason: 'faster', samplesPerSecond: 98, ratio: 1.22},
		],
		interrupted: false,
		elapsedSeconds: 300,
		...overrides,
	};
}
