// The walk's budget clock: the time left, what each probe is expected to cost beyond its
// measuring (learnt from the probes as they run, per kind of configuration and per
// configuration probed again), and the seconds a probe may measure and run for so that
// the final verification still fits. The walk (planner.ts) asks it before every probe and
// tells it what every probe cost.
import {DEFAULT_COST_SECONDS, REFERENCE_MEASURE_SECONDS} from '../recipes/expected.js';
import {candidateKey, stepCandidate} from './candidates.js';
import type {NumaNodes} from './candidates.js';
import type {PlannedStep, StepCost} from './plan.js';
import type {Candidate, ProbeConfig, ProbeRecord} from '../types.js';

export const minProbeSeconds = 2;
/** Pairs of fresh processes the final verification aims for (budget permitting), and at most. */
export const VERIFY_PAIRS = 3;
export const VERIFY_MAX_PAIRS = 5;
/** Past VERIFY_PAIRS, pairs are added only while the ratio's 95% interval is wider than ±5%. */
export const VERIFY_TARGET = 0.05;
/** The share of the budget that may go to VERIFY_PAIRS pairs; past it, the walk plans for one. */
const VERIFY_SHARE = 0.2;
export const maxProbeSeconds = 15;
/** Probe start, model load, reference and warm-up, before anything is learnt (seconds). */
const initialOverheadGuess = 12;

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

/** Seconds to a tenth, rounded down: a probe's budget or deadline never grows past what the walk has. */
export function round(x: number): number {
	return Math.floor(x * 10) / 10;
}

/** What the clock needs of the walk's options. */
export interface BudgetOptions {
	budgetSeconds: number;
	usableCpus: number;
	numaNodes?: NumaNodes;
	conversionCache?: boolean;
}

export class BudgetClock {
	private readonly started: number;
	/** Learnt seconds a probe costs beyond its measurement, per costKind (the first probe of each configuration). */
	private readonly overheads = new Map<string, number>();
	/** Learnt seconds probing a configuration once more costs beyond its measurement, per candidateKey. */
	private readonly again = new Map<string, number>();
	/**
	 * What the plan expects a probe of a kind not measured yet to cost beyond its
	 * measurement (from the recipes' figures): the walk reserves the same when it gets there.
	 */
	private readonly expectedOverheads = new Map<string, number>();
	/** The most seconds a step's probe measures for (the walk by value plans it for the budget). */
	measureCap = maxProbeSeconds;
	/**
	 * The rest of the plan, and seconds kept for a batch refinement still to come: a close
	 * call re-measured leaves the planned steps expected to bring more than it is worth
	 * their time (committed()), and takes the time of those expected to bring less.
	 */
	pending: {steps: PlannedStep[]; seconds: number} = {steps: [], seconds: 0};

	constructor(
		private readonly opts: BudgetOptions,
		/** fp32 eager batch 1: the first probe, and one half of the final verification. */
		private readonly base: Candidate,
		private readonly now: () => number,
	) {
		this.started = now();
	}

	elapsedSeconds(): number {
		return (this.now() - this.started) / 1000;
	}

	/**
	 * What a step's probe is expected to cost on top of `best`: measured for its kind
	 * (eager, compiled, int8, another runtime, workers), or the recipe's figure beyond its
	 * measuring, scaled by what this model's eager probes cost against ResNet-50's; plus
	 * the measuring time planned. The walk reserves the same figure when it gets there.
	 */
	stepCost(best: Candidate): StepCost {
		const reference = DEFAULT_COST_SECONDS - REFERENCE_MEASURE_SECONDS;
		const eager = this.overheadOf(this.base);
		const scale = Math.min(4, Math.max(0.1, eager / reference));
		return (step, expectation) => {
			const next = stepCandidate(best, step, this.opts.usableCpus, this.opts.numaNodes);
			const kind = costKind(next.config);
			if (!this.overheads.has(kind)) {
				const guess = Math.max(eager, (expectation.costSeconds - REFERENCE_MEASURE_SECONDS) * scale);
				this.expectedOverheads.set(kind, Math.max(guess, this.expectedOverheads.get(kind) ?? 0));
			}
			const overheadSeconds = this.overheadOf(next);
			return {costSeconds: overheadSeconds + this.measureCap, overheadSeconds, reprobeSeconds: this.againOf(next)};
		};
	}

	/** Seconds of alternating windows a paired comparison may take (both warm processes start first), or null. */
	pairedSeconds(incumbent: Candidate, candidate: Candidate, worth: number): number | null {
		const available = this.remainingSeconds() - this.verificationReserve(incumbent, [candidate]) - this.committed(worth);
		// The two processes start side by side: the dearer start-up counts, plus the windows.
		const startup = Math.max(this.overheadOf(incumbent), this.overheadOf(candidate));
		const windows = Math.min(4 * maxProbeSeconds, (available - startup) * 0.4);
		return windows >= 4 * minProbeSeconds ? windows : null;
	}


	/** Seconds the rest of the plan keeps from a re-measurement worth `worth` (a log gain): its steps expected to bring more. */
	committed(worth = 0): number {
		return this.pending.seconds + this.pending.steps.filter(p => p.logGain > worth).reduce((sum, p) => sum + p.costSeconds, 0);
	}

	remainingSeconds(): number {
		return this.opts.budgetSeconds - (this.now() - this.started) / 1000;
	}

