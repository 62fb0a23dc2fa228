// The tuning walk: baseline → a quick batch pick → cumulative keep-if-better steps by
// expected gain per second of budget (recipes' `expected` figures for the CPU class,
// refined by what this machine measured before; batch refined on the first kept) →
// environment knobs last, planned to fit a time budget, then the winner verified back to
// back against the baseline. The planner decides; measuring is injected, so the
// decisions are unit-testable with scripted results and the session wires real probes.
//
// Recipes are data: the walk knows stages and what a recipe changes, never recipe ids.
// What it is given is walk-inputs.ts's; how it words a decision, step-words.ts's; its final
// verification runs in verification-run.ts.
import {promisedPrecisions} from '../recipes/contract.js';
import {firstShortfall} from '../report/kernels.js';
import {expectationOf, hopefulLogGain} from '../recipes/expected.js';
import {applyChanges, atBatch, baselineCandidate, baselineWords, batchSizesOf, candidateKey, workerCounts} from './candidates.js';
import {describeGain, orderByValue, planForBudget} from './plan.js';
import type {PlannedStep} from './plan.js';
import {BudgetClock, maxProbeSeconds, minProbeSeconds, round} from './budget.js';
import {checkFailure, compareThroughput, latencyFailure, noiseFromRepeat, poolIntervals, scoreFailure} from './stats.js';
import {verifyBackToBack} from './verification-run.js';
import type {VerifyHost} from './verification-run.js';
import {dropReason, failureText, memoryGrowth, pairedVerdict, preloadFailure} from './step-words.js';
import type {Measure, PairedOutcome, WalkOptions} from './walk-inputs.js';
import type {Applicability, Candidate, Decision, Interval, ProbeRecord, ProbeResult, SessionEvent, Verification, WalkResult} from '../types.js';

/** The largest slowdown of the whole machine worth suspecting before blaming a step. */
const maxDrift = 0.4;

/** How a step ended: the best after it, whether the step was kept, and its decision's outcome. */
interface StepOutcome {
	best: Best;
	kept: boolean;
	decided: Decision['outcome'];
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
	/** The time left and what probes cost (budget.ts). */
	private readonly clock: BudgetClock;
	/** fp32 eager batch 1: the first probe, and one half of the final verification. */
	private readonly base: Candidate;
	/**
	 * Configurations a step measured and did not keep (dropped or failed), per candidateKey,
	 * with that step's title: another step that makes the same one is not measured again
	 * (a second draw of the same configuration would only give the noise a second chance).
	 */
	private readonly notKept = new Map<string, string>();
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
		this.base = baselineCandidate(opts.model, opts.usableCpus, opts.usableCpuList, opts.fixedBatch ?? null);
		this.clock = new BudgetClock(opts, this.base, opts.now ?? Date.now);
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
		const baseRecord = await this.probe('baseline', `Baseline: ${words}`, base, this.clock.baselineBudget(), false, null);
		if (!baseRecord.result) {
			this.decide({stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'failed', reason: failureText(baseRecord), samplesPerSecond: null, ratio: null});
			return null;
		}
		this.decide({stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: `${words}: the reference every step is compared with${opts.fixedBatch ? ' (the file fixes its batch axis, so batch size is not swept)' : ''}`, samplesPerSecond: baseRecord.result.samplesPerSecond.median, ratio: 1});
		const latencyIssue = latencyFailure(baseRecord.result, opts);
		if (latencyIssue) this.emit({type: 'note', level: 'warning', message: `The baseline already misses the latency target: ${latencyIssue}`});

		// One probe's CI cannot see how much a fresh process varies (memory layout, clocks,
		// neighbours): measure the baseline once more and use the spread as a floor.
		const again = this.aborted() ? null : await this.probe('baseline-repeat', 'Baseline again: how much a fresh process varies here', base, this.clock.baselineBudget(), true, null);
		if (again?.result) {
			this.noise = noiseFromRepeat(baseRecord.result.samplesPerSecond, again.result.samplesPerSecond);
			this.emit({type: 'note', level: 'info', message: `A fresh process varies by about ±${(this.noise * 100).toFixed(1)}% here: gains within that are re-measured before they count.`});
		}

