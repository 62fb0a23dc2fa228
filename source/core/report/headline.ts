// The figures to quote for a finished walk: the back-to-back verification when there
// is one, else the walk's own. One function, so a page never mixes the walk's winner
// rate with the verified ratio. Works on a WalkResult and on a report.json alike.
import type {ProbeResult} from '../types.js';

export interface HeadlineSource {
	baseline: {result: ProbeResult};
	best: {result: ProbeResult; speedup: number};
	verification: {baseline: ProbeResult; best: ProbeResult; speedup: number} | null;
}

export interface Headline {
	baseline: ProbeResult;
	best: ProbeResult;
	speedup: number;
	/** True when baseline and winner were measured back to back at the end. */
	verified: boolean;
}

export function headlineFigures(run: HeadlineSource): Headline {
	const v = run.verification;
	if (v) return {baseline: v.baseline, best: v.best, speedup: v.speedup, verified: true};
	return {
		baseline: run.baseline.result,
		best: run.best.result,
		speedup: run.best.result.samplesPerSecond.median / run.baseline.result.samplesPerSecond.median,
		verified: false,
	};
}
