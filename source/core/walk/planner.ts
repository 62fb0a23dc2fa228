// The tuning walk: baseline → batch size → cumulative keep-if-better steps → compile →
// workers → int8 → other backends, inside a time budget, then the winner verified back
// to back against the baseline. The planner decides; measuring is injected, so the
// decisions are unit-testable with scripted results and the session wires real probes.
//
// Recipes are data: the walk knows stages and what a recipe changes, never recipe ids.
import {plainModelOptions} from '../recipes/contract.js';
import {DEFAULT_COST_SECONDS, REFERENCE_MEASURE_SECONDS, expectationOf, hopefulLogGain, midGain, valuePerSecond} from '../recipes/expected.js';
import type {CpuClass, Expectation, Observed} from '../recipes/expected.js';
import {checkFailure, compareThroughput, latencyFailure, noiseFromRepeat, poolIntervals, scoreFailure} from './stats.js';
import type {CheckThresholds, CompareOptions} from './stats.js';
import type {
	Applicability,
	Candidate,
	Decision,
	Interval,
	ModelSpec,
	ProbeConfig,
	ProbeRecord,
	ProbeResult,
	RecipeChanges,
	RecipeStage,
	SessionEvent,
	WalkResult,
} from '../types.js';

export interface WalkOptions {
	model: ModelSpec;
	budgetSeconds: number;
	/** Usable CPU ids (online ∩ cpuset); quota-floored count in usableCpus. */
	usableCpuList: number[];
	usableCpus: number;
	/** Applicable recipes only, in catalogue order. */
	steps: Applicability[];
	maxLatencyMs: number | null;
	/** A generating model: the largest p99 time to the first token (--max-ttft-ms). */
	maxTtftMs?: number | null;
	thresholds: CheckThresholds;
	compare: CompareOptions;
	signal?: AbortSignal;
	/** Clock in milliseconds (injectable for tests). */
	now?: () => number;
	/** An .onnx file whose batch axis is fixed: the batch it runs at (baseline and every step). */
	fixedBatch?: number | null;
	/**
	 * 'value' (default): a quick batch pick, then the steps by expected gain per second of
	 * budget (recipes' `expected` figures for cpuClass, refined by `observed`), environment
	 * knobs last, planned to fit the budget. 'stages': the catalogue's stage order, every
	 * step in turn until the budget is spent.
	 */
	ordering?: 'value' | 'stages';
	/** The CPU class the recipes' expected figures are read for (default: 'default'). */
	cpuClass?: CpuClass;
	/** What this machine measured per recipe id for this model before (the history). */
	observed?: Record<string, Observed>;
	/**
	 * Close calls measured alternately in two warm processes (the session's paired
	 * comparison); absent: re-measured in fresh processes, pooled.
	 */
	paired?: PairedMeasure;
	/**
	 * The measure gives its probes a folder shared by the walk where conversions are kept
	 * (the session's cache): a configuration on a cachedRuntimes runtime probed again reads
	 * its conversion back, so the final verification of such a winner is planned as cheap.
	 */
	conversionCache?: boolean;
}

/** A paired comparison's outcome: the ratio candidate / incumbent and its 95% interval, pair by pair. */
export interface PairedOutcome {
	ratio: number;
	low: number;
	high: number;
	pairs: number;
	/** The candidate's and the incumbent's pooled figures, for the trail. */
	candidate: ProbeResult;
	incumbent: ProbeResult;
}

/** Two warm processes measured in alternating windows within `seconds`; null when it could not run. */
export type PairedMeasure = (stepId: string, title: string, incumbent: Candidate, candidate: Candidate, seconds: number) => Promise<PairedOutcome | null>;

/** A step of the plan: its recipe and what it is expected to bring and cost here. */
export interface PlannedStep {
	step: Applicability;
	expectation: Expectation;
	/** Seconds one probe is expected to cost on this model, start to end (what the walk will reserve for it). */
	costSeconds: number;
	/** Of that, what the probe costs beyond its measurement (start, load, compile or conversion, warm-up). */
	overheadSeconds: number;
	/** What probing its configuration once more would cost beyond measuring (the final verification): less where its conversion is kept in the walk's cache. */
	reprobeSeconds: number;
	/** Expected log gain (hopeful: the middle of the range, leaning to the top). */
	logGain: number;
	/** Expected log gain per second. */
	value: number;
	/** Only environment variables: a polish, measured last. */
	envOnly: boolean;
}

/** What a step's probe costs here: its whole time, its overhead, and its overhead when probed again, in seconds. */
export type StepCost = (step: Applicability, expectation: Expectation) => {costSeconds: number; overheadSeconds: number; reprobeSeconds: number};

/** Environment-only steps (allocators, THP, caches, OpenMP placement) change no model option. */
export function isEnvOnly(changes: RecipeChanges): boolean {
	return !changes.probe && !changes.workers && !changes.batchSizes && Object.keys(changes.env ?? {}).length > 0;
}

/**
 * The walk's order by value: structural steps (another runtime, compile, int8, precision,
 * layout, workers) by expected log gain per second, then environment knobs by the same.
 * Ties keep the catalogue order. `cost`: what a step's probe costs on this model; by
 * default the recipe's figure (ResNet-50, 2 vCPUs) times `scale`.
 */
export function orderByValue(steps: Applicability[], cls: CpuClass, observed: Record<string, Observed> = {}, cost: number | StepCost = 1): PlannedStep[] {
	const costOf: StepCost = typeof cost === 'number'
		? (_s, e) => {
			const overheadSeconds = Math.max(1, e.costSeconds - REFERENCE_MEASURE_SECONDS) * cost;
			return {costSeconds: e.costSeconds * cost, overheadSeconds, reprobeSeconds: overheadSeconds};
		}
		: cost;
	const planned = steps.filter(s => s.recipe.stage !== 'batch').map((step, index) => {
		const expectation = expectationOf(step.recipe, cls, observed[step.recipe.id]);
		const {costSeconds, overheadSeconds, reprobeSeconds} = costOf(step, expectation);
		const logGain = hopefulLogGain(expectation);
		return {planned: {step, expectation, costSeconds, overheadSeconds, reprobeSeconds, logGain, value: valuePerSecond(expectation, costSeconds), envOnly: isEnvOnly(step.changes)}, index};
	});
	planned.sort((a, b) => Number(a.planned.envOnly) - Number(b.planned.envOnly) || b.planned.value - a.planned.value || a.index - b.index);
	// A recipe that must follow others of its stage (jemalloc after tcmalloc) still does.
	return followingAfter(planned.map(p => p.planned));
}

/** What the plan is made on: the configuration steps apply to, and the CPUs a worker sweep splits. */
export interface PlanContext {
	base: Candidate;
	usableCpus: number;
}

/** The steps planned for the budget (in walk order), those left for later, and the expected log gain planned. */
export interface Plan {
	plan: PlannedStep[];
	later: PlannedStep[];
	gain: number;
}

/** More structural steps than this are not weighed in every combination: the rest by value go later. */
const maxWeighedSteps = 16;

