// The interactive session as one pure reducer: UI actions (choices, keys) and the
// core's SessionEvents go in, the next state comes out. Effects (prepare, run, write)
// live in hooks/use-session-effects.ts and only dispatch here; everything a screen
// shows is either in this state or derived from it by the selectors below.
import type {Delivered, DeliveryPlan} from '../core/report/index.js';
import {withTask} from '../core/walk/index.js';
import {describeWorkload, modelLabel} from '../core/report/index.js';
import type {Prepared} from '../core/walk/index.js';
import type {Preferences} from '../core/settings.js';
import type {Candidate, Decision, ModelSpec, ProbePhase, ProbeRecord, SessionEvent, WalkResult} from '../core/types.js';
import {exitCodes} from '../core/errors.js';
import {defaultModelKey, defaultSelection, modelChoices, recipeList, rememberOwnModel, toggleable} from './choices.js';

export type Screen =
	| 'detecting' // prepare(): hardware, Python, recipes
	| 'model' // which model
	| 'installing' // setup --system, asked for on the model screen; then detecting again
	| 'own-model' // your own model: its path, then (a .py) its factory, then inputs when not found
	| 'rechecking' // prepare() again: the chosen model takes other recipes
	| 'recipes' // which recipes
	| 'budget' // how long
	| 'running' // the walk
	| 'planning' // planDelivery()
	| 'confirm' // show what will be written, ask
	| 'writing'; // commitDelivery()

/** How the session ended; each maps to one exit code. */
export type Ending =
	| {kind: 'environment'; message: string; hint: string | null}
	| {kind: 'error'; message: string}
	| {kind: 'baseline-failed'; message: string}
	| {kind: 'interrupted'}
	| {kind: 'declined'}
	| {kind: 'written'; delivered: Delivered}
	| {kind: 'write-failed'; message: string};

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

/** What the flags and the stored preferences say; fixed for the whole session. */
export interface Options {
	flagModel: ModelSpec;
	flagRecipes: string[] | undefined;
	flagBudgetSeconds: number;
	/** --yes: take every default, write without asking. */
	yes: boolean;
	preferences: Preferences;
	/** --price-per-hour, for the cost per million inferences (else looked up by instance type). */
	pricePerHour?: number | null;
	/**
	 * The input kind recipes are judged for; when two models share it, recipes need not
	 * be re-checked. Without it, any other model is re-checked.
	 */
	inputKind?: (m: ModelSpec) => string;
}

/** The questions for the user's own model, answered one at a time. */
export interface OwnDraft {
	/** The question being asked. */
	field: 'path' | 'factory' | 'inputShape';
	path: string;
	factory: string;
	inputShape: string;
	/** Why the question is asked again (the model check's message and fix). */
	error: string | null;
}

export interface State {
	options: Options;
	screen: Screen;
	own: OwnDraft | null;
	/** The model check's verdict on the model given with --model, shown on the model screen. */
	modelError: string | null;
	prepared: Prepared | null;
	/** The model `prepared.applicability` was judged for. */
	preparedFor: ModelSpec | null;
	model: ModelSpec | null;
	selected: string[];
	/** Index into recipeList(prepared.applicability). */
	cursor: number;
	budgetSeconds: number;
	run: RunState;
	result: WalkResult | null;
	plan: DeliveryPlan | null;
	/** Ctrl+C seen: probes are being stopped. */
	stopping: boolean;
	/** What `setup --system` printed, when the user asked for it. */
	installLines: string[];
	ending: Ending | null;
}

export type Action =
	| {type: 'prepared'; prepared: Prepared}
	| {type: 'prepare-failed'; message: string; environment: boolean}
	| {type: 'model-chosen'; model: ModelSpec}
	| {type: 'install-system'}
	| {type: 'install-line'; line: string}
	| {type: 'installed'; ok: boolean}
	| {type: 'own-model'}
	| {type: 'own-answer'; value: string}
	| {type: 'own-back'}
	| {type: 'cursor'; delta: number}
	| {type: 'toggle'}
	| {type: 'toggle-all'}
	| {type: 'recipes-done'}
	| {type: 'budget-chosen'; seconds: number}
	| {type: 'event'; event: SessionEvent; at: number}
	| {type: 'session-returned'; result: WalkResult | null; aborted: boolean}
	| {type: 'session-failed'; message: string; aborted: boolean}
	| {type: 'planned'; plan: DeliveryPlan}
	| {type: 'plan-failed'; message: string}
	| {type: 'confirm'; write: boolean}
	| {type: 'written'; delivered: Delivered}
	| {type: 'write-failed'; message: string}
	| {type: 'interrupt'; force?: boolean};

