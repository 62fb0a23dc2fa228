// Shared contracts between the core modules, the headless face and the Ink face.
// Everything here is plain data: it crosses process boundaries as JSON
// (probe configs and events) and ends up in report.json.
import type {Library} from './machine/allocators.js';
import type {BackendName, OptionValues, RecipeOptionValues} from './recipes/contract.js';

// ---------------------------------------------------------------- hardware

export type Arch = 'aarch64' | 'x86_64';

export interface IsaFlags {
	bf16: boolean;
	i8mm: boolean;
	sve: boolean;
	sve2: boolean;
	avx512: boolean;
	avx512bf16: boolean;
	vnni: boolean;
	amx: boolean;
}

export interface CpuInfo {
	/** "aarch64" | "x86_64"; another string for an architecture we do not tune. */
	arch: Arch | string;
	/** "Arm", "Ampere", "NVIDIA", "Intel", "AMD", … or null. */
	vendor: string | null;
	/** "Neoverse-V1", "Cortex-A72", "AmpereOne", … or null when unknown (x86: null). */
	core: string | null;
	/** Best guess at the product: "AWS Graviton3", "NVIDIA Grace", "Ampere Altra", … */
	platform: string | null;
	/** Set when `platform` is a heuristic guess: why it is a guess. */
	platformGuess: string | null;
	modelName: string | null;
	logicalCpus: number;
	/** The kernel's flag names, lowercase, de-duplicated. */
	features: string[];
	isa: IsaFlags;
	/** SVE vector length in bits when known (aarch64 only). */
	sveVectorBits: number | null;
	/** aarch64 MIDR fields as printed in /proc/cpuinfo ("0x41", "0xd40", "1"), else null. */
	implementer: string | null;
	part: string | null;
	variant: string | null;
	revision: string | null;
	bogomips: number | null;
}

export interface Detection {
	/** Where the facts came from: "/" for the live machine, else the --root directory. */
	root: string;
	live: boolean;
	cpu: CpuInfo;
	/** CPUs this process may really use (online ∩ cpuset, floored by the CPU quota). */
	usableCpus: number;
	/** The CPU ids that are usable (online ∩ cpuset), sorted. Quota does not shrink this list. */
	usableCpuList: number[];
	/** cgroup v2 cpu.max quota in CPUs (e.g. 1.5), or null when unlimited/unknown. */
	cpuQuota: number | null;
	/**
	 * The usable CPUs of each NUMA node (sorted, nodes in id order, nodes without a usable CPU
	 * left out): [[0..95], [96..191]]. Null when unknown (no node folders under /sys): read as one node.
	 */
	numaNodes: number[][] | null;
	memoryBytes: number | null;
	thp: 'always' | 'madvise' | 'never' | null;
	/** Each allocator library's path on disk, or null where it is not installed (machine/allocators.ts declares them). */
	allocators: Record<Library, string | null>;
	cloud: {provider: 'aws' | 'gcp' | 'azure' | 'oci' | null; instanceType: string | null};
	/** From /etc/os-release: used for install hints ("apt-get install …" vs "dnf install …"). */
	os: {id: string | null; idLike: string[]; versionId: string | null; prettyName: string | null};
	/** Human-readable remarks: guesses, unreadable files, unknown CPU. Never fatal. */
	notes: string[];
}

// ---------------------------------------------------------------- python

export type PythonSource = 'flag' | 'virtualenv' | 'managed' | 'path';

export interface PythonEnv {
	/** Absolute path of the interpreter used, or null when none was found. */
	interpreter: string | null;
	source: PythonSource | null;
	/** Why this interpreter: "--python was given", "VIRTUAL_ENV is set", … */
	reason: string;
	pythonVersion: string | null;
	torch: {
		version: string;
		/** torch.backends.cpu.get_cpu_capability(): "AVX512", "SVE256", "DEFAULT", … */
		cpuCapability: string | null;
		numThreads: number | null;
		mkldnn: boolean | null;
		/** An allocator linked into torch itself for its CPU tensors (mimalloc in aarch64 builds from 2.10); null: none; absent in older surveys. */
		bundledAllocator?: string | null;
	} | null;
	/** Optional packages: version string when importable, null when not. */
	packages: Record<string, string | null>;
	/** Import errors for packages that are installed but fail to import. */
	importErrors: Record<string, string>;
	/** What is missing and how to get it, when something is. */
	problem: {code: 'no-python' | 'no-torch' | 'python-broken'; message: string; hint: string} | null;
}

