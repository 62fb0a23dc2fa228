// Recipes are data (recipes/*.json). This module loads them: every file read and checked
// (recipe-validation.ts), every problem in one RecipeError, the recipes in walk order.
// What they say on this machine lies beside it: a recipe per architecture
// (recipe-variants.ts), whether each applies and why (applicability.ts), the advice
// (advisories.ts) and `detect`'s list (recipe-listing.ts). None of them refers to a recipe
// by id: everything they know comes from the fields of the Recipe type.
import {GravitonTuneError} from '../errors.js';
import {readdir, readFile} from 'node:fs/promises';
import path from 'node:path';
import {recipesDir} from '../paths.js';
import {crossChecks, validateShape} from './recipe-validation.js';
import type {Recipe, RecipeStage} from '../types.js';

/** Walk order of the stages; recipes come back sorted by it. */
const stageOrder: Record<RecipeStage, number> = {
	batch: 0,
	memory: 1,
	precision: 2,
	runtime: 3,
	compile: 4,
	workers: 5,
	quantize: 6,
	backend: 7,
	advisory: 8,
};

export class RecipeError extends GravitonTuneError {
	readonly problems: string[];

	constructor(problems: string[]) {
		const count = problems.length === 1 ? 'a problem' : `${problems.length} problems`;
		super('environment', `${count} in the recipes:\n${problems.map(p => `  ${p}`).join('\n')}`, 'correct the file(s) named above, or reinstall graviton-tune');
		this.name = 'RecipeError';
		this.problems = problems;
	}
}

/** "recipes/foo.json": how a file is named in messages, short enough to read, clear enough to find. */
const shownName = (file: string): string => path.join(path.basename(path.dirname(file)), path.basename(file));

/** Every recipes/*.json, validated, in walk order. Throws one RecipeError listing every problem. */
export async function loadRecipes(dir: string = recipesDir): Promise<Recipe[]> {
	const files = await recipeFiles(dir);
	const problems: string[] = [];
	const recipes: Recipe[] = [];
	for (const file of files) {
		const loaded = await loadRecipe(file);
		if ('recipe' in loaded) recipes.push(loaded.recipe);
		else problems.push(...loaded.problems.map(p => `${shownName(file)}: ${p}`));
	}
	problems.push(...afterProblems(recipes));
	const {ordered, stuck} = walkOrder(recipes);
	if (stuck.length) problems.push(`${stuck.map(r => shownName(r.file ?? r.id)).join(', ')}: field "after" forms a cycle`);
	if (problems.length) throw new RecipeError(problems);
	return ordered;
}

async function recipeFiles(dir: string): Promise<string[]> {
	let names: string[];
	try {
		names = await readdir(dir);
	} catch (error) {
		throw new RecipeError([`${dir}: cannot read the recipes directory (${(error as NodeJS.ErrnoException).code ?? String(error)})`]);
	}
	// recipe.schema.json sits beside the recipes (their "$schema"), and is not one.
	const files = names.filter(name => name.endsWith('.json') && !name.endsWith('.schema.json')).sort();
	if (files.length === 0) throw new RecipeError([`${dir}: no recipe files (*.json)`]);
	return files.map(name => path.join(dir, name));
}

async function loadRecipe(file: string): Promise<{recipe: Recipe} | {problems: string[]}> {
	let raw: unknown;
	try {
		raw = JSON.parse(await readFile(file, 'utf8'));
	} catch (error) {
		return {problems: [`not valid JSON (${(error as Error).message})`]};
	}
	const shape = validateShape(raw);
	if (shape.length) return {problems: shape};
	// "$schema" is for editors; the recipe itself does not carry it.
	const {$schema: _schema, ...fields} = raw as Recipe & {$schema?: string};
	const recipe = {...fields, file};
	const cross = crossChecks(recipe, path.basename(file, '.json'));
	return cross.length ? {problems: cross} : {recipe};
}

function afterProblems(recipes: Recipe[]): string[] {
	return recipes.flatMap(recipe =>
		(recipe.after ?? [])
			.filter(id => !recipes.some(other => other.id === id && other.stage === recipe.stage))
			.map(id => `${shownName(recipe.file ?? '')}: field "after" names "${id}", which is not a recipe of stage ${recipe.stage}`),
	);
}

/** Stage order, then id, except that a recipe waits for the ones it lists in `after`. */
function walkOrder(recipes: Recipe[]): {ordered: Recipe[]; stuck: Recipe[]} {
	const pending = [...recipes].sort((a, b) => stageOrder[a.stage] - stageOrder[b.stage] || a.id.localeCompare(b.id));
	const ordered: Recipe[] = [];
	const placed = new Set<string>();
	for (;;) {
		const index = pending.findIndex(r => (r.after ?? []).every(id => placed.has(id) || !pending.some(p => p.id === id)));
		if (index < 0) return {ordered, stuck: pending};
		const [next] = pending.splice(index, 1);
		ordered.push(next!);
		placed.add(next!.id);
	}
}
