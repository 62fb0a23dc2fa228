// What a step is expected to bring and cost on this CPU class: the recipe's own figures
// (recipes/*.json, field "expected"), refined by what this machine measured for the same
// model before (the history). The planner orders the walk by these figures; nothing here
// measures anything.
import type {CpuClass, CpuInfo, ExpectedFigure, Recipe} from '../types.js';

/** CPU classes the recipes' figures are given for; "default" when none fits. */
export type {CpuClass} from '../types.js';

export function cpuClass(cpu: Pick<CpuInfo, 'arch' | 'isa' | 'core'>): CpuClass {
	if (cpu.arch === 'x86_64') {
		if (cpu.isa.amx) return 'x86-amx';
		if (cpu.isa.avx512bf16) return 'x86-avx512-bf16';
		if (cpu.isa.avx512) return 'x86-avx512';
		return 'x86-avx2';
	}
	if (cpu.arch === 'aarch64') {
		// Neoverse cores, named as Graviton generations (Altra and Grace share the cores).
		if (cpu.core === 'Neoverse-N1') return 'graviton2';
		if (cpu.core === 'Neoverse-V1') return 'graviton3';
		if (cpu.core === 'Neoverse-V2' || cpu.core === 'Neoverse-N2') return 'graviton4';
	}
	return 'default';
}

/** Where nothing is known: a small gain at worst neutral, so measured-to-matter steps come first. */
export const MODEST_PRIOR: [number, number] = [1.0, 1.05];
/** A probe's cost when a recipe says nothing (seconds, ResNet-50 on 2 vCPUs, eager). */
export const DEFAULT_COST_SECONDS = 12;
/**
 * The measuring inside a recipe's costSeconds (the rest is start-up, load, compile or
 * conversion, warm-up): the planner keeps that rest as what a probe of the step costs
 * beyond its measurement, scaled to this model, and plans its own measuring time.
 */
export const REFERENCE_MEASURE_SECONDS = 4;

/** What this machine measured for a recipe on this model before (ratio over the incumbent, probe seconds). */
export interface Observed {
	ratio: number;
	costSeconds: number;
	/** How many walks contributed. */
	count: number;
}

export interface Expectation {
	/** Low and high expected factor on samples/s. */
	gain: [number, number];
	/** Seconds one probe of the step costs (ResNet-50, 2 vCPUs; the planner scales it). */
	costSeconds: number;
	/** Where the figure comes from, for the decision trail. */
	source: string;
	/** False when the figure is the modest prior. */
	known: boolean;
}

/** The recipe's expectation on this CPU class, with this machine's history laid over it when there is one. */
export function expectationOf(recipe: Recipe, cls: CpuClass, observed?: Observed): Expectation {
	const byCpu = recipe.expected?.byCpu ?? {};
	const own: ExpectedFigure | undefined = byCpu[cls];
	const fallback: ExpectedFigure | undefined = byCpu['default'];
	const figure = own?.gain ? own : fallback?.gain ? fallback : own ?? fallback;
	const costSeconds = own?.costSeconds ?? fallback?.costSeconds ?? DEFAULT_COST_SECONDS;
	const base: Expectation = figure?.gain
		? {gain: figure.gain, costSeconds, source: figure.source, known: true}
		: {gain: MODEST_PRIOR, costSeconds, source: figure?.source ?? 'no figure: a modest prior', known: false};
	if (!observed || !(observed.ratio > 0)) return base;
	// This machine's own figure counts more the more walks measured it; the recipe's range
	// stays as the spread around it.
	const weight = observed.count / (observed.count + 1);
	const mid = Math.exp(weight * Math.log(observed.ratio) + (1 - weight) * Math.log(midGain(base.gain)));
	const half = (Math.log(base.gain[1]) - Math.log(base.gain[0])) / 2 * (1 - weight / 2);
	return {
		gain: [mid * Math.exp(-half), mid * Math.exp(half)],
		costSeconds: weight * observed.costSeconds + (1 - weight) * costSeconds,
		source: `measured on this machine (${observed.count} walk${observed.count === 1 ? '' : 's'}: ${observed.ratio.toFixed(2)}×), over ${base.source}`,
		known: true,
	};
}

/** The geometric middle of a gain range. */
export function midGain(gain: [number, number]): number {
	return Math.sqrt(gain[0] * gain[1]);
}

/**
 * The expected log gain a step is planned with. Optimistic on purpose (the middle of the
 * range, leaning to the top): a step that may bring 2× is worth measuring before one that
 * surely brings 1%.
 */
export function hopefulLogGain(e: Expectation): number {
	const hopeful = Math.exp(0.4 * Math.log(e.gain[0]) + 0.6 * Math.log(e.gain[1]));
	return Math.log(Math.max(hopeful, 1.0005));
}

/** Value per second: the expected log gain per second of budget. */
export function valuePerSecond(e: Expectation, costSeconds = e.costSeconds): number {
	return hopefulLogGain(e) / Math.max(1, costSeconds);
}