// ---------------------------------------------------------------- probes

export interface ModelSpec {
	/** Built-in: resnet50 (default), resnet18, mobilenet_v3_large, vit_b_16, bert_base. */
	name?: string;
	/** The user's model: a .py file (with a factory), a Hugging Face save_pretrained folder, TorchScript (.pt/.ts), torch.export (.pt2), ONNX (.onnx). */
	path?: string;
	/** Factory function name inside a .py file (default "build_model"). */
	factory?: string;
	/** Per-sample input shape without the batch dimension, e.g. [3, 224, 224] or [128]. */
	inputShape?: number[];
	/** Input dtype: float32 for images, int64 for token ids. Default by model. */
	inputDtype?: 'float32' | 'int64';
	/** Tokens per input for a Hugging Face folder (default 128). */
	seqLen?: number;
	/** Real inputs: a torch.save'd list of inputs, or an .npz keyed by input name (int8 calibration, output check). */
	samples?: string;
	/** What is measured: one forward pass (samples/s) or generation (tokens/s). Absent: generate when the model can (a language-model head), else forward; the session resolves it from the model check. */
	task?: Task;
	/** Generation: prompt tokens per sequence (default 128). */
	promptLen?: number;
	/** Generation: new tokens per sequence, end-of-sequence ignored (default 64). */
	newTokens?: number;
}

export const TASKS = ['forward', 'generate'] as const;
export type Task = (typeof TASKS)[number];

export type Backend = BackendName;

/**
 * One configuration to measure: the model plus every option declared in
 * source/core/recipes/contract.ts (batch size, channels_last, … threads, CPUs, measurement).
 * Environment knobs travel separately, as process env.
 */
export type ProbeConfig = {model: ModelSpec} & OptionValues;

export type ProbePhase = 'load' | 'export' | 'quantize' | 'compile' | 'reference' | 'warmup' | 'measure' | 'evaluate';

export interface Interval {
	median: number;
	ciLow: number;
	ciHigh: number;
}

export interface OutputCheck {
	cosine: number;
	maxAbsError: number;
	/** Fraction of rows whose argmax agrees with the reference, for logits; else null. */
	top1Agreement: number | null;
	/** What the check ran on: the real samples (--samples) or seeded random inputs, and how many rows. */
	data?: 'samples' | 'random';
	rows?: number;
	/** Generation: the greedy tokens against fp32 eager's on the same prompts (cosine and top-1 are then the prefill's logits). */
	tokens?: TokenCheck;
}

export interface TokenCheck {
	/** New tokens compared per sequence (the first 32, or fewer when fewer are made). */
	compared: number;
	sequences: number;
	/** Sequences whose first `compared` tokens are all the reference's. */
	identical: number;
	/** The earliest position (0-based) where any sequence differs; null: none does. */
	firstDivergence: number | null;
}

/** A generating probe's figures (ProbeResult.generation): its samplesPerSecond is then decode tokens/s over all sequences, and latencyMs the gaps between tokens. */
export interface GenerationFigures {
	promptTokens: number;
	newTokens: number;
	/** Sequences generated together (batch × workers). */
	sequences: number;
	/** Time to the first token (the prefill). */
	ttftMs: {p50: number; p99: number};
	interTokenMs: {p50: number; p99: number};
	decodeTokensPerSecond: {perSequence: number; total: number};
	/** New tokens of all sequences over whole generate() calls (prefill included). */
	endToEndTokensPerSecond: number;
	/** What one decode step reads: the Linear layers' weights as stored, and each sequence's KV cache at its mean length (null: its shape unknown). */
	bytesPerStep?: {weights: number; kvPerSequence: number | null; flopsPerToken?: number};
}

export interface WorkerFigure {
	rank: number;
	cpus: number[];
	samplesPerSecond: number;
}

/** How much of the CPUs a probe was given went to other processes while it measured (source/core/machine/contention.ts). */
export interface Contention {
	/** Share of the CPUs' time that went neither to the probe tree nor to graviton-tune (steal included), 0–1. */
	othersShare: number;
	/** Of it, steal time: taken by the hypervisor for other guests, 0–1. */
	stealShare: number;
	/** Length of the measured window. */
	seconds: number;
	/** othersShare reached the threshold: the figures are not to be trusted. */
	contended: boolean;
	threshold: number;
}

