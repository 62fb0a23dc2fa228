// The figures to quote for a finished walk: the back-to-back verification when there
// is one, else the walk's own. One function, so a page never mixes the walk's winner
// rate with the verified ratio. Works on a WalkResult and on a report.json alike.
import type {ProbeResult, RatioInterval, Verification} from '../types.js';

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
	/** The verified ratio's 95% interval over pairs of fresh processes (null: one pair, or not verified). */
	interval: RatioInterval | null;
}

export function headlineFigures(run: HeadlineSource): Headline {
	const v = run.verification;
	if (v) {
		const interval = v.interval && v.interval.ratios.length > 1 && Number.isFinite(v.interval.high) ? v.interval : null;
		return {baseline: v.baseline, best: v.best, speedup: v.speedup, verified: true, interval};
	}
	return {
		baseline: run.baseline.result,
		best: run.best.result,
		speedup: run.best.result.samplesPerSecond.median / run.baseline.result.samplesPerSecond.median,
		verified: false,
		interval: null,
	};
}

function times(ratio: number, sign: string): string {
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

/** "over 3 pairs of fresh processes" (or nothing without an interval). */
export function intervalWords(h: Pick<Headline, 'interval'>): string {
	return h.interval ? `95% interval over ${h.interval.ratios.length} pairs of fresh processes` : '';
}
