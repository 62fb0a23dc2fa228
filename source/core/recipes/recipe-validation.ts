// A recipe file checked before it is used: its shape against the recipe schema
// (recipe-schema.ts, by ajv), each error said as one line naming the field, then the rules
// that span fields (the id is the file name, advisory fields, placeholders and libraries).
import {Ajv} from 'ajv';
import type {ErrorObject, ValidateFunction} from 'ajv';
import {isLibrary, LIBRARY_NAMES} from '../machine/allocators.js';
import {recipeSchema} from './recipe-schema.js';
import {archs, effectiveRecipe, placeholder} from './recipe-variants.js';
import type {Recipe, RecipeChanges} from '../types.js';

// The shape is checked against recipes/recipe.schema.json's source (recipe-schema.ts) by
// ajv; its errors are said as one line each, naming the field, in the words below.
let validator: ValidateFunction | null = null;

export function validateShape(raw: unknown): string[] {
	validator ??= new Ajv({allErrors: true, verbose: true, strict: true}).compile(recipeSchema());
	if (validator(raw)) return [];
	const problems = (validator.errors ?? []).flatMap(error => describeSchemaError(error));
	return [...new Set(problems)];
}

/** "/changes/batchSizes/0" → "changes.batchSizes[0]". */
function fieldOf(pointer: string): string {
	return pointer
		.split('/')
		.slice(1)
		.map(part => part.replace(/~1/g, '/').replace(/~0/g, '~'))
		.reduce((field, part) => (/^\d+$/.test(part) ? `${field}[${part}]` : field ? `${field}.${part}` : part), '');
}

function describeSchemaError(error: ErrorObject): string[] {
	const field = fieldOf(error.instancePath);
	const named = (f: string) => (f ? `field "${f}"` : 'the file');
	const at = named(field);
	const schema = error.parentSchema as {description?: string; type?: string; minimum?: number} | undefined;
	const params = error.params as Record<string, unknown>;
	switch (error.keyword) {
		case 'required':
			return [`${named(field ? `${field}.${String(params['missingProperty'])}` : String(params['missingProperty']))} is missing`];
		case 'additionalProperties': {
			const key = String(params['additionalProperty']);
			const known = Object.keys((error.parentSchema as {properties?: object}).properties ?? {}).filter(k => k !== '$schema');
			return [`${named(field ? `${field}.${key}` : key)} is unknown (known: ${known.join(', ')})`];
		}
		case 'propertyNames':
			return [];
		case 'pattern':
			if (error.propertyName !== undefined) {
				const key = error.propertyName;
				return [`${named(field ? `${field}.${key}` : key)}: the name must be ${schema?.description ?? `like ${String(params['pattern'])}`}`];
			}
			return [`${at} must be ${schema?.description ?? 'a non-empty string'}`];
		case 'minLength':
			return [`${at} must be a non-empty string`];
		case 'enum': {
			const allowed = (params['allowedValues'] as unknown[]).map(String).join(', ');
			if (error.propertyName !== undefined) return [`${named(field ? `${field}.${error.propertyName}` : error.propertyName)}: the name must be one of ${allowed}`];
			return [`${at} must be one of ${allowed}`];
		}
		case 'minItems':
		case 'maxItems':
			return [`${at} must be ${schema?.description ?? `a list of ${error.keyword === 'minItems' ? 'at least' : 'at most'} ${String(params['limit'])}`}`];
		case 'minimum':
		case 'exclusiveMinimum':
			return [`${at} must be ${schema?.type === 'integer' ? 'a whole number' : 'a number'}, ${error.keyword === 'minimum' ? 'at least' : 'above'} ${String(params['limit'])}`];
		case 'type': {
			const type = String(params['type']);
			if (type === 'integer') return [`${at} must be a whole number${schema?.minimum !== undefined ? `, at least ${schema.minimum}` : ''}`];
			const words: Record<string, string> = {boolean: 'true or false', string: 'a non-empty string', array: 'a list', object: 'an object', number: 'a number'};
			return [`${at} must be ${words[type] ?? type}`];
		}
		default:
			return [`${at} ${error.message ?? 'is invalid'}`];
	}
}

/** Rules that span fields of one recipe; run only once its shape is right. */
export function crossChecks(recipe: Recipe, stem: string): string[] {
	const problems: string[] = [];
	// One id per file name also means no two recipes can share an id.
	if (recipe.id !== stem) problems.push(`field "id" must match the file name ("${stem}"), so that no two recipes share an id`);
	if ((recipe.stage === 'advisory') !== (recipe.advisory !== undefined)) {
		problems.push(recipe.advisory ? 'field "advisory" is only for stage advisory' : 'field "advisory" is required when stage is advisory');
	}
	if (recipe.advisory?.when === 'torch-older-than' && !recipe.advisory.minTorch) {
		problems.push('field "advisory.minTorch" is required when advisory.when is torch-older-than');
	}
	problems.push(...placeholderProblems(recipe));
	return problems;
}

/** ${tcmalloc} must name a library, and the recipe (for that arch) must require that library. */
function placeholderProblems(recipe: Recipe): string[] {
	const problems: string[] = [];
	const sources: Array<[string, RecipeChanges | undefined, Recipe]> = [
		['changes', recipe.changes, effectiveRecipe(recipe, '')],
		...archs.map((arch): [string, RecipeChanges | undefined, Recipe] => [`variants.${arch}.changes`, recipe.variants?.[arch]?.changes, effectiveRecipe(recipe, arch)]),
	];
	for (const [field, changes, effective] of sources) {
		for (const [key, value] of Object.entries(changes?.env ?? {})) {
			for (const [, name = ''] of value.matchAll(placeholder)) {
				const where = `field "${field}.env.${key}"`;
				if (!isLibrary(name)) problems.push(`${where} uses an unknown placeholder \${${name}} (known: ${LIBRARY_NAMES.join(', ')})`);
				else if (effective.requires.library !== name) problems.push(`${where} uses \${${name}}, so requires.library must be "${name}"`);
			}
		}
	}
	return problems;
}