/** Compute operations of one kind that ran the same way (probes/graviton_tune_probe/kernels.py). */
export interface KernelGroup {
	family: 'convolution' | 'matmul' | 'attention';
	/** What the math ran in: int8, int4, bf16, fp16, fp32 (fp32 data under attr-fpmath:bf16 counts as bf16 only where the kernel did it). */
	precision: string;
	/** The runtime's own name: oneDNN's implementation (brg_conv_fwd:avx512_core), OpenVINO's primitive, ONNX Runtime's provider and operator. */
	kernel: string;
	count: number;
	/** Their time in the account's pass; absent where the runtime does not time them (OpenVINO: shares by count). */
	seconds?: number;
	/** A lower precision asked for the math (oneDNN's attr-fpmath), whether or not the kernel did it. */
	asked?: string;
	note?: string;
}

/** What executed in a probe, from the runtime's own record, collected after the timed calls. */
export interface KernelAccount {
	/** Where it comes from (oneDNN verbose and the torch profiler; ONNX Runtime's profile; OpenVINO's runtime model). */
	source: string;
	/** How it was collected without touching the figure. */
	pass: string;
	groups: KernelGroup[];
	/** Reference-kernel fallbacks in a hot layer, emulated bf16: with their cause. */
	warnings: string[];
}

export interface ProbeResult {
	samplesPerSecond: Interval;
	latencyMs: {p50: number; p90: number; p99: number};
	iterations: number;
	batchSize: number;
	/** Model load + export/quantize/compile + warm-up, in seconds. */
	setupSeconds: number;
	/**
	 * Of setupSeconds, the conversion the probe kept in the walk's cache (OpenVINO IR): a
	 * later probe of the same configuration reads it back instead. 0 or absent: nothing kept.
	 */
	cachedSeconds?: number;
	/**
	 * inductor's graph cache in the per-machine folder (torch.compile, PT2E int8): graphs read
	 * back, compiled here, or compiled without it (frozen weights; their kernels are still
	 * kept in and read back from the folder).
	 */
	inductorCache?: {hits: number; misses: number; bypassed: number};
	warmupSeconds: number;
	measureSeconds: number;
	/** True when the CI target was reached before the budget ran out. */
	converged: boolean;
	peakRssBytes: number | null;
	/** The allocator libraries the probe's processes mapped (LD_PRELOAD that really loaded), e.g. ["libmimalloc.so.2"]; absent in older reports. */
	allocators?: string[];
	check: OutputCheck | null;
	/** The model file's evaluate(model) on this configuration (higher is better), when it has one. */
	score?: number;
	/** int8 only: what it calibrated on (real samples or seeded random inputs). */
	calibration?: {data: 'samples' | 'random'; batches: number; rows: number};
	workers?: WorkerFigure[];
	/** A generating probe (task generate): its token figures. samplesPerSecond is then decode tokens/s in total, latencyMs the inter-token gaps. */
	generation?: GenerationFigures;
	/** Which kernels did the work (absent where the runtime gave no account). */
	kernels?: KernelAccount;
	/** Filled by graviton-tune (not the probe) around the measurement; null when it could not tell. */
	contention?: Contention | null;
}

export type ProbeEvent =
	| {type: 'start'; pid: number; python: string; torch: string; threads: number; rank?: number; world?: number}
	| {type: 'phase'; phase: ProbePhase; seconds?: number}
	| {type: 'progress'; samplesPerSecond: number; iterations: number; elapsedSeconds: number; relativeCi: number | null}
	| ({type: 'result'} & ProbeResult)
	| {type: 'error'; code: string; message: string; hint?: string | null}
	| {type: 'log'; level: 'info' | 'warning'; message: string};

export type ProbeFailureKind =
	| 'probe-error' // the probe reported an error event
	| 'exit' // non-zero exit without an error event
	| 'signal' // killed by a signal we did not send
	| 'oom' // killed by the kernel's OOM killer (SIGKILL, or exit 137)
	| 'timeout'
	| 'cancelled'
	| 'protocol' // garbage on stdout, or no result
	| 'spawn'; // could not start the interpreter