/**
 * Which of the ordered steps to plan in `seconds`: the combination with the most expected
 * gain that fits, not the best-value steps first (a dear step worth 5× beats three cheap
 * ones worth 3% each). Gains add only where the walk can keep them together: a step whose
 * changes another chosen step already holds adds nothing (OpenVINO fp32 beside OpenVINO
 * int8, PT2E int8 or compile once on OpenVINO), a step alone brings what the steps it must
 * follow would have brought too when its changes hold theirs, and the walk ends on one
 * runtime, so only the steps that act on the same one add up. Environment knobs (gains of
 * a few %) are then packed into what is left. `reserve`: what verifying a step's
 * configuration at the end would cost if it wins (its probe once more); the plan keeps
 * room for the dearest step it takes, never less than `floor` (the current best's).
 * Returned in walk order: the structural steps by expected gain, largest first (a budget
 * that runs short then loses the least), each after the steps it must follow;
 * environment knobs last. What does not fit is left for whatever time remains at the end.
 */
export function planForBudget(ordered: PlannedStep[], seconds: number, reserve: (p: PlannedStep) => number = () => 0, floor = 0, context: PlanContext = {base: baselineCandidate({name: 'plan'}, 2, [0, 1]), usableCpus: 2}): Plan {
	const reserveOf = (p: PlannedStep) => Math.max(floor, reserve(p));
	const structural = ordered.filter(p => !p.envOnly).slice(0, maxWeighedSteps);
	const weighed = weighSteps(structural, context);
	const costs = structural.map(p => Math.max(1, Math.ceil(p.costSeconds)));
	let best = {mask: -1, gain: -1, spent: Infinity, dearest: floor};
	for (let mask = 0; mask < 1 << structural.length; mask++) {
		let spent = 0;
		let dearest = floor;
		for (let i = 0; i < structural.length; i++) {
			if (!(mask & (1 << i))) continue;
			spent += costs[i]!;
			dearest = Math.max(dearest, reserveOf(structural[i]!));
		}
		if (spent + dearest > seconds) continue;
		const gain = weighed.gainOf(mask);
		if (gain > best.gain + 1e-9 || (gain > best.gain - 1e-9 && spent + dearest < best.spent + best.dearest)) best = {mask, gain, spent, dearest};
	}
	const chosen = new Set(structural.filter((_p, i) => best.mask & (1 << i)));
	const knobs = ordered.filter(p => p.envOnly && reserveOf(p) <= best.dearest);
	const polish = best.mask < 0 ? [] : knapsack(knobs, seconds - best.spent - best.dearest);
	for (const p of polish) chosen.add(p);
	const planned = ordered.filter(p => chosen.has(p));
	const byGain = planned.filter(p => !p.envOnly).sort((a, b) => weighed.ownGain(b) - weighed.ownGain(a));
	return {
		plan: [...followingAfter(byGain), ...planned.filter(p => p.envOnly)],
		later: ordered.filter(p => !chosen.has(p)),
		gain: Math.max(0, best.gain) + polish.reduce((sum, p) => sum + p.logGain, 0),
	};
}

/**
 * How structural steps combine, derived from what each changes (never from recipe ids):
 * which step's configuration already holds another's, which runtime each acts on, and
 * what a step brings alone. `gainOf(mask)`: the expected log gain the walk can end with
 * when it measures the steps in the mask.
 */
function weighSteps(steps: PlannedStep[], {base, usableCpus}: PlanContext): {gainOf: (mask: number) => number; ownGain: (p: PlannedStep) => number} {
	const made = steps.map(p => stepCandidate(base, p.step, usableCpus));
	const holds = made.map(c => steps.map(q => candidateKey(stepCandidate(c, q.step, usableCpus)) === candidateKey(c)));
	// A step's figure is measured on top of the steps it must follow: alone, it brings theirs too.
	const own = steps.map((p, i) => p.logGain + steps.reduce((sum, q, j) => sum + (j !== i && holds[i]![j] && (p.step.recipe.after ?? []).includes(q.step.recipe.id) ? q.logGain : 0), 0));
	// The runtimes a walk can end on, and which steps act on each (a step that names none acts on whichever is current, where it changes something).
	const runtimes = [...new Set([base.config.backend, ...made.map(c => c.config.backend)])];
	const actsOn = runtimes.map(runtime => {
		const start = runtime === base.config.backend ? base : applyChanges(base, {probe: {backend: runtime}}, '');
		return steps.map((p, i) => {
			if (p.step.changes.probe?.backend !== undefined) return made[i]!.config.backend === runtime && candidateKey(made[i]!) !== candidateKey(base);
			const next = stepCandidate(start, p.step, usableCpus);
			return next.config.backend === runtime && candidateKey(next) !== candidateKey(start);
		});
	});
	const gainOf = (mask: number) => {
		// The chosen steps that bring something of their own: none of the others holds their changes.
		const counted = steps.map((_p, i) => Boolean(mask & (1 << i)) && !steps.some((_q, j) => j !== i && (mask & (1 << j)) && holds[j]![i] && !(holds[i]![j] && i < j)));
		let gain = 0;
		for (const acts of actsOn) {
			let sum = 0;
			for (let i = 0; i < steps.length; i++) if (counted[i] && acts[i]) sum += own[i]!;
			gain = Math.max(gain, sum);
		}
		return gain;
	};
	return {gainOf, ownGain: p => own[steps.indexOf(p)] ?? p.logGain};
}

/** The steps in their order, except that a step comes after those it must follow ("after") that are among them. */
function followingAfter(steps: PlannedStep[]): PlannedStep[] {
	const ordered: PlannedStep[] = [];
	const pending = [...steps];
	while (pending.length) {
		const i = pending.findIndex(p => (p.step.recipe.after ?? []).every(id => !pending.some(q => q.step.recipe.id === id)));
		ordered.push(...pending.splice(i < 0 ? 0 : i, 1));
	}
	return ordered;
}

/** The configuration a step makes on top of `best` (a worker sweep: its first worker count). */
function stepCandidate(best: Candidate, step: Applicability, usableCpus: number): Candidate {
	const next = applyChanges(best, step.changes, step.recipe.id);
	if (step.changes.workers === 'sweep') {
		const workers = workerCounts(usableCpus)[0] ?? 1;
		next.config = {...next.config, workers, threadsPerWorker: Math.max(1, Math.floor(usableCpus / workers))};
	}
	return next;
}

/** The steps with the largest summed log gain whose costs fit `seconds` (whole seconds, dynamic programming). */
function knapsack(items: PlannedStep[], seconds: number): PlannedStep[] {
	const capacity = Math.floor(seconds);
	if (capacity <= 0) return [];
	const costs = items.map(p => Math.max(1, Math.ceil(p.costSeconds)));
	if (costs.reduce((a, b) => a + b, 0) <= capacity) return items;
	const gain = new Float64Array(capacity + 1);
	const took: Uint8Array[] = [];
	items.forEach((p, i) => {
		const row = new Uint8Array(capacity + 1);
		for (let w = capacity; w >= costs[i]!; w--) {
			const withIt = gain[w - costs[i]!]! + p.logGain;
			if (withIt > gain[w]! + 1e-12) {
				gain[w] = withIt;
				row[w] = 1;
			}
		}
		took.push(row);
	});
	const chosen: PlannedStep[] = [];
	let w = capacity;
	for (let i = items.length - 1; i >= 0; i--) {
		if (took[i]![w]) {
			chosen.push(items[i]!);
			w -= costs[i]!;
		}
	}
	return chosen;
}

/** An .onnx file: measured on ONNX Runtime (and OpenVINO), never PyTorch. */
export function isOnnxModel(model: ModelSpec): boolean {
	return Boolean(model.path && /\.onnx$/i.test(model.path));
}

