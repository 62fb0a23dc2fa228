// The JSON Schema of a recipe file (recipes/recipe.schema.json, which every recipe names
// in "$schema" so an editor checks it as it is typed). Built here: changes.probe takes
// exactly the options source/core/recipes/contract.ts marks recipe-settable, so a new option is
// accepted by recipes without touching this file. recipes.ts validates against it (ajv)
// and says each problem as one line naming the file and the field.
import {OPTIONS, recipeOptionKeys, valueSchema} from './contract.js';
import type {OptionSpec} from './contract.js';
import {REFERENCE_MEASURE_SECONDS} from './expected.js';
import type {CpuClass} from './expected.js';
import {LIBRARY_NAMES} from '../machine/allocators.js';
import {TASKS} from '../types.js';
import type {Arch, IsaFlags, Recipe, RecipeStage, Task} from '../types.js';

type Json = Record<string, unknown>;

/** Every member of a union, or a type error naming the missing ones. */
const all =
	<T extends string>() =>
	<const L extends readonly T[]>(list: L & ([Exclude<T, L[number]>] extends [never] ? unknown : {missing: Exclude<T, L[number]>})): L =>
		list;

export const STAGES = all<RecipeStage>()(['batch', 'memory', 'precision', 'runtime', 'compile', 'workers', 'quantize', 'backend', 'advisory']);
export const ISA_FLAGS = all<keyof IsaFlags>()(['bf16', 'i8mm', 'sve', 'sve2', 'avx512', 'avx512bf16', 'vnni', 'amx']);
export const ARCHS = all<Arch>()(['aarch64', 'x86_64']);
export const LIBRARIES = LIBRARY_NAMES;
export const INPUT_KINDS = all<NonNullable<Recipe['requires']['input']>[number]>()(['image', 'tokens', 'other']);
export const THP_MODES = all<NonNullable<Recipe['requires']['thp']>[number]>()(['always', 'madvise', 'never']);
export const MODEL_FORMATS = all<NonNullable<Recipe['requires']['modelFormat']>[number]>()(['torch', 'onnx']);
export const WORKLOADS = all<Task>()(TASKS);
export const CPU_CLASSES = all<CpuClass>()(['x86-amx', 'x86-avx512-bf16', 'x86-avx512', 'x86-avx2', 'graviton2', 'graviton3', 'graviton4', 'default']);
export const ADVISORIES = all<NonNullable<Recipe['advisory']>['when']>()(['torch-older-than', 'thp-never', 'allocator-missing', 'quota-below-cpus']);

// The description of a string with a pattern says what it must be: the loader quotes it.
const text = (pattern?: string, expect?: string): Json => ({type: 'string', minLength: 1, pattern: pattern ?? '\\S', ...(expect ? {description: expect} : {})});
const list = (items: Json): Json => ({type: 'array', items});
const oneOf = (values: readonly unknown[]): Json => ({enum: [...values]});
const object = (properties: Record<string, Json>, required: string[] = []): Json => ({type: 'object', properties, required, additionalProperties: false});
const boolean: Json = {type: 'boolean'};

const idText = text('^[a-z0-9]+(-[a-z0-9]+)*$', 'lowercase words joined by "-", like "bf16-autocast"');
const versionText = text('^\\d+(\\.\\d+)*$', 'a version such as "2.3"');
const isaFlag = oneOf(ISA_FLAGS);

function changesSchema(): Json {
	const probe = Object.fromEntries(recipeOptionKeys.map(key => [key, valueSchema(OPTIONS[key] as OptionSpec)]));
	return object({
		env: {
			type: 'object',
			propertyNames: {pattern: '^[A-Za-z_][A-Za-z0-9_]*$', description: 'an environment variable name'},
			additionalProperties: text(),
		},
		probe: {...object(probe), description: 'probe options (source/core/recipes/contract.ts): the ones a recipe may set'},
		workers: oneOf(['sweep']),
		batchSizes: list({type: 'integer', minimum: 1}),
	});
}

function requiresSchema(): Json {
	return object({
		arch: list(oneOf(ARCHS)),
		isa: list(isaFlag),
		anyIsa: list(isaFlag),
		features: list(text('^[a-z0-9_]+$', 'a kernel CPU flag such as "asimddp"')),
		speedOnlyIsa: boolean,
		packages: list(text('^[A-Za-z0-9_.-]+$', 'a Python package name')),
		torch: versionText,
		thp: list(oneOf(THP_MODES)),
		library: oneOf(LIBRARIES),
		input: list(oneOf(INPUT_KINDS)),
		modelFormat: list(oneOf(MODEL_FORMATS)),
		task: list(oneOf(WORKLOADS)),
		minCpus: {type: 'integer', minimum: 1},
	});
}

/** What a step is expected to bring and cost, per CPU class (source/core/recipes/expected.ts reads it). */
function expectedSchema(): Json {
	const figure = object({
		gain: {
			type: ['array', 'null'],
			items: {type: 'number', exclusiveMinimum: 0},
			minItems: 2,
			maxItems: 2,
			description: 'the factor on samples/s when the step is tried on fp32 eager at a suitable batch, [low, high]; null: unknown (a modest prior is used)',
		},
		costSeconds: {
			type: ['number', 'null'],
			exclusiveMinimum: 0,
			description: `what one probe of the step costs on a 2-vCPU machine for ResNet-50, start to end (start, load, compile or quantize, warm-up, and about ${REFERENCE_MEASURE_SECONDS} s of measuring); the planner scales the part beyond measuring to the model`,
		},
		source: {...text(), description: 'where the figure comes from (a measurement here, a benchmark, a publication)'},
	}, ['gain', 'costSeconds', 'source']);
	return object({
		byCpu: {
			type: 'object',
			propertyNames: {enum: [...CPU_CLASSES], description: 'a CPU class (source/core/recipes/expected.ts): ' + CPU_CLASSES.join(', ')},
			additionalProperties: figure,
		},
	});
}

/** The recipe file's JSON Schema (draft-07, which editors and ajv read alike). */
export function recipeSchema(): Json {
	const variant = object({changes: changesSchema(), requires: requiresSchema(), why: text()});
	return {
		$schema: 'http://json-schema.org/draft-07/schema#',
		$id: 'https://github.com/graviton-tune/graviton-tune/recipes/recipe.schema.json',
		title: 'graviton-tune recipe',
		description: 'One tuning step: what it changes, what it requires, why. Generated from source/core/recipes/contract.ts and source/core/recipes/recipe-schema.ts (npm run generate); do not edit by hand.',
		...object(
			{
				$schema: {type: 'string'},
				id: idText,
				title: text(),
				stage: oneOf(STAGES),
				why: text(),
				source: text(),
				changes: changesSchema(),
				requires: requiresSchema(),
				risks: object({accuracy: text(), memory: text(), other: text()}),
				lossy: boolean,
				variants: object(Object.fromEntries(ARCHS.map(arch => [arch, variant]))),
				after: list(idText),
				advisory: object({when: oneOf(ADVISORIES), minTorch: versionText}, ['when']),
				expected: expectedSchema(),
				batch: object({
					size: {type: 'integer', minimum: 2, description: 'a batch size; the walk uses it when the batch-size recipe lists it'},
					why: text(),
				}, ['size', 'why']),
			},
			['id', 'title', 'stage', 'why', 'source', 'changes', 'requires', 'risks', 'lossy'],
		),
	};
}
