// "Is B really faster than A?" — decisions from confidence intervals, never from
// single numbers. Pure functions: the planner and its tests call them directly.
import type {Interval, OutputCheck, ProbeResult, TokenCheck} from '../types.js';

export type Verdict = 'faster' | 'not-faster' | 'close';

export interface Comparison {
	verdict: Verdict;
	/** b.median / a.median */
	ratio: number;
	reason: string;
}

export interface CompareOptions {
	/** Smallest gain worth a change in the deployed configuration (0.02 = 2%). */
	minGain: number;
	/**
	 * How much a fresh process varies on this machine, relative (0.03 = ±3%): a floor
	 * under each interval's half-width, since one probe's own CI cannot see it.
	 */
	noise?: number;
}

export const defaultCompareOptions: CompareOptions = {minGain: 0.02};

const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;

/**
 * Faster: the gain clears minGain and the intervals do not overlap.
 * Close: the medians say faster by minGain but the intervals overlap — re-measure.
 * Otherwise not faster (slower, or a gain too small to be worth a change).
 */
export function compareThroughput(a: Interval, b: Interval, options: CompareOptions = defaultCompareOptions): Comparison {
	const ratio = b.median / a.median;
	const enough = ratio >= 1 + options.minGain;
	const noise = options.noise ?? 0;
	const aHigh = Math.max(a.ciHigh, a.median * (1 + noise));
	const bLow = Math.min(b.ciLow, b.median * (1 - noise));
	if (enough && bLow > aHigh) {
		// Say what was decided on: the probes' own intervals, or the floor of what a fresh
		// process varies here when that is wider (it usually is).
		const floor = noise > 0 && (a.median * (1 + noise) >= a.ciHigh || b.median * (1 - noise) <= b.ciLow);
		return {verdict: 'faster', ratio, reason: floor ? `${pct(ratio)}, beyond the ±${(noise * 100).toFixed(1)}% a fresh process varies here` : `${pct(ratio)}, beyond both probes' 95% intervals`};
	}
	if (enough) {
		return {verdict: 'close', ratio, reason: `${pct(ratio)} but the confidence intervals overlap`};
	}
	if (ratio >= 1) {
		return {verdict: 'not-faster', ratio, reason: `${pct(ratio)}, below the ${Math.round(options.minGain * 100)}% worth a change`};
	}
	if (ratio > 1 - options.minGain) return {verdict: 'not-faster', ratio, reason: `${pct(ratio)}: no real gain`};
	return {verdict: 'not-faster', ratio, reason: `${pct(ratio)}: slower`};
}

export interface CheckThresholds {
	minCosine: number;
	minTop1: number;
	/** The largest relative drop of the model's evaluate() score from the fp32 eager baseline's (0.01 = 1%). */
	maxAccuracyDrop: number;
}

export const defaultCheckThresholds: CheckThresholds = {minCosine: 0.99, minTop1: 0.99, maxAccuracyDrop: 0.01};

/** Null when the evaluate() score holds within maxAccuracyDrop of the baseline's (or there is none), else why not. */
export function scoreFailure(score: number | undefined, reference: number | null, maxDrop: number): string | null {
	if (score === undefined || reference === null) return null;
	const floor = reference - Math.abs(reference) * maxDrop;
	if (Number.isFinite(score) && score >= floor) return null;
	return `evaluate() score ${formatScore(score)} is more than ${(maxDrop * 100).toFixed(maxDrop < 0.01 ? 2 : 0)}% below the fp32 baseline's ${formatScore(reference)}`;
}

function formatScore(value: number): string {
	return Number.isFinite(value) ? value.toPrecision(4) : String(value);
}

