// How the walk words a step's decision (pure): why a step that was not faster is dropped,
// a paired comparison's verdict in figures, a probe's failure, a ratio as a percentage.
import type {PairedOutcome} from './walk-inputs.js';
import type {ProbeRecord} from '../types.js';

const pct = (ratio: number) => `${ratio >= 1 ? '+' : ''}${((ratio - 1) * 100).toFixed(1)}%`;

/** Why a step that was not faster is dropped, in the words of how the call was settled. */
export function dropReason(cmp: {verdict: string; reason: string}, settled: boolean, remeasured: boolean): string {
	if (cmp.verdict !== 'close') return cmp.reason;
	if (!settled) return `${cmp.reason}: a close call, not settled in the quick pick (batch size is tried again on the tuned configuration)`;
	return remeasured ? `${cmp.reason}, even when re-measured: not a real gain` : `${cmp.reason}, and no time was left to re-measure: not counted`;
}

/** A paired comparison said in figures, and whether its gain is real: above 1 across its whole interval, and at least `minGain`. */
export function pairedVerdict(outcome: PairedOutcome, minGain: number): {real: boolean; reason: string} {
	const said = `paired ${pct(outcome.ratio)} (95% interval ${pct(outcome.low)} to ${pct(outcome.high)}, ${outcome.pairs} alternating pairs)`;
	const real = outcome.low > 1 && outcome.ratio >= 1 + minGain;
	const reason = real ? `${said}: a real gain` : outcome.low > 1 ? `${said}: real but below the ${Math.round(minGain * 100)}% worth a change` : `${said}: not a real gain`;
	return {real, reason};
}

/** A probe's failure as a decision's reason: its message, and its hint when it has one. */
export function failureText(record: ProbeRecord): string {
	const f = record.failure;
	if (!f) return 'no result';
	return f.hint ? `${f.message} (${f.hint})` : f.message;
}