export interface ProbeFailure {
	kind: ProbeFailureKind;
	/** Stable code: the probe's own code for probe-error, else the kind. */
	code: string;
	message: string;
	hint: string | null;
	exitCode: number | null;
	signal: string | null;
	stderrTail: string;
}

export type ProbeOutcome =
	| {ok: true; result: ProbeResult; events: ProbeEvent[]; durationMs: number}
	| {ok: false; failure: ProbeFailure; events: ProbeEvent[]; durationMs: number};

// ---------------------------------------------------------------- recipes

export type RecipeStage = 'batch' | 'memory' | 'precision' | 'runtime' | 'compile' | 'workers' | 'quantize' | 'backend' | 'advisory';

/** What a recipe changes when applied on top of a configuration. */
export interface RecipeChanges {
	/** Environment variables for the probe and the launch script. Values may use ${tcmalloc}-style placeholders, one per allocator library. */
	env?: Record<string, string>;
	/** Probe options merged into ProbeConfig: those the contract marks recipe-settable. */
	probe?: RecipeOptionValues;
	/** Launcher shape: several pinned workers under torchrun. */
	workers?: 'sweep';
	/** Batch sizes to sweep. */
	batchSizes?: number[];
}

export interface RecipeRequires {
	arch?: Arch[];
	/** ISA flags from Detection.cpu.isa that must all be true. */
	isa?: Array<keyof IsaFlags>;
	/** ISA flags of which at least one must be true. */
	anyIsa?: Array<keyof IsaFlags>;
	/** Kernel CPU flags (Detection.cpu.features) of which at least one must be present, for flags IsaFlags does not carry (e.g. "asimddp"). */
	features?: string[];
	/**
	 * The isa/anyIsa/features requirements are about speed, not correctness: without them the
	 * step still runs, it is just rarely faster. Such a step is then not offered by default but
	 * runs when named (--recipes ID, or ticked on the recipe screen).
	 */
	speedOnlyIsa?: boolean;
	/** Python packages that must import (beyond torch). */
	packages?: string[];
	/** Minimal torch version, e.g. "2.3". */
	torch?: string;
	thp?: Array<'always' | 'madvise' | 'never'>;
	/** An allocator library that must be on disk. */
	library?: Library;
	/** Model input kinds it makes sense for ("image" models take NCHW float input). */
	input?: Array<'image' | 'tokens' | 'other'>;
	/** Needs more than one usable CPU. */
	minCpus?: number;
	/** The model formats it applies to: a PyTorch model (torch) or an .onnx file (onnx). Absent: both. */
	modelFormat?: Array<'torch' | 'onnx'>;
	/** The workloads it applies to: one forward pass, or generation (ModelSpec.task). Absent: both. */
	task?: Task[];
}

export interface Recipe {
	id: string;
	title: string;
	stage: RecipeStage;
	why: string;
	source: string;
	changes: RecipeChanges;
	requires: RecipeRequires;
	risks: {accuracy?: string; memory?: string; other?: string};
	/** Changes numerics: kept only while the output check passes. */
	lossy: boolean;
	/**
	 * Per-architecture variants: changes.env / changes.probe are merged key by key, other
	 * changes and requires keys replace the base's; why is appended to the base paragraph.
	 */
	variants?: Partial<Record<Arch, {changes?: RecipeChanges; requires?: RecipeRequires; why?: string}>>;
	/** Ids of recipes in the same stage that must be tried before this one (e.g. jemalloc after tcmalloc). */
	after?: string[];
	/** Advisory recipes only: the condition that triggers the advice. */
	advisory?: {when: 'torch-older-than' | 'thp-never' | 'allocator-missing' | 'quota-below-cpus'; minTorch?: string};
	/** What the step is expected to bring and cost, per CPU class (source/core/recipes/expected.ts reads it). */
	expected?: RecipeExpected;
	/**
	 * A batch size that suits the step, for steps where a new batch size costs a new
	 * conversion or calibration: the walk measures the step at this size when batch size
	 * has not been tried on a tuned configuration yet (and no --max-latency-ms is given).
	 */
	batch?: {size: number; why: string};
	/** The file it was loaded from. */
	file?: string;
}

/** One CPU class's expectation: gain factor range (null: unknown), probe cost, where it comes from. */
/** The CPU classes a recipe's expected figures are given for (recipes/expected.ts decides a machine's). */
export type CpuClass = 'x86-amx' | 'x86-avx512-bf16' | 'x86-avx512' | 'x86-avx2' | 'graviton2' | 'graviton3' | 'graviton4' | 'default';

