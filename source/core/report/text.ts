// Durations, probe results, failures and decisions as short text: one wording for the
// headless log, the probe command and the Ink screen (which therefore never imports the
// headless face).
import {describeContention} from '../machine/contention.js';
import {rateUnit} from './summary.js';
import type {Decision, ProbeFailure, ProbeResult} from '../types.js';

export function formatDuration(seconds: number): string {
	if (seconds < 90) return `${Math.round(seconds)}s`;
	const m = Math.floor(seconds / 60);
	const s = Math.round(seconds % 60);
	return s ? `${m}m${String(s).padStart(2, '0')}s` : `${m}m`;
}

export function formatResult(r: ProbeResult): string {
	const s = r.samplesPerSecond;
	const half = ((s.ciHigh - s.ciLow) / 2 / s.median) * 100;
	const tokens = r.check?.tokens ? `, tokens ${r.check.tokens.identical}/${r.check.tokens.sequences} identical over ${r.check.tokens.compared}` : '';
	const check = r.check ? `, cosine ${r.check.cosine.toFixed(4)}${r.check.top1Agreement === null ? '' : `, top-1 ${(r.check.top1Agreement * 100).toFixed(0)}%`}${tokens}` : '';
	const on = r.check?.data === 'samples' ? ` on ${r.check.rows ?? '?'} real samples` : '';
	const score = r.score === undefined ? '' : `, evaluate() ${r.score.toPrecision(4)}`;
	const busy = r.contention?.contended ? ` — CONTENDED: ${describeContention(r.contention)}` : '';
	const malloc = r.allocators?.length ? `, ${r.allocators.join(' + ')} loaded` : '';
	const reused = r.inductorCache?.hits ? `, inductor cache: ${r.inductorCache.hits} of ${r.inductorCache.hits + r.inductorCache.misses} graphs reused` : '';
	const latency = r.generation ? `first token ${r.generation.ttftMs.p50.toFixed(1)} ms, p99 ${r.latencyMs.p99.toFixed(1)} ms between tokens` : `p99 ${r.latencyMs.p99.toFixed(1)} ms/batch`;
	return `${s.median.toFixed(1)} ${rateUnit(r)} ±${half.toFixed(1)}%, ${latency}${check}${on}${score}${reused}${malloc}${busy}`;
}

export function formatFailure(f: ProbeFailure): string {
	return `failed (${f.code}): ${f.message}${f.hint ? `\n      hint: ${f.hint}` : ''}`;
}

export function formatDecision(d: Decision): string {
	const verb = {baseline: 'baseline', kept: 'kept', dropped: 'dropped', failed: 'failed', skipped: 'skipped'}[d.outcome];
	return `${verb}: ${d.reason}`;
}
