// The figures to quote for a finished walk: the back-to-back verification when there
// is one, else the walk's own. One function, so a page never mixes the walk's winner
// rate with the verified ratio. Works on a WalkResult and on a report.json alike.
import type {ProbeResult, RatioInterval, Verification} from '../types.js';
import {VERIFY_PAIRS} from '../walk/budget.js';

export interface HeadlineSource {
	baseline: {result: ProbeResult};
	best: {result: ProbeResult; speedup: number};
	verification: Verification | null;
}

export interface Headline {
	baseline: ProbeResult;
	best: ProbeResult;
	speedup: number;
	/** True when baseline and winner were measured back to back at the end. */
	verified: boolean;
	/** The verified ratio's 95% interval over pairs of fresh processes (null: fewer than VERIFY_PAIRS pairs, or not verified). */
	interval: RatioInterval | null;
	/** Each verification pair's ratio (empty: not verified). */
	pairs: number[];
}

export function headlineFigures(run: HeadlineSource): Headline {
	const v = run.verification;
	if (v) {
		const pairs = v.interval?.ratios ?? [v.speedup];
		// Fewer pairs than planned say little about the spread (two pairs: a t-interval ~9× their own gap): their ratios are said instead.
		const interval = v.interval && pairs.length >= VERIFY_PAIRS && Number.isFinite(v.interval.high) ? v.interval : null;
		return {baseline: v.baseline, best: v.best, speedup: v.speedup, verified: true, interval, pairs};
	}
	return {
		baseline: run.baseline.result,
		best: run.best.result,
		speedup: run.best.result.samplesPerSecond.median / run.baseline.result.samplesPerSecond.median,
		verified: false,
		interval: null,
		pairs: [],
	};
}

/** "1.18×"; a tiny ratio keeps two significant digits rather than reading "0.00×". */
export function times(ratio: number, sign = '×'): string {
	return `${ratio > 0 && ratio < 0.1 ? ratio.toPrecision(2) : ratio.toFixed(2)}${sign}`;
}

/**
 * The headline ratio as every face writes it, with its interval where the verification
 * has one: "3.30× [3.10–3.50]". `ascii`: "3.30x [3.10-3.50]" (the env file, report.md).
 */
export function speedupText(h: Pick<Headline, 'speedup' | 'interval'>, opts: {ascii?: boolean} = {}): string {
	const sign = opts.ascii ? 'x' : '×';
	const dash = opts.ascii ? '-' : '–';
	const main = times(h.speedup, sign);
	return h.interval ? `${main} [${times(h.interval.low, '')}${dash}${times(h.interval.high, '')}]` : main;
}

/** "95% interval over 3 pairs of fresh processes"; "2 pairs of fresh processes: 1.67× and 2.16×"; nothing for one pair. */
export function intervalWords(h: Pick<Headline, 'interval' | 'pairs'>, opts: {ascii?: boolean} = {}): string {
	if (h.interval) return `95% interval over ${h.interval.ratios.length} pairs of fresh processes`;
	if (h.pairs.length < 2) return '';
	const sign = opts.ascii ? 'x' : '×';
	return `${h.pairs.length} pairs of fresh processes: ${h.pairs.map(r => times(r, sign)).join(' and ')}`;
}