export interface ExpectedFigure {
	gain: [number, number] | null;
	costSeconds: number | null;
	source: string;
}

export interface RecipeExpected {
	/** Per CPU class (CPU_CLASSES in source/core/recipes/recipe-schema.ts); "default" where none fits. */
	byCpu?: Partial<Record<CpuClass, ExpectedFigure>>;
}

export type ApplicabilityStatus = 'applicable' | 'not-applicable' | 'needs';

export interface Applicability {
	recipe: Recipe;
	status: ApplicabilityStatus;
	/** A sentence a person understands: "needs bf16 (Graviton3 or newer); this CPU is Neoverse-N1". */
	reason: string;
	/** For "needs": the exact command that would make it applicable. */
	install: string | null;
	/** The effective changes for this architecture, placeholders resolved. */
	changes: RecipeChanges;
	/** Applicable, but only when asked for: a speed-only ISA requirement is missing (see RecipeRequires.speedOnlyIsa). */
	optIn?: boolean;
}

export interface Advice {
	id: string;
	title: string;
	message: string;
	command: string | null;
}

// ---------------------------------------------------------------- the walk

/** A configuration as the walk knows it: probe options + environment. */
export interface Candidate {
	config: ProbeConfig;
	env: Record<string, string>;
	/** Recipe ids applied to reach it, in order. */
	recipes: string[];
}

export type StepOutcome = 'baseline' | 'kept' | 'dropped' | 'failed' | 'skipped';

export interface ProbeRecord {
	stepId: string;
	title: string;
	candidate: Candidate;
	result: ProbeResult | null;
	failure: ProbeFailure | null;
	startedAt: string;
	durationMs: number;
}

export interface Decision {
	stepId: string;
	recipeId: string | null;
	title: string;
	outcome: StepOutcome;
	/** Why it was kept, dropped, failed or skipped, in words. */
	reason: string;
	samplesPerSecond: number | null;
	/** Relative to the configuration it was compared with (1.12 = 12% faster). */
	ratio: number | null;
}

/** A ratio's 95% interval from pairs of fresh processes, each pair one ratio (winner / baseline). */
export interface RatioInterval {
	low: number;
	high: number;
	/** The pairs' own ratios, in the order measured. */
	ratios: number[];
}

/**
 * The final verification: baseline and winner in fresh processes, alternating. `speedup`
 * is the pairs' geometric mean ratio; `baseline`/`best` the middle run of each side (its
 * figures quoted beside the ratio); `interval` absent in reports written before it.
 */
export interface Verification {
	baseline: ProbeResult;
	best: ProbeResult;
	speedup: number;
	interval?: RatioInterval | null;
	/** The walk's own ratio outside the verified interval: said, with the cause where one is found. */
	note?: string;
}

export interface WalkResult {
	baseline: {candidate: Candidate; result: ProbeResult};
	/** The walk's winner, its figure and ratio from the walk; the figures to quote come from headlineFigures() (the verification when there is one). */
	best: {candidate: Candidate; result: ProbeResult; speedup: number};
	/** Baseline and winner measured back to back at the end (in alternating pairs of fresh processes: `interval`). */
	verification: Verification | null;
	probes: ProbeRecord[];
	decisions: Decision[];
	interrupted: boolean;
	elapsedSeconds: number;
	/** This machine's matmul rates and the model's operations per sample (source/core/machine/limits.ts), when both are known. */
	limits?: {rates: {at: string; threads: number; fp32?: number; bf16?: number; int8?: number; bandwidth?: number}; flopsPerSample: number | null} | null;
}

export type SessionEvent =
	| {type: 'session-start'; model: ModelSpec; budgetSeconds: number; usableCpus: number}
	| {type: 'step-start'; stepId: string; title: string; candidate: Candidate; budgetSeconds: number; index: number}
	| {type: 'probe'; stepId: string; event: ProbeEvent}
	| {type: 'step-end'; stepId: string; record: ProbeRecord; decision: Decision | null}
	| {type: 'decision'; decision: Decision}
	| {type: 'note'; level: 'info' | 'warning'; message: string}
	| {type: 'session-end'; result: WalkResult | null; error: string | null};