/**
 * Measures one candidate in a fresh process; never throws for probe failures.
 * `deadlineSeconds`: wall time the probe may take, start to end, before it is stopped
 * because the walk's budget has no more room (null: no such limit); a probe stopped so
 * fails with code 'budget'. `fresh`: a figure remembered from an earlier run will not do
 * (repeats, re-checks, verification exist to measure again).
 */
export type Measure = (stepId: string, title: string, candidate: Candidate, deadlineSeconds: number | null, fresh: boolean) => Promise<ProbeRecord>;

/** Stages in walk order. Batch first, lossless/lossy cumulative steps, then the heavy ones. */
const stageOrder: RecipeStage[] = ['batch', 'memory', 'precision', 'runtime', 'compile', 'workers', 'quantize', 'backend'];

/** Stages after which batch size is swept again when they changed the configuration. */
const revisitBatchAfter: RecipeStage[] = ['compile', 'quantize'];

const minProbeSeconds = 2;
const maxProbeSeconds = 15;
/** Probe start, model load, reference and warm-up, before anything is learnt (seconds). */
const initialOverheadGuess = 12;

/** The largest slowdown of the whole machine worth suspecting before blaming a step. */
const maxDrift = 0.4;

/**
 * What a probe costs beyond its measurement depends mostly on how the model is made
 * ready: eager torch starts in seconds, torch.compile, PT2E int8 and a conversion to
 * another runtime take many times that. Costs are learnt per kind; a kind not seen yet
 * is guessed from the eager cost times these factors (seen on a 2-core x86: eager ~3 s,
 * compile ~12-25 s, int8 ~15-30 s, ONNX Runtime / OpenVINO ~10-20 s).
 */
const overheadFactors = {compile: 4, int8: 5, otherRuntime: 4, workers: 1.5};

/**
 * Runtimes whose conversion a probe keeps in the walk's cache (the session's folder,
 * PROBE_CACHE_ENV): a configuration probed again (the final verification, a re-check, a
 * paired comparison) reads it back. Until the first probe says how much it kept, probing
 * it again is guessed at the eager start-up times warmFactor (measured here: BERT-base
 * OpenVINO int8 50 s cold, the model read back in 0.01 s of its 28 s export + quantize).
 */
const cachedRuntimes = new Set(['openvino']);
const warmFactor = 1.5;

function costKind(config: ProbeConfig): string {
	return [config.backend, config.compile ? 'compile' : '', config.quantization ?? '', config.workers > 1 ? 'workers' : ''].filter(Boolean).join('+');
}

/**
 * fp32 eager PyTorch at batch 1; for an .onnx file, ONNX Runtime's default CPU session
 * (fp32, its own thread count) at batch 1, or at the file's batch when its axis is fixed.
 */
export function baselineCandidate(model: ModelSpec, usableCpus: number, cpuList: number[], fixedBatch: number | null = null): Candidate {
	const onnx = isOnnxModel(model);
	const config: ProbeConfig = {
		model,
		batchSize: fixedBatch ?? 1,
		channelsLast: false,
		autocast: null,
		fp32Precision: null,
		compile: false,
		quantization: null,
		backend: onnx ? 'onnxruntime' : 'torch',
		workers: 1,
		threadsPerWorker: Math.max(1, usableCpus),
		cpuList,
		budgetSeconds: 5,
		...(onnx ? {sessionOptions: {}} : {}),
	};
	return {config, env: {}, recipes: []};
}

/** How the baseline is named in the log and the decision trail. */
export function baselineWords(candidate: Candidate): string {
	const c = candidate.config;
	if (c.backend === 'onnxruntime') return `ONNX Runtime's default CPU session, fp32, batch ${c.batchSize}`;
	return `fp32, eager, batch ${c.batchSize}`;
}

/** Apply a recipe's changes on top of a candidate (pure). */
export function applyChanges(base: Candidate, changes: RecipeChanges, recipeId: string, changesOf?: (id: string) => RecipeChanges | undefined): Candidate {
	const switching = changes.probe?.backend !== undefined && changes.probe.backend !== base.config.backend;
	// Another runtime starts from plain fp32: torch-side knobs (compile, autocast, PT2E
	// int8) mean nothing there, and the recipe says what it wants on top.
	const start = switching ? {...base.config, ...plainModelOptions} : base.config;
	const config: ProbeConfig = {...start, ...(changes.probe ?? {})};
	// Session options add up step by step, and mean something on ONNX Runtime only.
	if (base.config.sessionOptions && changes.probe?.sessionOptions) config.sessionOptions = {...base.config.sessionOptions, ...changes.probe.sessionOptions};
	if (config.backend !== 'onnxruntime') delete config.sessionOptions;
	if (config.backend !== 'torch') {
		config.channelsLast = false;
		config.compile = false;
		// Another runtime takes a bf16 request one way, whichever option asks (probes/
		// graviton_tune_runtime_src: OpenVINO's inference precision, ONNX Runtime's bf16 fast
		// math): autocast there is fp32Precision "bf16", so the two steps make one configuration.
		if (config.autocast === 'bf16') {
			config.autocast = null;
			config.fp32Precision = 'bf16';
		}
	}
	// After a switch of runtime, recipes that only set torch-side options no longer apply.
	const kept = switching && changesOf ? base.recipes.filter(id => !changesOf(id)?.probe) : base.recipes;
	const recipes = kept.includes(recipeId) ? kept : [...kept, recipeId];
	return {config, env: {...base.env, ...(changes.env ?? {})}, recipes};
}

/** A stable key for "the same configuration" (history, resume, de-duplication). */
export function candidateKey(c: Candidate): string {
	const {budgetSeconds: _b, cpuList: _c, ...rest} = c.config;
	const env = Object.keys(c.env).sort().map(k => `${k}=${c.env[k]}`);
	return JSON.stringify({...rest, env});
}

/** The batch sizes the batch step sweeps, smallest first (the batch-size recipe's list). */
export function batchSizesOf(step: Applicability): number[] {
	return [...(step.changes.batchSizes ?? [1, 2, 4, 8, 16, 32])].sort((a, b) => a - b);
}

/** The candidate at another batch size, the batch step's change. */
function atBatch(candidate: Candidate, batchStep: Applicability, size: number): Candidate {
	const next = applyChanges(candidate, {}, batchStep.recipe.id);
	return {...next, config: {...next.config, batchSize: size}};
}

export function workerCounts(usableCpus: number): number[] {
	return [2, 4, 8, 16].filter(n => n <= usableCpus && usableCpus % n === 0);
}

interface Best {
	candidate: Candidate;
	result: ProbeResult;
	/** How many probes had run when this figure was measured (how stale it is). */
	measuredAt: number;
}