export function initialState(options: Options): State {
	return {
		options,
		screen: 'detecting',
		own: null,
		modelError: null,
		prepared: null,
		preparedFor: null,
		model: null,
		selected: [],
		cursor: 0,
		budgetSeconds: options.flagBudgetSeconds,
		run: emptyRun(options.flagBudgetSeconds),
		result: null,
		plan: null,
		stopping: false,
		installLines: [],
		ending: null,
	};
}

/** tcmalloc or jemalloc is not installed: the machine screen offers `setup --system`. */
export function allocatorMissing(state: State): boolean {
	const a = state.prepared?.detection.allocators;
	return a !== undefined && (a.tcmalloc === null || a.jemalloc === null);
}

function emptyRun(budgetSeconds: number): RunState {
	return {startedAt: null, budgetSeconds, log: [], pending: [], live: null, decisions: [], error: null, ended: false, model: null};
}

export function reduce(state: State, action: Action): State {
	// Once the session has ended nothing moves: late results of cancelled work are dropped.
	if (state.ending) return state;
	switch (action.type) {
		case 'prepared':
			return onPrepared(state, action.prepared);
		case 'prepare-failed':
			return end(state, action.environment ? {kind: 'environment', message: action.message, hint: null} : {kind: 'error', message: action.message});
		case 'model-chosen':
			return state.screen === 'model' ? onModel({...state, own: null, modelError: null}, action.model) : state;
		case 'own-model':
			return state.screen === 'model' ? {...state, screen: 'own-model', own: {field: 'path', path: '', factory: '', inputShape: '', error: null}} : state;
		case 'own-answer':
			return state.screen === 'own-model' && state.own ? onOwnAnswer(state, state.own, action.value.trim()) : state;
		case 'own-back':
			return state.screen === 'own-model' ? {...state, screen: 'model', own: null} : state;
		case 'install-system':
			return state.screen === 'model' && allocatorMissing(state) ? {...state, screen: 'installing', installLines: []} : state;
		case 'install-line':
			return state.screen === 'installing' ? {...state, installLines: [...state.installLines, action.line]} : state;
		case 'installed':
			// Read the machine again: the allocator recipes apply once the libraries are there.
			if (state.stopping) return end(state, {kind: 'interrupted'});
			return state.screen === 'installing' ? {...state, screen: 'detecting'} : state;
		case 'cursor': {
			if (state.screen !== 'recipes') return state;
			const last = recipeList(state.prepared?.applicability ?? []).length - 1;
			return {...state, cursor: Math.max(0, Math.min(last, state.cursor + action.delta))};
		}
		case 'toggle': {
			if (state.screen !== 'recipes') return state;
			const a = recipeList(state.prepared?.applicability ?? [])[state.cursor];
			if (!a || !toggleable(a)) return state;
			const id = a.recipe.id;
			return {...state, selected: state.selected.includes(id) ? state.selected.filter(s => s !== id) : [...state.selected, id]};
		}
		case 'toggle-all': {
			if (state.screen !== 'recipes') return state;
			const all = recipeList(state.prepared?.applicability ?? []).filter(toggleable).map(a => a.recipe.id);
			return {...state, selected: all.every(id => state.selected.includes(id)) ? [] : all};
		}
		case 'recipes-done':
			return state.screen === 'recipes' ? {...state, screen: 'budget'} : state;
		case 'budget-chosen':
			return state.screen === 'budget' ? startRun(state, action.seconds) : state;
		case 'event':
			return {...state, run: onEvent(state.run, action.event, action.at)};
		case 'session-returned':
			if (action.aborted || action.result?.interrupted) return end(state, {kind: 'interrupted'});
			if (!action.result) return end(state, {kind: 'baseline-failed', message: baselineFailure(state.run)});
			return {...state, result: action.result, screen: 'planning'};
		case 'session-failed':
			return end(state, action.aborted ? {kind: 'interrupted'} : {kind: 'error', message: action.message});
		case 'planned':
			if (state.stopping) return end(state, {kind: 'interrupted'});
			return {...state, plan: action.plan, screen: state.options.yes ? 'writing' : 'confirm'};
		case 'plan-failed':
			return end(state, {kind: 'write-failed', message: action.message});
		case 'confirm':
			if (state.screen !== 'confirm') return state;
			return action.write ? {...state, screen: 'writing'} : end(state, {kind: 'declined'});
		case 'written':
			return end(state, {kind: 'written', delivered: action.delivered});
		case 'write-failed':
			return end(state, {kind: 'write-failed', message: action.message});
		case 'interrupt':
			// Probes (and a write in progress) finish stopping first; a second Ctrl+C does not wait.
			if ((state.screen === 'running' || state.screen === 'writing' || state.screen === 'planning' || state.screen === 'installing') && !action.force) {
				return {...state, stopping: true};
			}
			return end(state, {kind: 'interrupted'});
	}
}

