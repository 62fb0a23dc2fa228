// Session events as plain text lines for stderr: calm, greppable, no colour, no
// cursor tricks, so a provisioning log reads the same story the Ink screen tells.
import {formatDecision, formatDuration, formatFailure, formatResult} from '../core/report/index.js';
import {describeCandidate, describeGeneration, formatRate, intervalWords, rateUnit, speedupText, verdict, describeKernels, kernelSummary} from '../core/report/index.js';
import type {SessionEvent, WalkResult} from '../core/types.js';

// The shared wording (core/text.ts), re-exported: the headless commands and tests read it from here.
export {describeCandidate, formatDecision, formatDuration, formatFailure, formatResult};

/** A text renderer with a little state (progress is printed at most every few seconds). */
export function createTextRenderer(write: (line: string) => void): (e: SessionEvent) => void {
	let lastProgress = 0;
	let unit = rateUnit(null);
	return e => {
		switch (e.type) {
			case 'session-start':
				unit = rateUnit(e.model);
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
					write(`    ${p.samplesPerSecond.toFixed(1)} ${unit} after ${p.iterations} iterations`);
				}
				if (p.type === 'log' && p.level === 'warning') write(`    warning: ${p.message}`);
				break;
			}
			case 'step-end':
				// A probe stopped for the budget is told once, by its 'skipped' decision.
				if (e.record.failure?.code !== 'budget') write(`    ${e.record.result ? formatResult(e.record.result) : formatFailure(e.record.failure!)}`);
				if (e.record.result?.kernels) {
					write(`    kernels: ${kernelSummary(e.record.result.kernels)}`);
					for (const w of e.record.result.kernels.warnings) write(`    warning: ${w}`);
				}
				break;
			case 'decision':
				// A failure was printed with its probe already; say it once.
				if (e.decision.outcome !== 'failed') write(`    ${formatDecision(e.decision)}`);
				break;
			case 'note':
				write(`${e.level === 'warning' ? 'warning' : 'note'}: ${e.message}`);
				break;
			case 'session-end':
				if (e.result) writeResult(e.result, write);
				else if (e.error) write(`error: ${e.error}`);
				break;
		}
	};
}

/** The finished walk's verdict, as the last lines of the log. */
function writeResult(r: WalkResult, write: (line: string) => void): void {
	write('');
	write(`${r.interrupted ? 'Stopped early; best so far' : 'Best'}: ${describeCandidate(r.best.candidate)}`);
	const said = verdict(r);
	const h = said.headline;
	write(`      ${formatRate(h.best.samplesPerSecond.median)} ${rateUnit(h.best)}, ${speedupText(h)} the baseline (${formatRate(h.baseline.samplesPerSecond.median)} ${rateUnit(h.best)})${h.verified ? `, verified back to back${intervalWords(h) ? ` (${intervalWords(h)})` : ''}` : ', from the walk (not re-verified)'}`);
	if (h.best.generation) write(`      ${describeGeneration(h.best.generation)}`);
	write(`      ${said.accuracy.text}`);
	for (const line of said.limits?.lines ?? []) write(`      ${line}`);
	if (said.kernels) write(`      kernels: ${describeKernels(said.kernels)}`);
	if (said.contendedNote) write(`warning: ${said.contendedNote}`);
}