export class Walk {
	private readonly probes: ProbeRecord[] = [];
	private readonly decisions: Decision[] = [];
	private readonly started: number;
	private readonly now: () => number;
	/** fp32 eager batch 1: the first probe, and one half of the final verification. */
	private readonly base: Candidate;
	/** Learnt seconds a probe costs beyond its measurement, per costKind (the first probe of each configuration). */
	private readonly overheads = new Map<string, number>();
	/** Learnt seconds probing a configuration once more costs beyond its measurement, per candidateKey. */
	private readonly again = new Map<string, number>();
	/**
	 * Configurations a step measured and did not keep (dropped or failed), per candidateKey,
	 * with that step's title: another step that makes the same one is not measured again
	 * (a second draw of the same configuration would only give the noise a second chance).
	 */
	private readonly notKept = new Map<string, string>();
	/**
	 * What the plan expects a probe of a kind not measured yet to cost beyond its
	 * measurement (from the recipes' figures): the walk reserves the same when it gets there.
	 */
	private readonly expectedOverheads = new Map<string, number>();
	/** The most seconds a step's probe measures for (the walk by value plans it for the budget). */
	private measureCap = maxProbeSeconds;
	/**
	 * The rest of the plan, and seconds kept for a batch refinement still to come: a close
	 * call re-measured leaves the planned steps expected to bring more than it is worth
	 * their time (committed()), and takes the time of those expected to bring less.
	 */
	private pending: {steps: PlannedStep[]; seconds: number} = {steps: [], seconds: 0};
	/**
	 * False during the quick batch pick: a close call there is dropped, not settled by a
	 * paired comparison or a re-measurement. Batch size is tried again on the tuned
	 * configuration, and a 3-minute walk whose quick pick went to two paired comparisons
	 * (each longer than planned: two processes start, windows run to 1.5× when a call is
	 * slow) had no room left for OpenVINO int8.
	 */
	private settleCloseCalls = true;
	private stepCounter = 0;
	private readonly changesOf = (id: string) => this.opts.steps.find(s => s.recipe.id === id)?.changes;
	/** Relative process-to-process variation, learnt from the repeated baseline. */
	private noise = 0.01;

	constructor(
		private readonly opts: WalkOptions,
		private readonly measure: Measure,
		private readonly emit: (e: SessionEvent) => void,
	) {
		this.now = opts.now ?? Date.now;
		this.started = this.now();
		this.base = baselineCandidate(opts.model, opts.usableCpus, opts.usableCpuList, opts.fixedBatch ?? null);
	}

	/** The model's evaluate() score on the fp32 eager baseline, when the model has one. */
	private referenceScore: number | null = null;

	/** Null when the output check and the evaluate() score hold, else why not. */
	private accuracyFailure(result: ProbeResult): string | null {
		const t = this.opts.thresholds;
		return checkFailure(result.check, t) ?? scoreFailure(result.score, this.referenceScore, t.maxAccuracyDrop);
	}

	async run(): Promise<WalkResult | null> {
		const {opts, base} = this;
		const words = baselineWords(base);
		const baseRecord = await this.probe('baseline', `Baseline: ${words}`, base, this.baselineBudget(), false, null);
		if (!baseRecord.result) {
			this.decide({stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'failed', reason: failureText(baseRecord), samplesPerSecond: null, ratio: null});
			return null;
		}
		this.decide({stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: `${words}: the reference every step is compared with${opts.fixedBatch ? ' (the file fixes its batch axis, so batch size is not swept)' : ''}`, samplesPerSecond: baseRecord.result.samplesPerSecond.median, ratio: 1});
		const latencyIssue = latencyFailure(baseRecord.result, opts);
		if (latencyIssue) this.emit({type: 'note', level: 'warning', message: `The baseline already misses the latency target: ${latencyIssue}`});

		// One probe's CI cannot see how much a fresh process varies (memory layout, clocks,
		// neighbours): measure the baseline once more and use the spread as a floor.
		const again = this.aborted() ? null : await this.probe('baseline-repeat', 'Baseline again: how much a fresh process varies here', base, this.baselineBudget(), true, null);
		if (again?.result) {
			this.noise = noiseFromRepeat(baseRecord.result.samplesPerSecond, again.result.samplesPerSecond);
			this.emit({type: 'note', level: 'info', message: `A fresh process varies by about ±${(this.noise * 100).toFixed(1)}% here: gains within that are re-measured before they count.`});
		}

		this.referenceScore = baseRecord.result.score ?? null;
		if (this.referenceScore !== null) this.emit({type: 'note', level: 'info', message: `evaluate() on the fp32 baseline: ${this.referenceScore.toPrecision(4)}; lossy steps must stay within ${(opts.thresholds.maxAccuracyDrop * 100).toFixed(1)}% of it.`});
		const baseline: Best = {candidate: base, result: baseRecord.result, measuredAt: this.probes.length};
		let best: Best = baseline;
		const batchStep = opts.steps.find(s => s.recipe.stage === 'batch');
		if ((opts.ordering ?? 'value') === 'value') best = await this.byValue(best, batchStep);
		else for (const stage of stageOrder) {
			const before = best;
			for (const step of opts.steps.filter(s => s.recipe.stage === stage)) {
				if (this.aborted()) break;
				best = stage === 'batch' ? await this.batchSweep(best, step) : await this.runStep(best, step);
			}
			// Compiled and quantized models often want larger batches than eager fp32 did:
			// when such a stage changed the configuration, sweep batch sizes again on it.
			if (batchStep && revisitBatchAfter.includes(stage) && best !== before && !this.aborted()) {
				best = await this.batchSweep(best, batchStep, ' (again, on the tuned configuration)');
			}
		}

		const verification = await this.verify(baseline, best);
		const speedup = verification?.speedup ?? best.result.samplesPerSecond.median / baseline.result.samplesPerSecond.median;
		return {
			baseline,
			best: {...best, speedup},
			verification,
			probes: this.probes,
			decisions: this.decisions,
			interrupted: this.aborted(),
			elapsedSeconds: (this.now() - this.started) / 1000,
		};
	}

	// ------------------------------------------------------------ steps

	/** One non-batch step on top of the current best. */
	private async runStep(best: Best, step: Applicability): Promise<Best> {
		return step.changes.workers === 'sweep'
			? await this.workerSweep(best, step)
			: (await this.tryStep(best, step, applyChanges(best.candidate, step.changes, step.recipe.id, this.changesOf), step.recipe.title)).best;
	}

	/**
	 * A step whose recipe names a batch that suits it (where a new batch size costs a new
	 * conversion or calibration: OpenVINO int8), measured at that batch rather than at the
	 * current one and then again. Not with --max-latency-ms (a larger batch may not fit it),
	 * nor where the current batch is already as large.
	 */
	private async runAtSuitedBatch(best: Best, step: Applicability, batchStep: Applicability): Promise<Best> {
		const size = step.recipe.batch?.size;
		if (size === undefined || step.changes.workers || this.opts.maxLatencyMs !== null || (this.opts.maxTtftMs ?? null) !== null || size <= best.candidate.config.batchSize || !batchSizesOf(batchStep).includes(size)) return this.runStep(best, step);
		const next = applyChanges(atBatch(best.candidate, batchStep, size), step.changes, step.recipe.id, this.changesOf);
		return (await this.tryStep(best, step, next, `${step.recipe.title}, at batch ${size} (a batch that suits it)`)).best;
	}

