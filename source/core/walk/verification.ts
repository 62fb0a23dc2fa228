// The final verification's figures, from its pairs of fresh processes (pure): the ratio
// and its interval, the runs quoted beside it, and what to say when the walk's own ratio
// falls outside the interval. The walk runs the pairs (verification-run.ts).
import {pairedInterval} from './stats.js';
import type {ProbeRecord, ProbeResult, Verification} from '../types.js';

/**
 * The verification from its pairs: the geometric mean ratio, its interval (two pairs or
 * more), and for the figures quoted beside it each side's middle run by its median.
 */
export function verificationOf(pairs: Array<{a: ProbeResult; b: ProbeResult}>): Verification {
	const ratios = pairs.map(p => p.b.samplesPerSecond.median / p.a.samplesPerSecond.median);
	const middle = (runs: ProbeResult[]) => [...runs].sort((x, y) => x.samplesPerSecond.median - y.samplesPerSecond.median)[Math.floor((runs.length - 1) / 2)]!;
	if (pairs.length === 1) return {baseline: pairs[0]!.a, best: pairs[0]!.b, speedup: ratios[0]!, interval: null};
	const {ratio, low, high} = pairedInterval(ratios);
	return {baseline: middle(pairs.map(p => p.a)), best: middle(pairs.map(p => p.b)), speedup: ratio, interval: {low, high, ratios}};
}

/**
 * The walk's own ratio against the verified one's interval: outside it, said, with the
 * cause where the probes show one (their CPUs shared with other processes); else drift
 * or a first-run effect. Null when they agree or there is no interval.
 */
export function walkAgainstVerified(baseline: ProbeResult, best: ProbeResult, v: Verification, probes: ProbeRecord[]): string | null {
	if (!v.interval) return null;
	const walk = best.samplesPerSecond.median / baseline.samplesPerSecond.median;
	if (walk >= v.interval.low && walk <= v.interval.high) return null;
	const busy = probes.filter(p => p.result?.contention?.contended).length;
	const cause = busy > 0
		? `${busy} probe${busy === 1 ? '' : 's'} of the walk shared ${busy === 1 ? 'its' : 'their'} CPUs with other processes`
		: `no probe was measured on a busy machine, so the machine's speed moved between the walk and the end (frequency, neighbours), or the walk's figure was a first-run effect`;
	return `The walk measured the winner at ${walk.toFixed(2)}× the baseline, outside the verified ${v.speedup.toFixed(2)}× [${v.interval.low.toFixed(2)}–${v.interval.high.toFixed(2)}]: ${cause}. The verified figure is the one quoted.`;
}
