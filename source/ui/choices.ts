// What the question screens offer, derived from the machine and the flags: model
// choices, the recipe list in its three groups, budget choices. Pure functions, so the
// reducer and the screens agree on one list and tests can check it without rendering.
import type {Preferences} from '../core/settings.js';
import type {Applicability, ModelSpec, PythonEnv} from '../core/types.js';
import {formatDuration} from '../core/report/index.js';

export interface ModelChoice {
	key: string;
	label: string;
	model: ModelSpec;
}

const builtinModels: Array<{name: string; label: string; needs?: string}> = [
	{name: 'resnet50', label: 'resnet50 — ResNet-50, images 3×224×224 (the usual CNN yardstick)'},
	{name: 'resnet18', label: 'resnet18 — ResNet-18, a small CNN'},
	{name: 'mobilenet_v3_large', label: 'mobilenet_v3_large — MobileNetV3, light and memory-bound'},
	{name: 'vit_b_16', label: 'vit_b_16 — Vision Transformer B/16, matmul-heavy'},
	{name: 'bert_base', label: 'bert_base — BERT base, 128 token ids (random weights)', needs: 'transformers'},
];

/** The key of "your own model…": it opens the questions for a path (and a factory). */
export const OWN_MODEL_KEY = 'own-new';

/** How an own model reads in a list: path[:factory], and what its inputs are when given. */
export function ownModelLabel(model: ModelSpec): string {
	const extras = [model.inputShape ? `input ${model.inputShape.join('x')}` : null, model.seqLen ? `${model.seqLen} tokens` : null, model.samples ? `samples ${model.samples}` : null].filter(Boolean);
	return `${model.path}${model.factory ? `:${model.factory}` : ''}${extras.length ? ` (${extras.join(', ')})` : ''}`;
}

/**
 * The user's own models remembered on this machine first (most recent first), the one
 * given with --model, the built-ins this Python can run, and "your own model…".
 */
export function modelChoices(flagModel: ModelSpec, python: PythonEnv | null, preferences: Preferences = {}): ModelChoice[] {
	const choices: ModelChoice[] = [];
	if (flagModel.path) choices.push({key: 'flag', label: `${flagModel.path} — the model given with --model`, model: flagModel});
	(preferences.ownModels ?? []).forEach((model, i) => {
		if (JSON.stringify(model) === JSON.stringify(flagModel)) return;
		choices.push({key: `own-${i}`, label: `${ownModelLabel(model)} — your model, tuned here before`, model});
	});
	for (const b of builtinModels) {
		if (b.needs && !python?.packages[b.needs]) continue;
		choices.push({key: b.name, label: b.label, model: {name: b.name}});
	}
	if (flagModel.name && !choices.some(c => c.key === flagModel.name)) {
		choices.push({key: flagModel.name, label: `${flagModel.name} — given with --model`, model: flagModel});
	}
	choices.push({key: OWN_MODEL_KEY, label: 'your own model… (a .py file, a Hugging Face folder, TorchScript, .pt2 or .onnx)', model: {}});
	return choices;
}

/** The own-model list after tuning `model`: it first, no duplicate, at most five. */
export function rememberOwnModel(list: ModelSpec[] | undefined, model: ModelSpec): ModelSpec[] {
	const key = JSON.stringify(model);
	return [model, ...(list ?? []).filter(m => JSON.stringify(m) !== key)].slice(0, 5);
}

/**
 * The model preselected (and taken as is with --yes): a file or a non-default built-in
 * from --model wins, then the one chosen last time, then resnet50.
 */
export function defaultModelKey(flagModel: ModelSpec, choices: ModelChoice[], preferences: Preferences): string {
	if (flagModel.path) return 'flag';
	if (flagModel.name && flagModel.name !== 'resnet50' && choices.some(c => c.key === flagModel.name)) return flagModel.name;
	if (preferences.model && choices.some(c => c.key === preferences.model)) return preferences.model;
	return choices.find(c => c.key === 'resnet50')?.key ?? choices[0]?.key ?? 'resnet50';
}

// ---------------------------------------------------------------- recipes

export type RecipeGroup = 'applicable' | 'needs' | 'not-applicable';

/** A recipe the batch stage always runs (the walk sweeps batch sizes whatever is chosen). */
export function alwaysRuns(a: Applicability): boolean {
	return a.recipe.stage === 'batch';
}

export function toggleable(a: Applicability): boolean {
	return a.status === 'applicable' && !alwaysRuns(a);
}

export function groupOf(a: Applicability): RecipeGroup {
	return a.status === 'applicable' ? 'applicable' : a.status === 'needs' ? 'needs' : 'not-applicable';
}

/** Recipes in display order: applicable, then those that need something, then the rest. Advisories are shown as advice instead. */
export function recipeList(list: Applicability[]): Applicability[] {
	const order: RecipeGroup[] = ['applicable', 'needs', 'not-applicable'];
	const steps = list.filter(a => a.recipe.stage !== 'advisory');
	return order.flatMap(g => steps.filter(a => groupOf(a) === g));
}

/** The recipes switched on at first: those named with --recipes, else every applicable one. */
export function defaultSelection(list: Applicability[], flagRecipes: string[] | undefined): string[] {
	const toggles = recipeList(list).filter(toggleable);
	if (flagRecipes && flagRecipes.length > 0) return toggles.map(a => a.recipe.id).filter(id => flagRecipes.includes(id));
	return toggles.filter(a => !a.optIn).map(a => a.recipe.id);
}

/** The slice [start, end) of `total` rows, `size` tall, that keeps row `focus` in view. */
export function windowAround(total: number, focus: number, size: number): {start: number; end: number} {
	if (total <= size) return {start: 0, end: total};
	const start = Math.max(0, Math.min(total - size, focus - Math.floor(size / 2)));
	return {start, end: start + size};
}

// ---------------------------------------------------------------- budget

export interface BudgetChoice {
	key: string;
	label: string;
	seconds: number;
}

/** 5m, 10m, 20m, and the --budget value when it is another one. */
export function budgetChoices(flagSeconds: number): BudgetChoice[] {
	const choices: BudgetChoice[] = [
		{key: '300', label: '5m — a quick look: baseline, batch size and the cheapest recipes', seconds: 300},
		{key: '600', label: '10m — the usual walk', seconds: 600},
		{key: '1200', label: '20m — room for compile, workers and other backends', seconds: 1200},
	];
	if (!choices.some(c => c.seconds === flagSeconds)) {
		choices.push({key: String(flagSeconds), label: `${formatDuration(flagSeconds)} — given with --budget`, seconds: flagSeconds});
		choices.sort((a, b) => a.seconds - b.seconds);
	}
	return choices;
}
