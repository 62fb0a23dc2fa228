// The only place the interactive face touches the outside world: each screen that
// waits on work starts it here once, and the outcome comes back as an action.
import {useEffect} from 'react';
import type {Dispatch} from 'react';
import type {TuneOptions} from '../../core/walk/index.js';
import type {UiDeps} from '../deps.js';
import {preferencesToSave} from '../state.js';
import type {Action, State} from '../state.js';

export interface EffectContext {
	deps: UiDeps;
	tune: TuneOptions;
	controller: AbortController;
}

function message(error: unknown): string {
	return error instanceof Error ? error.message : String(error);
}

export function useSessionEffects(state: State, dispatch: Dispatch<Action>, context: EffectContext): void {
	useEffect(() => {
		if (state.ending) return;
		startWork(state, dispatch, context);
		// Work starts on entering a screen, once; the state it needs was set by that same transition.
		// eslint-disable-next-line react-hooks/exhaustive-deps
	}, [state.screen]);
}

/** The work the screen just entered waits on, if any. */
function startWork(state: State, dispatch: Dispatch<Action>, context: EffectContext): void {
	switch (state.screen) {
		case 'detecting':
		case 'rechecking':
			return startPrepare(state, dispatch, context);
		case 'installing':
			return startInstall(dispatch, context);
		case 'running':
			return startSession(state, dispatch, context);
		case 'planning':
			return startPlanning(state, dispatch, context);
		case 'writing':
			return startWriting(state, dispatch, context);
		default:
			return;
	}
}

/** Read the machine, Python and the recipes (again, for a chosen model). */
function startPrepare(state: State, dispatch: Dispatch<Action>, {deps, tune, controller: {signal}}: EffectContext): void {
	const model = state.model ?? tune.model;
	deps.prepare({python: tune.python, model, signal}).then(
		prepared => dispatch({type: 'prepared', prepared}),
		(error: unknown) => dispatch({type: 'prepare-failed', message: message(error), environment: deps.isEnvironmentError?.(error) ?? false}),
	);
}

/** `setup --system`, its output line by line. */
function startInstall(dispatch: Dispatch<Action>, {deps, controller: {signal}}: EffectContext): void {
	if (!deps.installSystem) {
		dispatch({type: 'installed', ok: false});
		return;
	}
	deps.installSystem({onLine: line => dispatch({type: 'install-line', line}), signal}).then(
		done => dispatch({type: 'installed', ok: done.ok}),
		(error: unknown) => {
			dispatch({type: 'install-line', line: message(error)});
			dispatch({type: 'installed', ok: false});
		},
	);
}

/** The walk, with the choices remembered for next time. */
function startSession(state: State, dispatch: Dispatch<Action>, {deps, tune, controller: {signal}}: EffectContext): void {
	const {prepared, model} = state;
	if (!prepared || !model) return;
	try {
		deps.settings?.savePreferences(preferencesToSave(state));
	} catch {
		// Preferences are a convenience: a read-only config dir must not stop a run.
	}
	deps.runSession(
		prepared,
		{
			model,
			budgetSeconds: state.budgetSeconds,
			maxLatencyMs: tune.maxLatencyMs,
			maxTtftMs: tune.maxTtftMs ?? null,
			recipes: state.selected,
			resume: tune.resume,
			thresholds: {minCosine: tune.minCosine, minTop1: tune.minTop1, maxAccuracyDrop: tune.maxAccuracyDrop},
			signal,
			settings: deps.settings,
			// Someone is watching: a machine that stays busy is said, figures marked, and the walk goes on.
			quietWaitSeconds: tune.quietWaitSeconds,
			onBusy: 'go-on',
		},
		event => dispatch({type: 'event', event, at: Date.now()}),
	).then(
		result => dispatch({type: 'session-returned', result, aborted: signal.aborted}),
		(error: unknown) => dispatch({type: 'session-failed', message: message(error), aborted: signal.aborted}),
	);
}

/** What the files will be, for the confirm screen. */
function startPlanning(state: State, dispatch: Dispatch<Action>, {deps, tune}: EffectContext): void {
	const {prepared, model, result} = state;
	if (!prepared || !model || !result) return;
	const startedAt = new Date(state.run.startedAt ?? Date.now());
	const chosen: TuneOptions = {...tune, model, budgetSeconds: state.budgetSeconds, recipes: state.selected};
	deps.planDelivery({result, prepared, tune: chosen, startedAt}).then(
		plan => dispatch({type: 'planned', plan}),
		(error: unknown) => dispatch({type: 'plan-failed', message: message(error)}),
	);
}

/** The files written as planned. */
function startWriting(state: State, dispatch: Dispatch<Action>, {deps}: EffectContext): void {
	if (!state.plan) return;
	deps.commitDelivery(state.plan).then(
		delivered => dispatch({type: 'written', delivered}),
		(error: unknown) => dispatch({type: 'write-failed', message: message(error)}),
	);
}
