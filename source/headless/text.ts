// Session events as plain text lines for stderr: calm, greppable, no colour, no
// cursor tricks, so a provisioning log reads the same story the Ink screen tells.
import {contendedSummary, describeContention} from '../core/contention.js';
import {limitsNote} from '../core/limits.js';
import {accuracyNote, describeCandidate} from '../core/summary.js';
import type {Decision, ProbeFailure, ProbeResult, SessionEvent} from '../core/types.js';

export {describeCandidate};

export function formatDuration(seconds: number): string {
	if (seconds < 90) return `${Math.round(seconds)}s`;
	const m = Math.floor(seconds / 60);
	const s = Math.round(seconds % 60);
	return s ? `${m}m${String(s).padStart(2, '0')}s` : `${m}m`;
}

export function formatResult(r: ProbeResult): string {
	const s = r.samplesPerSecond;
	const half = ((s.ciHigh - s.ciLow) / 2 / s.median) * 100;
	const check = r.check ? `, cosine ${r.check.cosine.toFixed(4)}${r.check.top1Agreement === null ? '' : `, top-1 ${(r.check.top1Agreement * 100).toFixed(0)}%`}` : '';
	const on = r.check?.data === 'samples' ? ` on ${r.check.rows ?? '?'} real samples` : '';
	const score = r.score === undefined ? '' : `, evaluate() ${r.score.toPrecision(4)}`;
	const busy = r.contention?.contended ? ` — CONTENDED: ${describeContention(r.contention)}` : '';
	return `${s.median.toFixed(1)} samples/s ±${half.toFixed(1)}%, p99 ${r.latencyMs.p99.toFixed(1)} ms/batch${check}${on}${score}${busy}`;
}

export function formatFailure(f: ProbeFailure): string {
	return `failed (${f.code}): ${f.message}${f.hint ? `\n      hint: ${f.hint}` : ''}`;
}

export function formatDecision(d: Decision): string {
	const verb = {baseline: 'baseline', kept: 'kept', dropped: 'dropped', failed: 'failed', skipped: 'skipped'}[d.outcome];
	return `${verb}: ${d.reason}`;
}

/** A text renderer with a little state (progress is printed at most every few seconds). */
export function createTextRenderer(write: (line: string) => void): (e: SessionEvent) => void {
	let lastProgress = 0;
	return e => {
		switch (e.type) {
			case 'session-start':
				write(`Tuning ${e.model.name ?? e.model.path} on ${e.usableCpus} usable CPU${e.usableCpus === 1 ? '' : 's'}, budget ${formatDuration(e.budgetSeconds)}`);
				break;
			case 'step-start':
				lastProgress = Date.now();
				write(`[${e.index}] ${e.title} — ${describeCandidate(e.candidate)}`);
				break;
			case 'probe': {
				const p = e.event;
				// Slow phases are announced when they begin (an event with seconds marks the end).
				if (p.type === 'phase' && p.seconds === undefined && ['export', 'quantize', 'compile'].includes(p.phase)) write(`    ${p.phase}…`);
				if (p.type === 'phase' && p.seconds !== undefined && p.seconds >= 5) write(`    ${p.phase} took ${formatDuration(p.seconds)}`);
				if (p.type === 'progress' && Date.now() - lastProgress > 5000) {
					lastProgress = Date.now();
					write(`    ${p.samplesPerSecond.toFixed(1)} samples/s after ${p.iterations} iterations`);
				}
				if (p.type === 'log' && p.level === 'warning') write(`    warning: ${p.message}`);
				break;
			}
			case 'step-end':
				// A probe stopped for the budget is told once, by its 'skipped' decision.
				if (e.record.failure?.code !== 'budget') write(`    ${e.record.result ? formatResult(e.record.result) : formatFailure(e.record.failure!)}`);
				break;
			case 'decision':
				// A failure was printed with its probe already; say it once.
				if (e.decision.outcome !== 'failed') write(`    ${formatDecision(e.decision)}`);
				break;
			case 'note':
				write(`${e.level === 'warning' ? 'warning' : 'note'}: ${e.message}`);
				break;
			case 'session-end':
				if (e.result) {
					const r = e.result;
					write('');
					write(`${r.interrupted ? 'Stopped early; best so far' : 'Best'}: ${describeCandidate(r.best.candidate)}`);
					write(`      ${(r.verification?.best ?? r.best.result).samplesPerSecond.median.toFixed(1)} samples/s, ${r.best.speedup.toFixed(2)}× the baseline (${(r.verification?.baseline ?? r.baseline.result).samplesPerSecond.median.toFixed(1)} samples/s)${r.verification ? ', verified back to back' : ''}`);
					write(`      ${accuracyNote(r).text}`);
					for (const line of limitsNote(r, r.limits)?.lines ?? []) write(`      ${line}`);
					const busy = contendedSummary(r);
					if (busy) write(`warning: ${busy}`);
				} else if (e.error) {
					write(`error: ${e.error}`);
				}
				break;
		}
	};
}