	/**
	 * The walk by value: a quick batch pick (one or two sizes, not the ladder), the steps
	 * expected to bring most per second of budget, a batch refinement on what they made,
	 * environment knobs last. The plan is made for the budget: what does not fit is named
	 * and tried only if time is left at the end.
	 */
	private async byValue(best: Best, batchStep: Applicability | undefined): Promise<Best> {
		const {opts} = this;
		const cls = opts.cpuClass ?? 'default';
		const observed = opts.observed ?? {};
		const sweepBatch = batchStep && !opts.fixedBatch;
		// Measuring time is planned too: a short budget measures each step briefly rather
		// than measuring a few steps long (paired comparisons settle the close calls).
		this.measureCap = Math.min(maxProbeSeconds, Math.max(minProbeSeconds, this.remainingSeconds() / 40));
		const eagerProbes = (n: number) => n * (this.overheadOf(best.candidate) + this.measureCap);
		const refineCost = sweepBatch ? eagerProbes(2) : 0;
		const planFor = (from: Best, spare = 0) => planForBudget(
			orderByValue(opts.steps, cls, observed, this.stepCost(from.candidate)),
			this.remainingSeconds() - this.baselineVerifyCost() - refineCost - spare,
			p => p.reprobeSeconds, this.overheadOf(from.candidate), {base: from.candidate, usableCpus: opts.usableCpus});
		let picked = false;
		if (sweepBatch && !this.aborted()) {
			// The quick pick costs up to two eager probes: worth them only where they push out
			// less expected gain than a batch size brings (a short budget on a model whose
			// probes are dear goes to the large steps first, and batch comes on what they made).
			const batchGain = hopefulLogGain(expectationOf(batchStep.recipe, cls, observed[batchStep.recipe.id]));
			const without = planFor(best).gain;
			const after = planFor(best, eagerProbes(2));
			if (after.gain + batchGain >= without - 1e-9) {
				// The quick pick was weighed at two eager probes: a close call in it may not take
				// the time of the steps planned after it (a 3-minute walk whose quick pick went to
				// two paired comparisons no longer had room for OpenVINO int8).
				this.pending = {steps: after.plan, seconds: refineCost};
				this.settleCloseCalls = false;
				try {
					best = await this.quickBatch(best, batchStep);
				} finally {
					this.settleCloseCalls = true;
					this.pending = {steps: [], seconds: 0};
				}
				picked = true;
			} else {
				this.emit({type: 'note', level: 'info', message: `No quick batch pick on eager fp32: its two probes (~${Math.round(eagerProbes(2))} s) would push out steps expected to bring more; batch size is tried on the tuned configuration instead.`});
			}
		}
		const {plan, later} = planFor(best);
		const name = (p: PlannedStep) => `${p.step.recipe.title} (${describeGain(p.expectation)}, ~${Math.round(p.costSeconds)} s)`;
		this.emit({type: 'note', level: 'info', message: `Plan for the ${Math.round(opts.budgetSeconds)} s budget, the most expected gain that fits (${Math.round(this.measureCap)} s of measuring a step): ${plan.map(name).join('; ') || 'nothing more fits'}.${later.length ? ` If time is left: ${later.map(p => p.step.recipe.title).join(', ')}.` : ''}`});
		const structural = plan.filter(p => !p.envOnly);
		const polish = plan.filter(p => p.envOnly);
		let refined = false;
		for (let i = 0; i < structural.length && !this.aborted(); i++) {
			this.pending = {steps: [...structural.slice(i + 1), ...polish], seconds: refined ? 0 : refineCost};
			const before = best;
			best = sweepBatch && !refined ? await this.runAtSuitedBatch(best, structural[i]!.step, batchStep) : await this.runStep(best, structural[i]!.step);
			// Compiled, quantized or converted models often want other batches than eager fp32
			// did: the first step kept (the largest expected gain comes first) has its batch
			// size tried at once, before smaller steps spend the time (a converted model at a
			// new batch is converted again: on a short budget the smaller steps lose).
			if (sweepBatch && !refined && best !== before && !this.aborted()) {
				this.pending = {steps: [...structural.slice(i + 1), ...polish], seconds: 0};
				best = await this.refineBatch(best, batchStep);
				refined = true;
			}
		}
		// Where no step was kept and the quick pick was left out, batch size is tried here.
		this.pending = {steps: polish, seconds: 0};
		if (sweepBatch && !refined && !picked && !this.aborted()) best = await this.refineBatch(best, batchStep);
		for (const [i, p] of polish.entries()) {
			if (this.aborted()) break;
			this.pending = {steps: polish.slice(i + 1), seconds: 0};
			best = await this.runStep(best, p.step);
		}
		this.pending = {steps: [], seconds: 0};
		for (const p of later) {
			if (this.aborted()) break;
			best = await this.runStep(best, p.step);
		}
		return best;
	}

	/**
	 * What a step's probe is expected to cost on top of `best`: measured for its kind
	 * (eager, compiled, int8, another runtime, workers), or the recipe's figure beyond its
	 * measuring, scaled by what this model's eager probes cost against ResNet-50's; plus
	 * the measuring time planned. The walk reserves the same figure when it gets there.
	 */
	private stepCost(best: Candidate): StepCost {
		const reference = DEFAULT_COST_SECONDS - REFERENCE_MEASURE_SECONDS;
		const eager = this.overheadOf(this.base);
		const scale = Math.min(4, Math.max(0.1, eager / reference));
		return (step, expectation) => {
			const next = stepCandidate(best, step, this.opts.usableCpus);
			const kind = costKind(next.config);
			if (!this.overheads.has(kind)) {
				const guess = Math.max(eager, (expectation.costSeconds - REFERENCE_MEASURE_SECONDS) * scale);
				this.expectedOverheads.set(kind, Math.max(guess, this.expectedOverheads.get(kind) ?? 0));
			}
			const overheadSeconds = this.overheadOf(next);
			return {costSeconds: overheadSeconds + this.measureCap, overheadSeconds, reprobeSeconds: this.againOf(next)};
		};
	}

	/**
	 * One coarse batch size (8, or the middle of the recipe's sizes; for a generating model the
	 * largest); a smaller one if that was not faster. A decode step reads every weight once
	 * whatever the number of sequences, so tokens/s climbs with them far past where a forward
	 * pass's knee lies (eager Llama 512x8 here: batch 8 4.2×, and the long walk's winner ran 32).
	 */
	private async quickBatch(best: Best, step: Applicability): Promise<Best> {
		const sizes = batchSizesOf(step).filter(b => b > best.candidate.config.batchSize);
		if (!sizes.length) return best;
		const middle = sizes.includes(8) ? 8 : sizes[Math.floor(sizes.length / 2)]!;
		const coarse = this.opts.model.task === 'generate' ? sizes.at(-1)! : middle;
		const outcome = await this.tryBatch(best, step, coarse, ' (quick pick)');
		if (outcome.kept || this.aborted()) return outcome.best;
		const smaller = sizes.filter(b => b < coarse);
		const fallback = coarse === middle ? smaller[Math.floor((smaller.length - 1) / 2)] : middle;
		return fallback !== undefined ? (await this.tryBatch(outcome.best, step, fallback, ' (quick pick)')).best : outcome.best;
	}

	/**
	 * Batch size again, on the tuned configuration: below 8, 8 first (compiled, int8 and
	 * converted models often want far larger batches than eager fp32 did), then double
	 * while it pays; when the first try does not pay, one size on the other side.
	 */
	private async refineBatch(best: Best, step: Applicability): Promise<Best> {
		const sizes = batchSizesOf(step);
		const start = best.candidate.config.batchSize;
		const suffix = ' (again, on the tuned configuration)';
		const up = sizes.filter(b => b > start);
		// Already at the largest size (a generating model's quick pick): no jump to try, and a
		// smaller batch is not what a tuned configuration asks for.
		if (!up.length) return best;
		let next: number | undefined = start < 8 && up.includes(8) ? 8 : up[0];
		let grew = false;
		while (next !== undefined && !this.aborted()) {
			const outcome = await this.tryBatch(best, step, next, suffix);
			best = outcome.best;
			if (!outcome.kept) break;
			grew = true;
			next = sizes.find(b => b > best.candidate.config.batchSize);
		}
		if (grew || this.aborted()) return best;
		// The jump did not pay: a size between, or below where it started.
		const between = sizes.filter(b => b > start && b < (next ?? Infinity));
		const other = between.length ? between[Math.floor(between.length / 2)] : sizes.filter(b => b < start).at(-1);
		if (other !== undefined) best = (await this.tryBatch(best, step, other, suffix)).best;
		return best;
	}

