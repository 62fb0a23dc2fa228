// The interactive session as one pure reducer: UI actions (choices, keys) and the
// core's SessionEvents go in, the next state comes out. Effects (prepare, run, write)
// live in hooks/use-session-effects.ts and only dispatch here; everything a screen
// shows is either in this state or derived from it by the selectors below. The walk's own
// part, the SessionEvents folded into a RunState, is run-log.ts's.
import type {Delivered, DeliveryPlan} from '../core/report/index.js';
import {withTask} from '../core/walk/index.js';
import {describeWorkload, modelLabel} from '../core/report/index.js';
import type {Prepared} from '../core/walk/index.js';
import type {Preferences} from '../core/settings.js';
import type {ModelSpec, SessionEvent, WalkResult} from '../core/types.js';
import {exitCodes} from '../core/errors.js';
import {LIBRARY_NAMES} from '../core/machine/index.js';
import {defaultModelKey, defaultSelection, modelChoices, recipeList, rememberOwnModel, toggleable} from './choices.js';
import {baselineFailure, emptyRun, onEvent} from './run-log.js';
import type {RunState} from './run-log.js';

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

/** The actions of the given types: the reducer hands each group to its own handler. */
type ActionOf<T extends Action['type']> = Extract<Action, {type: T}>;

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

/** An allocator library is not installed: the machine screen offers `setup --system`. */
export function allocatorMissing(state: State): boolean {
	const a = state.prepared?.detection.allocators;
	return a !== undefined && LIBRARY_NAMES.some(name => a[name] === null);
}

export function reduce(state: State, action: Action): State {
	// Once the session has ended nothing moves: late results of cancelled work are dropped.
	if (state.ending) return state;
	switch (action.type) {
		case 'prepared':
		case 'prepare-failed':
		case 'install-system':
		case 'install-line':
		case 'installed':
			return onMachineAction(state, action);
		case 'model-chosen':
		case 'own-model':
		case 'own-answer':
		case 'own-back':
			return onModelAction(state, action);
		case 'cursor':
		case 'toggle':
		case 'toggle-all':
		case 'recipes-done':
		case 'budget-chosen':
			return onRecipesAction(state, action);
		case 'event':
		case 'session-returned':
		case 'session-failed':
			return onSessionAction(state, action);
		case 'planned':
		case 'plan-failed':
		case 'confirm':
		case 'written':
		case 'write-failed':
			return onDeliveryAction(state, action);
		case 'interrupt':
			// Probes (and a write in progress) finish stopping first; a second Ctrl+C does not wait.
			if ((state.screen === 'running' || state.screen === 'writing' || state.screen === 'planning' || state.screen === 'installing') && !action.force) {
				return {...state, stopping: true};
			}
			return end(state, {kind: 'interrupted'});
	}
}

/** The machine read (or read again), and `setup --system` when it was asked for. */
function onMachineAction(state: State, action: ActionOf<'prepared' | 'prepare-failed' | 'install-system' | 'install-line' | 'installed'>): State {
	switch (action.type) {
		case 'prepared':
			return onPrepared(state, action.prepared);
		case 'prepare-failed':
			return end(state, action.environment ? {kind: 'environment', message: action.message, hint: null} : {kind: 'error', message: action.message});
		case 'install-system':
			return state.screen === 'model' && allocatorMissing(state) ? {...state, screen: 'installing', installLines: []} : state;
		case 'install-line':
			return state.screen === 'installing' ? {...state, installLines: [...state.installLines, action.line]} : state;
		case 'installed':
			// Read the machine again: the allocator recipes apply once the libraries are there.
			if (state.stopping) return end(state, {kind: 'interrupted'});
			return state.screen === 'installing' ? {...state, screen: 'detecting'} : state;
	}
}

/** The model screen: a model chosen, or the user's own model asked for question by question. */
function onModelAction(state: State, action: ActionOf<'model-chosen' | 'own-model' | 'own-answer' | 'own-back'>): State {
	switch (action.type) {
		case 'model-chosen':
			return state.screen === 'model' ? onModel({...state, own: null, modelError: null}, action.model) : state;
		case 'own-model':
			return state.screen === 'model' ? {...state, screen: 'own-model', own: {field: 'path', path: '', factory: '', inputShape: '', error: null}} : state;
		case 'own-answer':
			return state.screen === 'own-model' && state.own ? onOwnAnswer(state, state.own, action.value.trim()) : state;
		case 'own-back':
			return state.screen === 'own-model' ? {...state, screen: 'model', own: null} : state;
	}
}

/** The recipes screen (the cursor, the ticks) and the budget chosen after it. */
function onRecipesAction(state: State, action: ActionOf<'cursor' | 'toggle' | 'toggle-all' | 'recipes-done' | 'budget-chosen'>): State {
	if (action.type === 'budget-chosen') return state.screen === 'budget' ? startRun(state, action.seconds) : state;
	if (state.screen !== 'recipes') return state;
	const list = recipeList(state.prepared?.applicability ?? []);
	switch (action.type) {
		case 'cursor':
			return {...state, cursor: Math.max(0, Math.min(list.length - 1, state.cursor + action.delta))};
		case 'toggle': {
			const a = list[state.cursor];
			if (!a || !toggleable(a)) return state;
			const id = a.recipe.id;
			return {...state, selected: state.selected.includes(id) ? state.selected.filter(s => s !== id) : [...state.selected, id]};
		}
		case 'toggle-all': {
			const all = list.filter(toggleable).map(a => a.recipe.id);
			return {...state, selected: all.every(id => state.selected.includes(id)) ? [] : all};
		}
		case 'recipes-done':
			return {...state, screen: 'budget'};
	}
}

/** The walk: its events, and how the session returned. */
function onSessionAction(state: State, action: ActionOf<'event' | 'session-returned' | 'session-failed'>): State {
	switch (action.type) {
		case 'event':
			return {...state, run: onEvent(state.run, action.event, action.at)};
		case 'session-returned':
			if (action.aborted || action.result?.interrupted) return end(state, {kind: 'interrupted'});
			if (!action.result) return end(state, {kind: 'baseline-failed', message: baselineFailure(state.run)});
			return {...state, result: action.result, screen: 'planning'};
		case 'session-failed':
			return end(state, action.aborted ? {kind: 'interrupted'} : {kind: 'error', message: action.message});
	}
}

/** The files: planned, confirmed (or declined), written. */
function onDeliveryAction(state: State, action: ActionOf<'planned' | 'plan-failed' | 'confirm' | 'written' | 'write-failed'>): State {
	switch (action.type) {
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
