// How the walk words a step's decision (pure): why a step that was not faster is dropped,
// a paired comparison's verdict in figures, a probe's failure, a ratio as a percentage, a
// step's growth in peak memory.
import type {PairedOutcome} from './walk-inputs.js';
import {isAllocatorFile} from '../machine/allocators.js';
import {formatMiB} from '../report/summary.js';
import type {ProbeRecord, ProbeResult} from '../types.js';

/** A step that grows the probe's peak resident memory by this factor or more says so in its decision. */
export const MEMORY_GROWTH_NOTE = 1.5;

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

/** "; peak RSS 410 → 1,950 MiB (4.8×)" where a step grew the probe's peak resident memory by MEMORY_GROWTH_NOTE or more, else "". */
export function memoryGrowth(before: ProbeResult, after: ProbeResult): string {
	const [a, b] = [before.peakRssBytes, after.peakRssBytes];
	if (!a || !b || b / a < MEMORY_GROWTH_NOTE) return '';
	return `; peak RSS ${formatMiB(a)} → ${formatMiB(b)} MiB (${(b / a).toFixed(1)}×)`;
}

/**
 * An allocator step whose library the probe's process never mapped (the loader ignores an
 * LD_PRELOAD it cannot load, e.g. one built for another architecture) measured glibc under
 * the allocator's name: the reason to drop it, or null. Probes that do not report what they
 * mapped (older reports, the UI tests' fake probe) are taken at their word.
 */
export function preloadFailure(env: Record<string, string>, result: ProbeResult): string | null {
	const mapped = result.allocators;
	if (!mapped || !env['LD_PRELOAD']) return null;
	const named = env['LD_PRELOAD'].split(/[:\s]+/).filter(Boolean).map(p => p.split('/').at(-1)!);
	// The process maps the file a soname links to: libtcmalloc.so.4 is libtcmalloc.so.4.5.10 there.
	const missing = named.filter(name => isAllocatorFile(name) && !mapped.some(m => m === name || m.startsWith(`${name}.`)));
	return missing.length ? `LD_PRELOAD names ${missing.join(', ')}, but the probe's process never loaded it: the step measured the default allocator` : null;
}