	private async tryBatch(best: Best, step: Applicability, size: number, suffix: string): Promise<{best: Best; kept: boolean}> {
		return this.tryStep(best, step, atBatch(best.candidate, step, size), `Batch size ${size}${suffix}`);
	}

	/** Larger batches while throughput keeps really improving (and latency fits). */
	private async batchSweep(best: Best, step: Applicability, suffix = ''): Promise<Best> {
		const sizes = batchSizesOf(step).filter(b => b > best.candidate.config.batchSize);
		let misses = 0;
		for (const size of sizes) {
			if (this.aborted()) break;
			const outcome = await this.tryBatch(best, step, size, suffix);
			best = outcome.best;
			misses = outcome.kept ? 0 : misses + 1;
			// One miss may be noise or a size the kernels dislike; two in a row end the sweep.
			if (misses >= 2) break;
		}
		return best;
	}

	/** Several pinned workers under torchrun, N × (usable / N) threads. */
	private async workerSweep(best: Best, step: Applicability): Promise<Best> {
		for (const n of workerCounts(this.opts.usableCpus)) {
			if (this.aborted()) break;
			const next = applyChanges(best.candidate, step.changes, step.recipe.id);
			next.config = {...next.config, workers: n, threadsPerWorker: Math.max(1, Math.floor(this.opts.usableCpus / n))};
			const outcome = await this.tryStep(best, step, next, `${n} workers × ${next.config.threadsPerWorker} threads`);
			best = outcome.best;
			if (!outcome.kept) break;
		}
		return best;
	}

	/** Measure a candidate against the current best; keep it only when the gain is real. */
	private async tryStep(best: Best, step: Applicability, next: Candidate, title: string): Promise<{best: Best; kept: boolean}> {
		const key = candidateKey(next);
		const earlier = this.notKept.get(key);
		if (earlier !== undefined && key !== candidateKey(best.candidate)) {
			this.decide({stepId: this.nextStepId(step.recipe.id), recipeId: step.recipe.id, title, outcome: 'skipped', reason: `the same configuration as "${earlier}", measured already and not kept`, samplesPerSecond: null, ratio: null});
			return {best, kept: false};
		}
		const {best: after, kept, decided} = await this.measureStep(best, step, next, title);
		if (decided === 'dropped' || decided === 'failed') this.notKept.set(key, title);
		return {best: after, kept};
	}

	/** One step measured and decided; says how it was decided (`decided`), so the caller need not read the decision list. */
	private async measureStep(best: Best, step: Applicability, next: Candidate, title: string): Promise<{best: Best; kept: boolean; decided: Decision['outcome']}> {
		let decided: Decision['outcome'] = 'skipped';
		const decide = (decision: Decision) => {
			decided = decision.outcome;
			this.decide(decision);
		};
		const kept = (b: Best) => ({best: b, kept: true, decided});
		const unchanged = (b: Best) => ({best: b, kept: false, decided});
		const stepId = this.nextStepId(step.recipe.id);
		const base = {stepId, recipeId: step.recipe.id, title};
		if (candidateKey(next) === candidateKey(best.candidate)) {
			decide({...base, outcome: 'skipped', reason: 'changes nothing on top of the current best', samplesPerSecond: null, ratio: null});
			return unchanged(best);
		}
		const budget = this.probeBudget({next: [next], best: best.candidate});
		if (budget === null) {
			decide({...base, outcome: 'skipped', reason: 'time budget spent (kept for the final verification)', samplesPerSecond: null, ratio: null});
			return unchanged(best);
		}
		let record = await this.probe(stepId, title, next, budget, false, this.deadline(best.candidate, [], next));
		const inherited = Object.keys(next.env).filter(k => !(k in (step.changes.env ?? {})));
		if (!record.result && inherited.length > 0 && record.failure?.kind === 'signal') {
			// Some runtimes crash under a setting an earlier step kept (OpenVINO with an
			// LD_PRELOADed allocator, say): measure the step once more without those.
			this.emit({type: 'note', level: 'warning', message: `${title} crashed with ${inherited.join(', ')} from earlier steps (${failureText(record)}); measuring it again without them`});
			const setsDroppedEnv = (id: string) => Object.keys(this.changesOf(id)?.env ?? {}).some(k => inherited.includes(k));
			next = {...next, env: {...(step.changes.env ?? {})}, recipes: next.recipes.filter(id => id === step.recipe.id || !setsDroppedEnv(id))};
			record = await this.probe(`${stepId}-bare`, `${title}, without ${inherited.join(', ')}`, next, budget, false, this.deadline(best.candidate));
		}
		if (!record.result) {
			const outOfTime = record.failure?.code === 'budget';
			decide({...base, outcome: outOfTime ? 'skipped' : 'failed', reason: failureText(record), samplesPerSecond: null, ratio: null});
			return unchanged(best);
		}
		const lossy = this.accuracyFailure(record.result);
		if (lossy) {
			decide({...base, outcome: 'dropped', reason: lossy, samplesPerSecond: record.result.samplesPerSecond.median, ratio: record.result.samplesPerSecond.median / best.result.samplesPerSecond.median});
			return unchanged(best);
		}
		const slow = latencyFailure(record.result, this.opts);
		if (slow) {
			decide({...base, outcome: 'dropped', reason: slow, samplesPerSecond: record.result.samplesPerSecond.median, ratio: record.result.samplesPerSecond.median / best.result.samplesPerSecond.median});
			return unchanged(best);
		}
		let current = best;
		let remeasured = false;
		let cmp = compareThroughput(current.result.samplesPerSecond, record.result.samplesPerSecond, {...this.opts.compare, noise: this.noise});
		const drop = 1 - cmp.ratio;
		if (cmp.verdict === 'not-faster' && drop > Math.max(this.opts.compare.minGain, 2 * this.noise) && drop <= maxDrift && this.probes.length - current.measuredAt >= 2) {
			// Slower than a figure measured a while ago, by as much as the machine itself
			// can drift (a shared VM slows by 20-30% over minutes): measure the current best
			// again now and compare with that; the fresh figure is the reference from here on.
			const refreshed = await this.refresh(current, stepId);
			if (refreshed) {
				current = refreshed;
				cmp = compareThroughput(current.result.samplesPerSecond, record.result.samplesPerSecond, {...this.opts.compare, noise: this.noise});
			}
		}
		if (cmp.verdict === 'close' && this.opts.paired && this.settleCloseCalls) {
			// A close call, within what the machine varies between processes and over
			// minutes: measure candidate and incumbent alternately in the same minutes, two
			// warm processes, and decide on the ratio taken pair by pair (drift cancels).
			const seconds = this.pairedSeconds(current.candidate, next, Math.log(Math.max(1, cmp.ratio)));
			const outcome = seconds === null ? null : await this.opts.paired(`${stepId}-paired`, `Paired: ${title} against the current best`, current.candidate, next, seconds);
			if (outcome) {
				const said = `paired ${pct(outcome.ratio)} (95% interval ${pct(outcome.low)} to ${pct(outcome.high)}, ${outcome.pairs} alternating pairs)`;
				const failsNow = this.accuracyFailure(outcome.candidate) ?? latencyFailure(outcome.candidate, this.opts);
				if (failsNow) {
					decide({...base, outcome: 'dropped', reason: `${failsNow} (when measured paired)`, samplesPerSecond: outcome.candidate.samplesPerSecond.median, ratio: outcome.ratio});
					return unchanged(current);
				}
				const real = outcome.low > 1 && outcome.ratio >= 1 + this.opts.compare.minGain;
				decide({...base, outcome: real ? 'kept' : 'dropped', reason: real ? `${said}: a real gain` : outcome.low > 1 ? `${said}: real but below the ${Math.round(this.opts.compare.minGain * 100)}% worth a change` : `${said}: not a real gain`, samplesPerSecond: outcome.candidate.samplesPerSecond.median, ratio: outcome.ratio});
				if (!real) return unchanged(current);
				// Both figures from the same minutes: the candidate's is the reference from here on.
				return kept({candidate: next, result: outcome.candidate, measuredAt: this.probes.length});
			}
		}
		if (cmp.verdict === 'close' && this.settleCloseCalls) {
			// A close call: measure both again, longer, back to back, and decide on that.
			const longer = this.probeBudget({next: [current.candidate, next], best: current.candidate, factor: 2, extra: Math.log(Math.max(1, cmp.ratio))});
			if (longer !== null) {
				const again = await this.probe(`${stepId}-recheck-best`, `Re-measure current best (close call)`, current.candidate, longer, true, this.deadline(current.candidate, [next]));
				const retry = again.result ? await this.probe(`${stepId}-recheck`, `Re-measure: ${title}`, next, longer, true, this.deadline(current.candidate)) : again;
				if (again.result && retry.result) {
					// Decide on both measurements of each, pooled: two processes average out.
					const pooledBest = poolIntervals(current.result.samplesPerSecond, again.result.samplesPerSecond);
					const pooledNext = poolIntervals(record.result.samplesPerSecond, retry.result.samplesPerSecond);
					current = {candidate: current.candidate, result: {...again.result, samplesPerSecond: pooledBest}, measuredAt: this.probes.length};
					record = {...retry, result: {...retry.result, samplesPerSecond: pooledNext}};
					cmp = compareThroughput(pooledBest, pooledNext, {...this.opts.compare, noise: this.noise / Math.SQRT2});
					remeasured = true;
					// The new run must pass the same checks as the first one did.
					const failsNow = this.accuracyFailure(retry.result) ?? latencyFailure(retry.result, this.opts);
					if (failsNow) {
						decide({...base, outcome: 'dropped', reason: `${failsNow} (when re-measured)`, samplesPerSecond: pooledNext.median, ratio: cmp.ratio});
						return unchanged(current);
					}
				}
			}
		}
		const samples = record.result!.samplesPerSecond.median;
		if (cmp.verdict === 'faster') {
			decide({...base, outcome: 'kept', reason: cmp.reason, samplesPerSecond: samples, ratio: cmp.ratio});
			return kept({candidate: next, result: record.result!, measuredAt: this.probes.length});
		}
		const reason = cmp.verdict !== 'close' ? cmp.reason
			: !this.settleCloseCalls ? `${cmp.reason}: a close call, not settled in the quick pick (batch size is tried again on the tuned configuration)`
			: remeasured ? `${cmp.reason}, even when re-measured: not a real gain`
				: `${cmp.reason}, and no time was left to re-measure: not counted`;
		decide({...base, outcome: 'dropped', reason, samplesPerSecond: samples, ratio: cmp.ratio});
		return unchanged(current);
	}