		this.referenceScore = baseRecord.result.score ?? null;
		if (this.referenceScore !== null) this.emit({type: 'note', level: 'info', message: `evaluate() on the fp32 baseline: ${this.referenceScore.toPrecision(4)}; lossy steps must stay within ${(opts.thresholds.maxAccuracyDrop * 100).toFixed(1)}% of it.`});
		const baseline: Best = {candidate: base, result: baseRecord.result, measuredAt: this.probes.length};
		const batchStep = opts.steps.find(s => s.recipe.stage === 'batch');
		const best = await this.byValue(baseline, batchStep);

		const verification = await this.verify(baseline, best);
		// The walk's own ratio: the verified one is verification.speedup (headlineFigures() picks).
		const speedup = best.result.samplesPerSecond.median / baseline.result.samplesPerSecond.median;
		return {
			baseline,
			best: {...best, speedup},
			verification,
			probes: this.probes,
			decisions: this.decisions,
			interrupted: this.aborted(),
			elapsedSeconds: this.clock.elapsedSeconds(),
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
		const batch = batchStep && !opts.fixedBatch ? batchStep : undefined;
		// Measuring time is planned too: a short budget measures each step briefly rather
		// than measuring a few steps long (paired comparisons settle the close calls).
		this.clock.measureCap = Math.min(maxProbeSeconds, Math.max(minProbeSeconds, this.clock.remainingSeconds() / 40));
		const eagerProbes = (n: number) => n * (this.clock.overheadOf(best.candidate) + this.clock.measureCap);
		const refineCost = batch ? eagerProbes(2) : 0;
		const planFor = (from: Best, spare = 0) => planForBudget(
			orderByValue(opts.steps, cls, observed, this.clock.stepCost(from.candidate)),
			this.clock.remainingSeconds() - this.clock.baselineVerifyCost() - refineCost - spare,
			p => p.reprobeSeconds, this.clock.overheadOf(from.candidate), {base: from.candidate, usableCpus: opts.usableCpus, numaNodes: opts.numaNodes});
		let picked = false;
		if (batch && !this.aborted()) {
			// The quick pick costs up to two eager probes: worth them only where they push out
			// less expected gain than a batch size brings (a short budget on a model whose
			// probes are dear goes to the large steps first, and batch comes on what they made).
			const batchGain = hopefulLogGain(expectationOf(batch.recipe, cls, observed[batch.recipe.id]));
			const after = planFor(best, eagerProbes(2));
			picked = after.gain + batchGain >= planFor(best).gain - 1e-9;
			if (picked) best = await this.quickPickWithin(best, batch, {steps: after.plan, seconds: refineCost});
			else this.emit({type: 'note', level: 'info', message: `No quick batch pick on eager fp32: its two probes (~${Math.round(eagerProbes(2))} s) would push out steps expected to bring more; batch size is tried on the tuned configuration instead.`});
		}
		const {plan, later} = planFor(best);
		const name = (p: PlannedStep) => `${p.step.recipe.title} (${describeGain(p.expectation)}, ~${Math.round(p.costSeconds)} s)`;
		this.emit({type: 'note', level: 'info', message: `Plan for the ${Math.round(opts.budgetSeconds)} s budget, the most expected gain that fits (${Math.round(this.clock.measureCap)} s of measuring a step): ${plan.map(name).join('; ') || 'nothing more fits'}.${later.length ? ` If time is left: ${later.map(p => p.step.recipe.title).join(', ')}.` : ''}`});
		return this.followPlan(best, plan, later, batch, refineCost, picked);
	}

	/**
	 * The quick batch pick, weighed at two eager probes: a close call in it may not take the
	 * time of the steps planned after it (`pending`: a 3-minute walk whose quick pick went to
	 * two paired comparisons no longer had room for OpenVINO int8).
	 */
	private async quickPickWithin(best: Best, batch: Applicability, pending: {steps: PlannedStep[]; seconds: number}): Promise<Best> {
		this.clock.pending = pending;
		this.settleCloseCalls = false;
		try {
			return await this.quickBatch(best, batch);
		} finally {
			this.settleCloseCalls = true;
			this.clock.pending = {steps: [], seconds: 0};
		}
	}