	/** What a probe of this candidate costs beyond its measurement: learnt, or guessed. */
	overheadOf(candidate: Candidate): number {
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
	eagerOverhead(candidate: Candidate): number {
		return this.overheads.get(costKind({...candidate.config, compile: false, quantization: null, backend: 'torch', workers: 1})) ?? initialOverheadGuess;
	}

	/**
	 * What probing this candidate once more would cost beyond its measurement: learnt once
	 * it was probed; before that, on a runtime whose conversion the walk caches, a guess
	 * (eager start-up × warmFactor); else the same as its first probe.
	 */
	againOf(candidate: Candidate): number {
		const first = this.overheadOf(candidate);
		if (this.again.has(candidateKey(candidate)) || !this.opts.conversionCache || !cachedRuntimes.has(candidate.config.backend)) return first;
		return Math.min(first, this.eagerOverhead(candidate) * warmFactor);
	}

	/**
	 * Pairs the final verification is planned for, with this winner (default: one as quick
	 * to start as the baseline): VERIFY_PAIRS, or as many as fit in VERIFY_SHARE of the
	 * budget, one at least. A short budget goes to the steps, and its headline to fewer
	 * pairs (one pair: said to have no interval).
	 */
	verifyPairs(winner: Candidate = this.base): number {
		const pair = this.overheadOf(this.base) + this.againOf(winner) + 2 * minProbeSeconds * 2;
		return Math.max(1, Math.min(VERIFY_PAIRS, Math.floor(VERIFY_SHARE * this.opts.budgetSeconds / pair)));
	}

	/** The final verification's fixed part: the baseline's probes and both sides' measurements, per pair planned. */
	baselineVerifyCost(): number {
		return this.verifyPairs() * (this.overheadOf(this.base) + 2 * minProbeSeconds * 2);
	}

	/**
	 * Seconds kept for the final verification: the baseline per pair planned, and the winner:
	 * the current best in every pair, or a new one (dearer, maybe) in one pair at least
	 * (verify() then runs as many more as the time left holds).
	 */
	verificationReserve(best: Candidate, next: Candidate[]): number {
		const pairs = this.verifyPairs(best);
		return pairs * (this.overheadOf(this.base) + 2 * minProbeSeconds * 2 + this.againOf(best)) + Math.max(0, ...next.map(c => this.againOf(c) - this.againOf(best)));
	}

	/**
	 * Wall seconds a step's probe may take. Whatever it takes, the verification must still
	 * fit after it: the baseline once more, and the winner once more, which is this very
	 * candidate (`next`) if it wins and may cost again as much as this probe did (its
	 * measurement can end early, so nothing of D is assumed to be measuring), unless its
	 * conversion is read back from the walk's cache then. With P pairs planned (the current
	 * best in each, a new winner in one at least), solves
	 * D + max(P × current best's cost, D or next's cost again) ≤ what is left.
	 */
	deadline(best: Candidate, after: Candidate[] = [], next?: Candidate): number {
		const pairs = this.verifyPairs(best);
		const later = after.reduce((sum, c) => sum + this.overheadOf(c) + minProbeSeconds, 0);
		const left = this.remainingSeconds() - later - this.baselineVerifyCost() - this.startupMargin();
		const bestCost = pairs * Math.max(this.overheadOf(best), ...after.map(c => this.overheadOf(c)));
		if (next && this.againOf(next) < this.overheadOf(next)) return Math.max(1, left - Math.max(bestCost, this.againOf(next)));
		return Math.max(1, left > 2 * bestCost ? left / 2 : left - bestCost);
	}

	/**
	 * Start-up times vary by a few seconds from the learnt ones: a margin kept by a probe's
	 * deadline and by the verification's measuring, so that the answer still comes within the
	 * budget (a 600 s walk ended 2 s over without it, and 3 s over with it on the deadline only;
	 * with 2 s a 180 s walk on bert_base ended 1 s before its budget).
	 */
	startupMargin(): number {
		return Math.max(3, 0.015 * this.opts.budgetSeconds);
	}

	/** Seconds of measurement for the baseline's two probes: nothing is reserved before them. */
	baselineBudget(): number {
		return Math.min(maxProbeSeconds, Math.max(minProbeSeconds, this.remainingSeconds() / 24));
	}

	/**
	 * Seconds of measurement for each of the next probes, or null when the budget cannot
	 * pay for them. Keeps room for the final verification (the baseline and whichever
	 * candidate may end up best) whatever happens. `extra`: a probe beyond the plan (a
	 * re-measurement) and what it is worth (the log gain at stake), which must also leave
	 * the rest of the plan that is expected to bring more its time.
	 */
	probeBudget({next: ahead, best, factor = 1, extra}: {next: Candidate[]; best: Candidate; factor?: number; extra?: number}): number | null {
		const available = this.remainingSeconds() - this.verificationReserve(best, ahead) - (extra === undefined ? 0 : this.committed(extra));
		const overheads = ahead.reduce((sum, c) => sum + this.overheadOf(c), 0);
		const cost = overheads + ahead.length * minProbeSeconds * factor;
		if (available < cost) return null;
		const perProbe = (available - overheads) * 0.25;
		return Math.min(Math.min(maxProbeSeconds, this.measureCap) * factor, Math.max(minProbeSeconds * factor, perProbe));
	}

	/**
	 * What a probe just cost, learnt: per kind from each configuration's first probe, and per
	 * configuration what probing it again costs. A probe stopped for the budget cost at least
	 * what it ran.
	 */
	learn(candidate: Candidate, record: ProbeRecord): void {
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
	}
}