	/** Seconds of alternating windows a paired comparison may take (both warm processes start first), or null. */
	private pairedSeconds(incumbent: Candidate, candidate: Candidate, worth: number): number | null {
		const available = this.remainingSeconds() - this.verificationReserve(incumbent, [candidate]) - this.committed(worth);
		// The two processes start side by side: the dearer start-up counts, plus the windows.
		const startup = Math.max(this.overheadOf(incumbent), this.overheadOf(candidate));
		const windows = Math.min(4 * maxProbeSeconds, (available - startup) * 0.4);
		return windows >= 4 * minProbeSeconds ? windows : null;
	}

	/**
	 * The current best measured again, when the budget allows. When the machine's speed
	 * has moved beyond the noise, says so and returns the fresh figure; else the old one.
	 */
	private async refresh(current: Best, stepId: string): Promise<Best | null> {
		const budget = this.probeBudget({next: [current.candidate], best: current.candidate, extra: 0});
		if (budget === null || this.aborted()) return null;
		const record = await this.probe(`${stepId}-refresh`, 'Re-measure current best (has the machine drifted?)', current.candidate, budget, true, this.deadline(current.candidate));
		if (!record.result) return null;
		const before = current.result.samplesPerSecond;
		const now = record.result.samplesPerSecond;
		const apart = (a: Interval, b: Interval) => compareThroughput(a, b, {minGain: 0, noise: this.noise}).verdict === 'faster';
		const moved = apart(before, now) || apart(now, before);
		// Not moved: both figures describe the same machine, and two processes average out.
		if (!moved) return {candidate: current.candidate, result: {...record.result, samplesPerSecond: poolIntervals(before, now)}, measuredAt: this.probes.length};
		// The machine drifts over minutes: later steps, compared with figures minutes old,
		// must clear part of that drift too (the refresh corrects the rest).
		const drift = Math.abs(now.median - before.median) / before.median;
		this.noise = Math.max(this.noise, Math.min(0.05, drift / 4));
		this.emit({type: 'note', level: 'warning', message: `This machine's speed moved: the current best now measures ${now.median.toFixed(1)} samples/s (was ${before.median.toFixed(1)}); later steps are compared with the new figure.`});
		return {candidate: current.candidate, result: record.result, measuredAt: this.probes.length};
	}

	/** Baseline and winner measured back to back: the figure the user is told. */
	private async verify(baseline: Best, best: Best): Promise<WalkResult['verification']> {
		if (candidateKey(best.candidate) === candidateKey(baseline.candidate) || this.aborted()) return null;
		const overheads = this.overheadOf(baseline.candidate) + this.overheadOf(best.candidate);
		const budget = Math.min(maxProbeSeconds, Math.max(minProbeSeconds, (this.remainingSeconds() - overheads - this.startupMargin()) / 2));
		const a = await this.probe('verify-baseline', 'Verify: baseline', baseline.candidate, budget, true, null);
		const b = await this.probe('verify-best', 'Verify: best configuration', best.candidate, budget, true, null);
		if (!a.result || !b.result) {
			this.emit({type: 'note', level: 'warning', message: 'The final back-to-back verification did not complete; figures come from the walk.'});
			return null;
		}
		return {baseline: a.result, best: b.result, speedup: b.result.samplesPerSecond.median / a.result.samplesPerSecond.median};
	}

	// ------------------------------------------------------------ budget

	/** Seconds the rest of the plan keeps from a re-measurement worth `worth` (a log gain): its steps expected to bring more. */
	private committed(worth = 0): number {
		return this.pending.seconds + this.pending.steps.filter(p => p.logGain > worth).reduce((sum, p) => sum + p.costSeconds, 0);
	}

	private remainingSeconds(): number {
		return this.opts.budgetSeconds - (this.now() - this.started) / 1000;
	}