	/** The plan walked: its structural steps by expected gain (batch refined on the first kept), the knobs, then what was left for later. */
	private async followPlan(best: Best, plan: PlannedStep[], later: PlannedStep[], batch: Applicability | undefined, refineCost: number, picked: boolean): Promise<Best> {
		const structural = plan.filter(p => !p.envOnly);
		const polish = plan.filter(p => p.envOnly);
		let refined = false;
		for (let i = 0; i < structural.length && !this.aborted(); i++) {
			this.clock.pending = {steps: [...structural.slice(i + 1), ...polish], seconds: refined ? 0 : refineCost};
			const before = best;
			best = batch && !refined ? await this.runAtSuitedBatch(best, structural[i]!.step, batch) : await this.runStep(best, structural[i]!.step);
			// Compiled, quantized or converted models often want other batches than eager fp32
			// did: the first step kept (the largest expected gain comes first) has its batch
			// size tried at once, before smaller steps spend the time (a converted model at a
			// new batch is converted again: on a short budget the smaller steps lose).
			if (batch && !refined && best !== before && !this.aborted()) {
				this.clock.pending = {steps: [...structural.slice(i + 1), ...polish], seconds: 0};
				best = await this.refineBatch(best, batch);
				refined = true;
			}
		}
		// Where no step was kept and the quick pick was left out, batch size is tried here.
		this.clock.pending = {steps: polish, seconds: 0};
		if (batch && !refined && !picked && !this.aborted()) best = await this.refineBatch(best, batch);
		for (const [i, p] of [...polish, ...later].entries()) {
			if (this.aborted()) break;
			this.clock.pending = {steps: polish.slice(i + 1), seconds: 0};
			best = await this.runStep(best, p.step);
		}
		this.clock.pending = {steps: [], seconds: 0};
		return best;
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

	/** Several pinned workers under torchrun, N × (usable / N) threads. */
	private async workerSweep(best: Best, step: Applicability): Promise<Best> {
		for (const n of workerCounts(this.opts.usableCpus, this.opts.numaNodes)) {
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
	private async measureStep(best: Best, step: Applicability, next: Candidate, title: string): Promise<StepOutcome> {
		const base = {stepId: this.nextStepId(step.recipe.id), recipeId: step.recipe.id, title};
		let memory = ''; // the step's growth in peak memory, said whatever the decision
		const decide = (current: Best, decision: Omit<Decision, 'stepId' | 'recipeId' | 'title'>, made?: Best): StepOutcome => {
			this.decide({...base, ...decision, reason: decision.reason + memory});
			return made ? {best: made, kept: true, decided: decision.outcome} : {best: current, kept: false, decided: decision.outcome};
		};
		const none = {samplesPerSecond: null, ratio: null};
		if (candidateKey(next) === candidateKey(best.candidate)) return decide(best, {outcome: 'skipped', reason: 'changes nothing on top of the current best', ...none});
		const budget = this.clock.probeBudget({next: [next], best: best.candidate});
		if (budget === null) return decide(best, {outcome: 'skipped', reason: 'time budget spent (kept for the final verification)', ...none});
		const probed = await this.probeStep(best, step, next, title, base.stepId, budget);
		next = probed.next;
		let record = probed.record;
		if (!record.result) return decide(best, {outcome: record.failure?.code === 'budget' ? 'skipped' : 'failed', reason: failureText(record), ...none});
		memory = memoryGrowth(best.result, record.result);
		const figures = (r: ProbeResult, ratio = r.samplesPerSecond.median / best.result.samplesPerSecond.median) => ({samplesPerSecond: r.samplesPerSecond.median, ratio});
		const fails = this.accuracyFailure(record.result) ?? latencyFailure(record.result, this.opts) ?? preloadFailure(next.env, record.result);
		if (fails) return decide(best, {outcome: 'dropped', reason: fails, ...figures(record.result)});
		// Named for what ran: a step whose kernels fell short of its name says so in its title,
		// and one where none of the promised precision ran changed nothing it claims.
		const ran = firstShortfall(record.result.kernels, promisedPrecisions(best.candidate.config, next.config));
		if (ran) base.title = `${title} — ${ran.words}`;
		if (ran?.none) return decide(best, {outcome: 'dropped', reason: `its kernels did not do what its name says (${record.result.kernels!.source})`, ...figures(record.result)});
		let current = best;
		let remeasured = false;
		let cmp = this.compare(current.result.samplesPerSecond, record.result.samplesPerSecond);
		const drop = 1 - cmp.ratio;
		if (cmp.verdict === 'not-faster' && drop > Math.max(this.opts.compare.minGain, 2 * this.noise) && drop <= maxDrift && this.probes.length - current.measuredAt >= 2) {
			// Slower than a figure measured a while ago, by as much as the machine itself
			// can drift (a shared VM slows by 20-30% over minutes): measure the current best
			// again now and compare with that; the fresh figure is the reference from here on.
			const refreshed = await this.refresh(current, base.stepId);
			if (refreshed) {
				current = refreshed;
				cmp = this.compare(current.result.samplesPerSecond, record.result.samplesPerSecond);
			}
		}
		if (cmp.verdict === 'close' && this.opts.paired && this.settleCloseCalls) {
			const outcome = await this.settlePaired(current, next, title, base.stepId, cmp.ratio);
			if (outcome) {
				const failsNow = this.accuracyFailure(outcome.candidate) ?? latencyFailure(outcome.candidate, this.opts);
				if (failsNow) return decide(current, {outcome: 'dropped', reason: `${failsNow} (when measured paired)`, ...figures(outcome.candidate, outcome.ratio)});
				const {real, reason} = pairedVerdict(outcome, this.opts.compare.minGain);
				// Both figures from the same minutes: the candidate's is the reference from here on.
				return decide(current, {outcome: real ? 'kept' : 'dropped', reason, ...figures(outcome.candidate, outcome.ratio)}, real ? {candidate: next, result: outcome.candidate, measuredAt: this.probes.length} : undefined);
			}
		}
		if (cmp.verdict === 'close' && this.settleCloseCalls) {
			const again = await this.recheck(current, {...record, result: record.result}, next, title, base.stepId, cmp.ratio);
			if (again) {
				({current, record, cmp} = again);
				remeasured = true;
				if (again.failsNow) return decide(current, {outcome: 'dropped', reason: `${again.failsNow} (when re-measured)`, samplesPerSecond: record.result!.samplesPerSecond.median, ratio: cmp.ratio});
			}
		}
		const samples = record.result!.samplesPerSecond.median;
		if (cmp.verdict === 'faster') return decide(current, {outcome: 'kept', reason: cmp.reason, samplesPerSecond: samples, ratio: cmp.ratio}, {candidate: next, result: record.result!, measuredAt: this.probes.length});
		return decide(current, {outcome: 'dropped', reason: dropReason(cmp, this.settleCloseCalls, remeasured), samplesPerSecond: samples, ratio: cmp.ratio});
	}

	private compare(incumbent: Interval, candidate: Interval, noise = this.noise) {
		return compareThroughput(incumbent, candidate, {...this.opts.compare, noise});
	}

	/**
	 * The step's probe; where it crashed with environment variables that earlier steps kept,
	 * once more without those (some runtimes crash under a setting an earlier step kept:
	 * OpenVINO with an LD_PRELOADed allocator, say).
	 */
	private async probeStep(best: Best, step: Applicability, next: Candidate, title: string, stepId: string, budget: number): Promise<{record: ProbeRecord; next: Candidate}> {
		const record = await this.probe(stepId, title, next, budget, false, this.clock.deadline(best.candidate, [], next));
		const inherited = Object.keys(next.env).filter(k => !(k in (step.changes.env ?? {})));
		if (record.result || inherited.length === 0 || record.failure?.kind !== 'signal') return {record, next};
		this.emit({type: 'note', level: 'warning', message: `${title} crashed with ${inherited.join(', ')} from earlier steps (${failureText(record)}); measuring it again without them`});
		const setsDroppedEnv = (id: string) => Object.keys(this.changesOf(id)?.env ?? {}).some(k => inherited.includes(k));
		const bare = {...next, env: {...(step.changes.env ?? {})}, recipes: next.recipes.filter(id => id === step.recipe.id || !setsDroppedEnv(id))};
		return {record: await this.probe(`${stepId}-bare`, `${title}, without ${inherited.join(', ')}`, bare, budget, false, this.clock.deadline(best.candidate)), next: bare};
	}

	/**
	 * A close call, within what the machine varies between processes and over minutes:
	 * candidate and incumbent measured alternately in the same minutes, two warm processes,
	 * decided on the ratio taken pair by pair (drift cancels). Null where it could not run.
	 */
	private async settlePaired(current: Best, next: Candidate, title: string, stepId: string, ratio: number): Promise<PairedOutcome | null> {
		const seconds = this.clock.pairedSeconds(current.candidate, next, Math.log(Math.max(1, ratio)));
		if (seconds === null || !this.opts.paired) return null;
		return this.opts.paired(`${stepId}-paired`, `Paired: ${title} against the current best`, current.candidate, next, seconds);
	}

	/**
	 * A close call: both measured again, longer, back to back, and decided on both
	 * measurements of each, pooled (two processes average out). Null where the budget has
	 * no room or a probe failed; `failsNow` when the new run fails the checks the first passed.
	 */
	private async recheck(current: Best, record: ProbeRecord & {result: ProbeResult}, next: Candidate, title: string, stepId: string, ratio: number) {
		const longer = this.clock.probeBudget({next: [current.candidate, next], best: current.candidate, factor: 2, extra: Math.log(Math.max(1, ratio))});
		if (longer === null) return null;
		const again = await this.probe(`${stepId}-recheck-best`, `Re-measure current best (close call)`, current.candidate, longer, true, this.clock.deadline(current.candidate, [next]));
		const retry = again.result ? await this.probe(`${stepId}-recheck`, `Re-measure: ${title}`, next, longer, true, this.clock.deadline(current.candidate)) : again;
		if (!again.result || !retry.result) return null;
		const pooledBest = poolIntervals(current.result.samplesPerSecond, again.result.samplesPerSecond);
		const pooledNext = poolIntervals(record.result.samplesPerSecond, retry.result.samplesPerSecond);
		return {
			current: {candidate: current.candidate, result: {...again.result, samplesPerSecond: pooledBest}, measuredAt: this.probes.length},
			record: {...retry, result: {...retry.result, samplesPerSecond: pooledNext}},
			cmp: this.compare(pooledBest, pooledNext, this.noise / Math.SQRT2),
			failsNow: this.accuracyFailure(retry.result) ?? latencyFailure(retry.result, this.opts),
		};
	}

	/**
	 * The current best measured again, when the budget allows. When the machine's speed
	 * has moved beyond the noise, says so and returns the fresh figure; else the old one.
	 */
	private async refresh(current: Best, stepId: string): Promise<Best | null> {
		const budget = this.clock.probeBudget({next: [current.candidate], best: current.candidate, extra: 0});
		if (budget === null || this.aborted()) return null;
		const record = await this.probe(`${stepId}-refresh`, 'Re-measure current best (has the machine drifted?)', current.candidate, budget, true, this.clock.deadline(current.candidate));
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

	/** The final verification (verification-run.ts), on the walk's clock and probes. */
	private async verify(baseline: Best, best: Best): Promise<Verification | null> {
		const host: VerifyHost = {
			clock: this.clock,
			probes: this.probes,
			probe: (...args) => this.probe(...args),
			emit: e => this.emit(e),
			aborted: () => this.aborted(),
		};
		return verifyBackToBack(host, baseline, best);
	}

	// ------------------------------------------------------------ plumbing

	private async probe(stepId: string, title: string, candidate: Candidate, budgetSeconds: number, fresh: boolean, deadlineSeconds: number | null): Promise<ProbeRecord> {
		const c: Candidate = {...candidate, config: {...candidate.config, budgetSeconds: round(budgetSeconds)}};
		const record = await this.measure(stepId, title, c, deadlineSeconds === null ? null : round(deadlineSeconds), fresh);
		this.probes.push(record);
		this.clock.learn(candidate, record);
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