/** Null when the output check passes (or was not made), else the reason it fails. */
export function checkFailure(check: OutputCheck | null, t: CheckThresholds = defaultCheckThresholds): string | null {
	if (!check) return null;
	if (!(check.cosine >= t.minCosine)) {
		return `output check failed: cosine ${check.cosine.toFixed(4)} < ${t.minCosine}`;
	}
	if (check.top1Agreement !== null && !(check.top1Agreement >= t.minTop1)) {
		return `output check failed: top-1 agreement ${(check.top1Agreement * 100).toFixed(1)}% < ${(t.minTop1 * 100).toFixed(0)}%`;
	}
	// Generation: the greedy tokens hold to the same bound as top-1 (the share of sequences identical to fp32 eager's).
	const tokens = check.tokens;
	if (tokens && tokens.sequences > 0 && !(tokens.identical / tokens.sequences >= t.minTop1)) {
		return `output check failed: ${describeTokenCheck(tokens)} (needs ${(t.minTop1 * 100).toFixed(0)}%)`;
	}
	return null;
}

/** "3 of 4 sequences identical to fp32 eager over the first 32 tokens; the first difference at token 17". */
export function describeTokenCheck(tokens: TokenCheck): string {
	const first = tokens.firstDivergence === null ? '' : `; the first difference at token ${tokens.firstDivergence + 1}`;
	return `${tokens.identical} of ${tokens.sequences} sequence${tokens.sequences === 1 ? '' : 's'} identical to fp32 eager's greedy tokens over the first ${tokens.compared}${first}`;
}

/** The latency objectives: p99 per batch (generation: between tokens), and a generating model's time to the first token (p99). */
export interface LatencyBounds {
	maxLatencyMs: number | null;
	maxTtftMs?: number | null;
}

/** Null when the latency objectives hold (or there are none), else why not. */
export function latencyFailure(result: ProbeResult, bounds: LatencyBounds): string | null {
	const {maxLatencyMs, maxTtftMs = null} = bounds;
	if (maxLatencyMs !== null && result.latencyMs.p99 > maxLatencyMs) {
		return `p99 ${result.generation ? 'time between tokens' : 'batch latency'} ${result.latencyMs.p99.toFixed(1)} ms exceeds --max-latency-ms ${maxLatencyMs}`;
	}
	const ttft = result.generation?.ttftMs.p99;
	if (maxTtftMs !== null && ttft !== undefined && ttft > maxTtftMs) return `p99 time to first token ${ttft.toFixed(1)} ms exceeds --max-ttft-ms ${maxTtftMs}`;
	return null;
}

/** Two measurements of one configuration, pooled: the mean of medians and of bounds. */
export function poolIntervals(a: Interval, b: Interval): Interval {
	return {median: (a.median + b.median) / 2, ciLow: (a.ciLow + b.ciLow) / 2, ciHigh: (a.ciHigh + b.ciHigh) / 2};
}

/**
 * Process-to-process variation from two measurements of the same configuration, as a
 * relative half-width: 1.5 × the relative difference (≈ 95% for two normal draws),
 * kept between 1% and 15% so one odd pair neither blinds nor paralyses the walk.
 */
export function noiseFromRepeat(a: Interval, b: Interval): number {
	const mean = (a.median + b.median) / 2;
	const spread = Math.abs(a.median - b.median) / mean;
	return Math.min(0.15, Math.max(0.01, 1.5 * spread));
}

/** Two-sided 95% Student t quantiles for 1..30 degrees of freedom. */
const t95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** The geometric mean ratio and its 95% t-interval, from per-pair ratios (candidate / incumbent). */
export function pairedInterval(ratios: number[]): {ratio: number; low: number; high: number} {
	const logs = ratios.filter(r => r > 0 && Number.isFinite(r)).map(r => Math.log(r));
	const n = logs.length;
	if (n === 0) return {ratio: NaN, low: NaN, high: NaN};
	const mean = logs.reduce((a, b) => a + b, 0) / n;
	if (n === 1) return {ratio: Math.exp(mean), low: 0, high: Infinity};
	const sd = Math.sqrt(logs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
	const half = (t95[Math.min(n - 2, t95.length - 1)] ?? 1.96) * sd / Math.sqrt(n);
	return {ratio: Math.exp(mean), low: Math.exp(mean - half), high: Math.exp(mean + half)};
}