function end(state: State, ending: Ending): State {
	return {...state, ending, run: {...state.run, live: null}};
}

function onPrepared(state: State, prepared: Prepared): State {
	const {python} = prepared;
	if (python.problem || !python.interpreter || !python.torch) {
		const problem = python.problem ?? {message: 'No usable Python with torch was found.', hint: 'graviton-tune setup'};
		return end({...state, prepared}, {kind: 'environment', message: problem.message, hint: problem.hint});
	}
	const model = state.model;
	const next: State = {...state, prepared, preparedFor: model ?? state.options.flagModel};
	const check = prepared.model;
	const problem = check && !check.ok && check.code !== 'cancelled' ? `${check.message}${check.hint ? ` — ${check.hint}` : ''}` : null;
	if (model && problem) {
		// Ask again, where the answer was wrong: the factory, the inputs, or the path.
		if (state.own) return {...next, screen: 'own-model', own: {...state.own, field: ownFieldFor(check && !check.ok ? check.code : ''), error: problem}};
		return {...next, screen: 'model', modelError: problem};
	}
	if (model) return askRecipes(next); // re-checked for the chosen model
	if (problem && state.options.flagModel.path) {
		if (state.options.yes) return end(next, {kind: 'error', message: problem});
		return {...next, screen: 'model', modelError: problem};
	}
	if (state.options.yes) return onModel({...next, screen: 'model'}, defaultModel(next));
	return {...next, screen: 'model'};
}

/** Which own-model question a model-check error sends the user back to. */
function ownFieldFor(code: string): OwnDraft['field'] {
	if (code === 'factory-failed') return 'factory';
	if (code === 'needs-input-shape' || code === 'bad-input-shape') return 'inputShape';
	return 'path';
}

/** The next own-model question, or the model to check when enough is known. */
function onOwnAnswer(state: State, own: OwnDraft, value: string): State {
	if (own.field === 'path') {
		if (!value) return {...state, own: {...own, error: 'give the path of a model file or a Hugging Face folder'}};
		const [path, factory] = /^(.+\.py):([A-Za-z_]\w*)$/.exec(value)?.slice(1) ?? [value, ''];
		const next = {...own, path: path!, factory: factory || own.factory, error: null};
		if (path!.endsWith('.py') && !factory) return {...state, own: {...next, field: 'factory'}};
		return checkOwn(state, next);
	}
	if (own.field === 'factory') {
		if (value && !/^[A-Za-z_]\w*$/.test(value)) return {...state, own: {...own, error: `${value} is not a Python function name`}};
		return checkOwn(state, {...own, factory: value, error: null});
	}
	const dims = value.split(/[,x ]/).filter(Boolean).map(Number);
	if (value && (dims.length === 0 || dims.some(d => !Number.isInteger(d) || d <= 0))) {
		return {...state, own: {...own, error: `${value}: the per-sample shape without the batch, e.g. 3,224,224`}};
	}
	return checkOwn(state, {...own, inputShape: value, error: null});
}

