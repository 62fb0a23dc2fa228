// The walk as the interactive face follows it (pure): the core's SessionEvents folded into
// a RunState, a log of finished steps and notes, the probe running now with its live
// figures, and the selectors the running screen reads.
import type {Candidate, Decision, ModelSpec, ProbePhase, ProbeRecord, SessionEvent} from '../core/types.js';

/** One probe's worth of live figures, replaced by a finished entry at its end. */
export interface LiveStep {
	stepId: string;
	title: string;
	index: number;
	candidate: Candidate;
	budgetSeconds: number;
	startedAt: number;
	phase: ProbePhase | null;
	samplesPerSecond: number | null;
	iterations: number | null;
	relativeCi: number | null;
}

/** A line of finished work: a decided step (with the probe records behind it), or a note. */
export type LogEntry =
	| {kind: 'step'; key: string; title: string; records: ProbeRecord[]; decision: Decision | null}
	| {kind: 'note'; key: string; level: 'info' | 'warning'; message: string};

export interface RunState {
	startedAt: number | null;
	budgetSeconds: number;
	log: LogEntry[];
	/** Records whose decision has not arrived yet (a close call is re-measured first). */
	pending: ProbeRecord[];
	live: LiveStep | null;
	decisions: Decision[];
	error: string | null;
	ended: boolean;
	/** The model as the session measures it (its task says samples/s or tokens/s); null before the session starts. */
	model: ModelSpec | null;
}


export function emptyRun(budgetSeconds: number): RunState {
	return {startedAt: null, budgetSeconds, log: [], pending: [], live: null, decisions: [], error: null, ended: false, model: null};
}

/** One SessionEvent folded into the run: at `at` (ms), as the face received it. */
export function onEvent(run: RunState, e: SessionEvent, at: number): RunState {
	switch (e.type) {
		case 'session-start':
			return {...run, startedAt: at, budgetSeconds: e.budgetSeconds, model: e.model};
		case 'step-start': {
			const flushed = related(run.pending, e.stepId) ? run : flush(run);
			const live: LiveStep = {
				stepId: e.stepId,
				title: e.title,
				index: e.index,
				candidate: e.candidate,
				budgetSeconds: e.budgetSeconds,
				startedAt: at,
				phase: null,
				samplesPerSecond: null,
				iterations: null,
				relativeCi: null,
			};
			return {...flushed, live};
		}
		case 'probe': {
			const p = e.event;
			if (p.type === 'log' && p.level === 'warning') return addNote(run, 'warning', p.message);
			if (!run.live || run.live.stepId !== e.stepId) return run;
			if (p.type === 'phase') return {...run, live: {...run.live, phase: p.phase}};
			if (p.type === 'progress') {
				return {...run, live: {...run.live, samplesPerSecond: p.samplesPerSecond, iterations: p.iterations, relativeCi: p.relativeCi}};
			}
			return run;
		}
		case 'step-end':
			return {...run, live: run.live?.stepId === e.stepId ? null : run.live, pending: [...run.pending, e.record]};
		case 'decision': {
			const d = e.decision;
			const mine = run.pending.filter(r => belongs(r.stepId, d.stepId));
			const entry: LogEntry = {kind: 'step', key: `${d.stepId}#${run.log.length}`, title: d.title, records: mine, decision: d};
			return {...run, decisions: [...run.decisions, d], pending: run.pending.filter(r => !mine.includes(r)), log: [...run.log, entry]};
		}
		case 'note':
			return addNote(run, e.level, e.message);
		case 'session-end':
			return {...flush(run), live: null, ended: true, error: e.error};
	}
}

/** "03-channels-last-recheck" belongs to step "03-channels-last". */
function belongs(recordStepId: string, stepId: string): boolean {
	return recordStepId === stepId || recordStepId.startsWith(`${stepId}-`);
}

function related(pending: ProbeRecord[], stepId: string): boolean {
	const root = pending[0]?.stepId;
	return root !== undefined && belongs(stepId, root);
}

/** Records that will get no decision (verification probes) become entries of their own. */
function flush(run: RunState): RunState {
	if (run.pending.length === 0) return run;
	const entries: LogEntry[] = run.pending.map((r, i) => ({kind: 'step', key: `${r.stepId}#${run.log.length + i}`, title: r.title, records: [r], decision: null}));
	return {...run, pending: [], log: [...run.log, ...entries]};
}

function addNote(run: RunState, level: 'info' | 'warning', message: string): RunState {
	return {...run, log: [...run.log, {kind: 'note', key: `note#${run.log.length}`, level, message}]};
}

/** Why the walk has no result: the failed baseline's reason, else the session's error. */
export function baselineFailure(run: RunState): string {
	const d = run.decisions.find(x => x.stepId === 'baseline' && x.outcome === 'failed');
	return d?.reason ?? run.error ?? 'the baseline probe failed: nothing to compare with';
}


/** Baseline and best-so-far throughput, from the decisions made so far. */
export function bestSoFar(run: RunState): {baseline: number | null; best: number | null; title: string | null} {
	let baseline: number | null = null;
	let best: number | null = null;
	let title: string | null = null;
	for (const d of run.decisions) {
		if (d.outcome === 'baseline' && d.samplesPerSecond !== null) {
			baseline = d.samplesPerSecond;
			best ??= baseline;
			title ??= d.title;
		}
		// The walk keeps a step only when it beats the current best, so the last kept one is the best.
		if (d.outcome === 'kept' && d.samplesPerSecond !== null) {
			best = d.samplesPerSecond;
			title = d.title;
		}
	}
	return {baseline, best, title};
}

/** Seconds since the session started (0 before it). */
export function elapsedSeconds(run: RunState, now: number): number {
	return run.startedAt === null ? 0 : Math.max(0, (now - run.startedAt) / 1000);
}