	/** What a probe of this candidate costs beyond its measurement: learnt, or guessed. */
	private overheadOf(candidate: Candidate): number {
		const probed = this.again.get(candidateKey(candidate));
		if (probed !== undefined) return probed;
		const kind = costKind(candidate.config);
		const learnt = this.overheads.get(kind);
		if (learnt !== undefined) return learnt;
		const eager = this.eagerOverhead(candidate);
		const planned = this.expectedOverheads.get(kind);
		if (planned !== undefined) return Math.max(eager, planned);
		const {config} = candidate;
		const factor = (config.compile ? overheadFactors.compile : 1)
			* (config.quantization ? overheadFactors.int8 : 1)
			* (config.backend === 'torch' ? 1 : overheadFactors.otherRuntime)
			* (config.workers > 1 ? overheadFactors.workers : 1);
		return Math.max(eager * factor, factor > 1 ? initialOverheadGuess : 0);
	}

	/** What an eager torch probe of this candidate's shape costs beyond its measurement: learnt, or guessed. */
	private eagerOverhead(candidate: Candidate): number {
		return this.overheads.get(costKind({...candidate.config, compile: false, quantization: null, backend: 'torch', workers: 1})) ?? initialOverheadGuess;
	}

	/**
	 * What probing this candidate once more would cost beyond its measurement: learnt once
	 * it was probed; before that, on a runtime whose conversion the walk caches, a guess
	 * (eager start-up × warmFactor); else the same as its first probe.
	 */
	private againOf(candidate: Candidate): number {
		const first = this.overheadOf(candidate);
		if (this.again.has(candidateKey(candidate)) || !this.opts.conversionCache || !cachedRuntimes.has(candidate.config.backend)) return first;
		return Math.min(first, this.eagerOverhead(candidate) * warmFactor);
	}

	/** The final verification's fixed part: the baseline's probe and both measurements. */
	private baselineVerifyCost(): number {
		return this.overheadOf(this.base) + 2 * minProbeSeconds * 2;
	}

	/** Seconds kept for the final verification: the baseline and whichever candidate may end up best. */
	private verificationReserve(best: Candidate, next: Candidate[]): number {
		return this.baselineVerifyCost() + Math.max(...[best, ...next].map(c => this.againOf(c)));
	}

	/**
	 * Wall seconds a step's probe may take. Whatever it takes, the verification must still
	 * fit after it: the baseline once more, and the winner once more, which is this very
	 * candidate (`next`) if it wins and may cost again as much as this probe did (its
	 * measurement can end early, so nothing of D is assumed to be measuring), unless its
	 * conversion is read back from the walk's cache then. Solves
	 * D + max(current best's cost, D or next's cost again) ≤ what is left.
	 */
	private deadline(best: Candidate, after: Candidate[] = [], next?: Candidate): number {
		const later = after.reduce((sum, c) => sum + this.overheadOf(c) + minProbeSeconds, 0);
		const left = this.remainingSeconds() - later - this.baselineVerifyCost() - this.startupMargin();
		const bestCost = Math.max(this.overheadOf(best), ...after.map(c => this.overheadOf(c)));
		if (next && this.againOf(next) < this.overheadOf(next)) return Math.max(1, left - Math.max(bestCost, this.againOf(next)));
		return Math.max(1, left > 2 * bestCost ? left / 2 : left - bestCost);
	}

	/**
	 * Start-up times vary by a few seconds from the learnt ones: a margin kept by a probe's
	 * deadline and by the verification's measuring, so that the answer still comes within the
	 * budget (a 600 s walk ended 2 s over without it, and 3 s over with it on the deadline only;
	 * with 2 s a 180 s walk on bert_base ended 1 s before its budget).
	 */
	private startupMargin(): number {
		return Math.max(3, 0.015 * this.opts.budgetSeconds);
	}

	/** Seconds of measurement for the baseline's two probes: nothing is reserved before them. */
	private baselineBudget(): number {
		return Math.min(maxProbeSeconds, Math.max(minProbeSeconds, this.remainingSeconds() / 24));
	}

	/**
	 * Seconds of measurement for each of the next probes, or null when the budget cannot
	 * pay for them. Keeps room for the final verification (the baseline and whichever
	 * candidate may end up best) whatever happens. `extra`: a probe beyond the plan (a
	 * re-measurement) and what it is worth (the log gain at stake), which must also leave
	 * the rest of the plan that is expected to bring more its time.
	 */
	private probeBudget({next: ahead, best, factor = 1, extra}: {next: Candidate[]; best: Candidate; factor?: number; extra?: number}): number | null {
		const available = this.remainingSeconds() - this.verificationReserve(best, ahead) - (extra === undefined ? 0 : this.committed(extra));
		const overheads = ahead.reduce((sum, c) => sum + this.overheadOf(c), 0);
		const cost = overheads + ahead.length * minProbeSeconds * factor;
		if (available < cost) return null;
		const perProbe = (available - overheads) * 0.25;
		return Math.min(Math.min(maxProbeSeconds, this.measureCap) * factor, Math.max(minProbeSeconds * factor, perProbe));
	}

	// ------------------------------------------------------------ plumbing

	private async probe(stepId: string, title: string, candidate: Candidate, budgetSeconds: number, fresh: boolean, deadlineSeconds: number | null): Promise<ProbeRecord> {
		const c: Candidate = {...candidate, config: {...candidate.config, budgetSeconds: round(budgetSeconds)}};
		const record = await this.measure(stepId, title, c, deadlineSeconds === null ? null : round(deadlineSeconds), fresh);
		this.probes.push(record);
		const kind = costKind(candidate.config);
		// A probe stopped for the budget cost at least what it ran: later probes of its kind
		// are planned with that, not with a guess that proved too low.
		if (record.failure?.code === 'budget') {
			this.overheads.set(kind, Math.max(this.overheads.get(kind) ?? 0, record.durationMs / 1000));
		}
		// A figure reused from history (duration 0) says nothing about what a probe costs.
		if (record.result && record.durationMs > 0) {
			// Learn what a probe costs beyond its measurement (start, load, compile, warm-up):
			// per kind from each configuration's first probe, and per configuration what
			// probing it again costs (less what it kept in the walk's cache, until measured).
			const overhead = Math.max(1, record.durationMs / 1000 - record.result.measureSeconds);
			const key = candidateKey(candidate);
			const again = this.again.get(key);
			if (again === undefined) {
				const before = this.overheads.get(kind);
				this.overheads.set(kind, before === undefined ? overhead : 0.5 * before + 0.5 * overhead);
				this.again.set(key, Math.max(1, overhead - (record.result.cachedSeconds ?? 0)));
			} else {
				this.again.set(key, 0.5 * again + 0.5 * overhead);
			}
		}
		return record;
	}

	private decide(decision: Decision): void {
		this.decisions.push(decision);
		this.emit({type: 'decision', decision});
	}

	private nextStepId(recipeId: string): string {
		this.stepCounter += 1;
		return `${String(this.stepCounter).padStart(2, '0')}-${recipeId}`;
	}

	private aborted(): boolean {
		return this.opts.signal?.aborted ?? false;
	}
}

const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;

function describeGain(e: Expectation): string {
	const [lo, hi] = e.gain;
	const range = Math.abs(hi - lo) < 0.005 ? `${midGain(e.gain).toFixed(2)}×` : `${lo.toFixed(2)}–${hi.toFixed(2)}×`;
	return e.known ? `expected ${range}` : `unknown here, prior ${range}`;
}

/** Seconds to a tenth, rounded down: a probe's budget or deadline never grows past what the walk has. */
function round(x: number): number {
	return Math.floor(x * 10) / 10;
}

function failureText(record: ProbeRecord): string {
	const f = record.failure;
	if (!f) return 'no result';
	return f.hint ? `${f.message} (${f.hint})` : f.message;
}