function checkOwn(state: State, own: OwnDraft): State {
	const model: ModelSpec = {path: own.path};
	if (own.factory && own.path.endsWith('.py')) model.factory = own.factory;
	if (own.inputShape) model.inputShape = own.inputShape.split(/[,x ]/).filter(Boolean).map(Number);
	// --seq-len, --samples and the generation flags given on the command line apply to the model typed in too.
	const {seqLen, samples, task, promptLen, newTokens} = state.options.flagModel;
	Object.assign(model, {seqLen, samples, task, promptLen, newTokens});
	for (const key of Object.keys(model) as (keyof ModelSpec)[]) if (model[key] === undefined) delete model[key];
	return {...state, own, model, screen: 'rechecking'};
}

/** The chosen model and how the walk will measure it, once the model check has said: "tiny-llama (LlamaForCausalLM), measured generating (greedy): …". */
export function workloadLine(state: State): string | null {
	const check = state.prepared?.model;
	const model = state.model ?? state.options.flagModel;
	if (!check?.ok) return null;
	const cls = check.info.modelClass ? ` (${check.info.modelClass})` : '';
	return `${modelLabel(model)}${cls}, measured ${describeWorkload(withTask(model, check))}`;
}

/** The model preselected on the model screen (and taken with --yes). */
export function defaultModel(state: State): ModelSpec {
	const choices = modelChoices(state.options.flagModel, state.prepared?.python ?? null, state.options.preferences).filter(c => c.model.path || c.model.name);
	const key = defaultModelKey(state.options.flagModel, choices, state.options.preferences);
	return choices.find(c => c.key === key)?.model ?? state.options.flagModel;
}

function onModel(state: State, model: ModelSpec): State {
	const chosen = {...state, model};
	return needsRecheck(state.options, state.preparedFor, model) ? {...chosen, screen: 'rechecking'} : askRecipes(chosen);
}

export function needsRecheck(options: Options, preparedFor: ModelSpec | null, model: ModelSpec): boolean {
	if (!preparedFor) return true;
	// The user's own model is looked at (its inputs, whether it loads) before it is tuned.
	if (model.path || preparedFor.path) return JSON.stringify(preparedFor) !== JSON.stringify(model);
	if (options.inputKind) return options.inputKind(preparedFor) !== options.inputKind(model);
	return JSON.stringify(preparedFor) !== JSON.stringify(model);
}

function askRecipes(state: State): State {
	const list = state.prepared?.applicability ?? [];
	const selected = defaultSelection(list, state.options.flagRecipes);
	if (state.options.yes) return startRun({...state, selected}, state.options.flagBudgetSeconds);
	const first = recipeList(list).findIndex(toggleable);
	return {...state, selected, cursor: Math.max(0, first), screen: 'recipes'};
}

function startRun(state: State, budgetSeconds: number): State {
	return {...state, budgetSeconds, run: emptyRun(budgetSeconds), screen: 'running'};
}

// ---------------------------------------------------------------- session events

function onEvent(run: RunState, e: SessionEvent, at: number): RunState {
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

function baselineFailure(run: RunState): string {
	const d = run.decisions.find(x => x.stepId === 'baseline' && x.outcome === 'failed');
	return d?.reason ?? run.error ?? 'the baseline probe failed: nothing to compare with';
}

// ---------------------------------------------------------------- selectors

export function exitCode(ending: Ending): number {
	switch (ending.kind) {
		case 'environment':
			return exitCodes.environment;
		case 'error':
			return exitCodes.internal;
		case 'baseline-failed':
			return exitCodes.probesFailed;
		case 'interrupted':
			return exitCodes.interrupted;
		case 'write-failed':
			return exitCodes.outputFailed;
		case 'declined':
		case 'written':
			return exitCodes.ok;
	}
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

export function elapsedSeconds(run: RunState, now: number): number {
	return run.startedAt === null ? 0 : Math.max(0, (now - run.startedAt) / 1000);
}

/** What to remember for next time. */
export function preferencesToSave(state: State): Preferences {
	return {
		// An own model is stored first in ownModels, so 'own-0' preselects it next time.
		...(state.model?.name ? {model: state.model.name} : state.model?.path ? {model: 'own-0'} : {}),
		...(state.model?.path ? {ownModels: rememberOwnModel(state.options.preferences.ownModels, state.model)} : {}),
		budget: `${state.budgetSeconds}s`,
		recipes: state.selected,
	};
}
