// The plan for a budget: the steps ordered by expected value (recipes' expected figures for
// this CPU class, refined by what this machine measured before), and the combination with
// the most expected gain that fits the time left. Pure: the walk (planner.ts) asks, and
// measures.
import {expectationOf, hopefulLogGain, midGain, valuePerSecond} from '../recipes/expected.js';
import type {CpuClass, Expectation, Observed} from '../recipes/expected.js';
import {REFERENCE_MEASURE_SECONDS} from '../recipes/expected.js';
import {applyChanges, baselineCandidate, candidateKey, stepCandidate} from './candidates.js';
import type {NumaNodes} from './candidates.js';
import type {Applicability, Candidate, RecipeChanges} from '../types.js';

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

/** What the plan is made on: the configuration steps apply to, and the CPUs a worker sweep splits (and their NUMA nodes). */
export interface PlanContext {
	base: Candidate;
	usableCpus: number;
	numaNodes?: NumaNodes;
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
function weighSteps(steps: PlannedStep[], {base, usableCpus, numaNodes}: PlanContext): {gainOf: (mask: number) => number; ownGain: (p: PlannedStep) => number} {
	const made = steps.map(p => stepCandidate(base, p.step, usableCpus, numaNodes));
	const holds = made.map(c => steps.map(q => candidateKey(stepCandidate(c, q.step, usableCpus, numaNodes)) === candidateKey(c)));
	// A step's figure is measured on top of the steps it must follow: alone, it brings theirs too.
	const own = steps.map((p, i) => p.logGain + steps.reduce((sum, q, j) => sum + (j !== i && holds[i]![j] && (p.step.recipe.after ?? []).includes(q.step.recipe.id) ? q.logGain : 0), 0));
	// The runtimes a walk can end on, and which steps act on each (a step that names none acts on whichever is current, where it changes something).
	const runtimes = [...new Set([base.config.backend, ...made.map(c => c.config.backend)])];
	const actsOn = runtimes.map(runtime => {
		const start = runtime === base.config.backend ? base : applyChanges(base, {probe: {backend: runtime}}, '');
		return steps.map((p, i) => {
			if (p.step.changes.probe?.backend !== undefined) return made[i]!.config.backend === runtime && candidateKey(made[i]!) !== candidateKey(base);
			const next = stepCandidate(start, p.step, usableCpus, numaNodes);
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

/** A planned step's expected gain as the plan note says it. */
export function describeGain(e: Expectation): string {
	const [lo, hi] = e.gain;
	const range = Math.abs(hi - lo) < 0.005 ? `${midGain(e.gain).toFixed(2)}×` : `${lo.toFixed(2)}–${hi.toFixed(2)}×`;
	return e.known ? `expected ${range}` : `unknown here, prior ${range}`;
}
