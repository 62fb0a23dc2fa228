// Recipes are data (recipes/*.json). This module loads and validates them, merges their
// per-architecture variants, and says for each one whether it applies to this machine,
// with a reason a person can act on. It never refers to a recipe by id: everything it
// knows comes from the fields of the Recipe type (ISA flags, libraries, packages…).
import {GravitonTuneError} from '../errors.js';
import {readdir, readFile} from 'node:fs/promises';
import path from 'node:path';
import {Ajv} from 'ajv';
import type {ErrorObject, ValidateFunction} from 'ajv';
import {wrapWords} from '../machine/describe.js';
import {recipeSchema} from './recipe-schema.js';
import {recipesDir} from '../paths.js';
import type {
	Advice,
	Applicability,
	ApplicabilityStatus,
	Arch,
	CpuInfo,
	Detection,
	IsaFlags,
	PythonEnv,
	Recipe,
	RecipeChanges,
	RecipeRequires,
	RecipeStage,
	Task,
} from '../types.js';

type Library = keyof Detection['allocators'];
type AdvisoryWhen = NonNullable<Recipe['advisory']>['when'];
type InputKind = 'image' | 'tokens' | 'other';

// ---------------------------------------------------------------- vocabulary

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

/** How a missing flag is named to a person; the Arm ones say which Graviton brought them. */
const isaLabels: Record<keyof IsaFlags, string> = {
	bf16: 'BF16 (Graviton3 or newer)',
	i8mm: 'I8MM (Graviton3 or newer)',
	sve: 'SVE (Graviton3 or newer)',
	sve2: 'SVE2 (Graviton4 or newer)',
	avx512: 'AVX-512',
	avx512bf16: 'AVX-512 BF16',
	vnni: 'VNNI (AVX-512 VNNI or AVX-VNNI)',
	amx: 'AMX',
};

/** Kernel flags that `requires.features` may name and IsaFlags does not carry; others show raw. */
const featureLabels: Record<string, string> = {
	asimddp: 'dot product (asimddp, Graviton2 or newer)',
	i8mm: isaLabels.i8mm,
	bf16: isaLabels.bf16,
};

const archs: readonly Arch[] = ['aarch64', 'x86_64'];

// Distribution packages ship versioned sonames only (the bare .so comes with -dev).
const libraries: Record<Library, {file: string; apt: string; aptT64?: string; rpm: string; zypper: string}> = {
	tcmalloc: {file: 'libtcmalloc.so.4', apt: 'libgoogle-perftools4', aptT64: 'libgoogle-perftools4t64', rpm: 'gperftools-libs', zypper: 'libtcmalloc4'},
	jemalloc: {file: 'libjemalloc.so.2', apt: 'libjemalloc2', rpm: 'jemalloc', zypper: 'libjemalloc2'},
};

/** The 64-bit time_t transition renamed libraries from these releases on. */
const t64Since: Record<string, string> = {ubuntu: '24.04', debian: '13'};

const thpFile = '/sys/kernel/mm/transparent_hugepage/enabled';
const placeholder = /\$\{(\w+)\}/g;

// ---------------------------------------------------------------- validation

// The shape is checked against recipes/recipe.schema.json's source (recipe-schema.ts) by
// ajv; its errors are said as one line each, naming the field, in the words below.
let validator: ValidateFunction | null = null;

function validateShape(raw: unknown): string[] {
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
function crossChecks(recipe: Recipe, stem: string): string[] {
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
				if (!isLibrary(name)) problems.push(`${where} uses an unknown placeholder \${${name}} (known: ${Object.keys(libraries).join(', ')})`);
				else if (effective.requires.library !== name) problems.push(`${where} uses \${${name}}, so requires.library must be "${name}"`);
			}
		}
	}
	return problems;
}

function isLibrary(name: string): name is Library {
	return Object.hasOwn(libraries, name);
}

// ---------------------------------------------------------------- loading

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

// ---------------------------------------------------------------- variants

function isArch(arch: string): arch is Arch {
	return (archs as readonly string[]).includes(arch);
}

/** The recipe as it applies on `arch`: its variant merged in, `variants` gone. */
export function effectiveRecipe(recipe: Recipe, arch: Arch | string): Recipe {
	const {variants, ...base} = recipe;
	const variant = isArch(arch) ? variants?.[arch] : undefined;
	if (!variant) return base;
	return {
		...base,
		changes: mergeChanges(base.changes, variant.changes ?? {}),
		requires: {...base.requires, ...variant.requires},
		// Variant paragraphs add the arch-specific part to the general one.
		why: variant.why ? `${base.why} ${variant.why}` : base.why,
	};
}

function mergeChanges(base: RecipeChanges, over: RecipeChanges): RecipeChanges {
	const merged: RecipeChanges = {...base, ...over};
	if (base.env || over.env) merged.env = {...base.env, ...over.env};
	if (base.probe || over.probe) merged.probe = {...base.probe, ...over.probe};
	return merged;
}

function resolvePlaceholders(changes: RecipeChanges, allocators: Detection['allocators']): RecipeChanges {
	if (!changes.env) return changes;
	const resolve = (value: string) => value.replace(placeholder, (whole, name: string) => (isLibrary(name) ? allocators[name] ?? whole : whole));
	return {...changes, env: Object.fromEntries(Object.entries(changes.env).map(([key, value]) => [key, resolve(value)]))};
}

// ---------------------------------------------------------------- applicability

/** What the walk knows about the model when recipes are judged (unknown without one). */
export interface ModelFacts {
	format: 'torch' | 'onnx';
	/** An .onnx file whose batch axis is fixed: its batch size; else null. */
	fixedBatch: number | null;
	/** What is measured: one forward pass, or generation (a language model). Absent: forward. */
	task?: Task;
}

interface Context {
	detection: Detection;
	python: PythonEnv | null;
	inputKind: InputKind | undefined;
	model: ModelFacts | undefined;
	/** "Neoverse-N1 (AWS Graviton2)", "Intel Xeon Platinum 8488C". */
	cpu: string;
}

type Verdict = {status: ApplicabilityStatus; reason: string; install?: string | null};
type Check = (requires: RecipeRequires, ctx: Context) => Verdict | null;

const applies = (reason: string): Verdict => ({status: 'applicable', reason});
const notApplicable = (reason: string): Verdict => ({status: 'not-applicable', reason});
const needs = (reason: string, install: string | null = null): Verdict => ({status: 'needs', reason, install});

/** Each step (non-advisory recipe) with its status, a reason, and the changes for this machine. */
/** How a reason names what a model takes. */
const INPUT_WORDS: Record<InputKind, string> = {image: 'images', tokens: 'token ids', other: 'inputs that are neither images nor token ids'};

export function applicability(recipes: Recipe[], detection: Detection, python: PythonEnv | null, opts: {inputKind?: InputKind; model?: ModelFacts} = {}): Applicability[] {
	const ctx: Context = {detection, python, inputKind: opts.inputKind, model: opts.model, cpu: describeCpu(detection.cpu)};
	return recipes.filter(recipe => recipe.stage !== 'advisory').map(recipe => judge(effectiveRecipe(recipe, detection.cpu.arch), ctx));
}

// Order matters only for reading: hardware facts first, then what an install would fix.
const checks: Check[] = [archCheck, isaCheck, anyIsaCheck, featuresCheck, inputCheck, cpusCheck, thpCheck, libraryCheck, noPythonCheck, torchCheck, packagesCheck];

const isaChecks: ReadonlySet<Check> = new Set([isaCheck, anyIsaCheck, featuresCheck]);

function judge(recipe: Recipe, ctx: Context): Applicability {
	const changes = resolvePlaceholders(recipe.changes, ctx.detection.allocators);
	const judged = checks.map(check => ({check, verdict: check(recipe.requires, ctx)}));
	// A speed-only ISA requirement that is missing makes the step opt-in, not impossible.
	const optIn = recipe.requires.speedOnlyIsa === true && judged.some(j => isaChecks.has(j.check) && j.verdict?.status === 'not-applicable');
	// The model's own format comes first: a torch-only step on an .onnx file says just that.
	const verdicts = [formatCheck(recipe, ctx), ...judged
		.map(({check, verdict}) => (optIn && isaChecks.has(check) && verdict?.status === 'not-applicable' ? applies(`only when asked for (--recipes ${recipe.id}): ${verdict.reason}, so it is rarely faster here`) : verdict))]
		.filter((v): v is Verdict => v !== null);
	// Something no install can fix outranks something an install would fix.
	for (const status of ['not-applicable', 'needs'] as const) {
		const hits = verdicts.filter(v => v.status === status);
		if (hits.length === 0) continue;
		const installs = hits.map(v => v.install).filter((c): c is string => Boolean(c));
		// One reason a recipe cannot apply is enough ("only for aarch64" says it all on x86);
		// everything an install would fix is listed, since each needs doing.
		const reason = status === 'not-applicable' ? hits[0]!.reason : hits.map(v => v.reason).join('; ');
		return {recipe, status, reason, install: installs.length ? installs.join(' && ') : null, changes};
	}
	const reason = verdicts.map(v => v.reason).join('; ') || 'no special requirements';
	return {recipe, status: 'applicable', reason, install: null, changes, ...(optIn ? {optIn} : {})};
}

/** Torch-only recipes say so for an .onnx file; a batch sweep needs a dynamic batch axis. */
function formatCheck(recipe: Recipe, ctx: Context): Verdict | null {
	const model = ctx.model;
	if (!model) return null;
	const formats = recipe.requires.modelFormat;
	if (formats && !formats.includes(model.format)) {
		return notApplicable(model.format === 'onnx' ? 'not applicable to an ONNX model: a step for models that PyTorch runs' : 'only for an .onnx model file; this model runs on PyTorch');
	}
	const task = model.task ?? 'forward';
	if (recipe.requires.task && !recipe.requires.task.includes(task)) {
		return notApplicable(task === 'generate'
			? 'not for generation yet: it changes one forward pass, and this language model is measured through generate(), which it does not reach (--task forward: a forward pass)'
			: 'only for a language model measured generating');
	}
	if (recipe.changes.batchSizes && model.fixedBatch !== null) {
		return notApplicable(`the model file fixes its batch axis at ${model.fixedBatch}: only that batch size runs (export it with a dynamic batch axis to sweep batch sizes)`);
	}
	return null;
}

function archCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	const arch = ctx.detection.cpu.arch;
	if (!req.arch || req.arch.includes(arch as Arch)) return null;
	return notApplicable(`only for ${req.arch.join(' and ')}; this CPU is ${arch} (${ctx.cpu})`);
}

function isaCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	if (!req.isa?.length) return null;
	const missing = req.isa.filter(flag => !ctx.detection.cpu.isa[flag]);
	if (missing.length) return notApplicable(`needs ${missing.map(flag => isaLabels[flag]).join(' and ')}; this CPU is ${ctx.cpu}`);
	return applies(`${ctx.cpu} has ${req.isa.map(flag => isaLabels[flag]).join(' and ')}`);
}

function anyIsaCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	if (!req.anyIsa?.length) return null;
	const labels = req.anyIsa.map(flag => isaLabels[flag]);
	return anyOf(labels, req.anyIsa.map(flag => ctx.detection.cpu.isa[flag]), ctx);
}

function featuresCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	if (!req.features?.length) return null;
	const labels = req.features.map(flag => featureLabels[flag] ?? flag);
	return anyOf(labels, req.features.map(flag => ctx.detection.cpu.features.includes(flag)), ctx);
}

function anyOf(labels: string[], present: boolean[], ctx: Context): Verdict {
	const found = labels.find((_, i) => present[i]);
	return found ? applies(`${ctx.cpu} has ${found}`) : notApplicable(`needs ${labels.join(' or ')}; this CPU is ${ctx.cpu}`);
}

function inputCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	// Without a model yet, the input kind is unknown: the recipe stays on offer.
	if (!req.input || !ctx.inputKind || req.input.includes(ctx.inputKind)) return null;
	return notApplicable(`only for ${req.input.join(' or ')} models; this model takes ${INPUT_WORDS[ctx.inputKind]}`);
}

function cpusCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	const usable = ctx.detection.usableCpus;
	if (!req.minCpus || usable >= req.minCpus) return null;
	return notApplicable(`needs at least ${req.minCpus} usable CPUs; ${usable === 1 ? 'only 1 is' : `only ${usable} are`} usable here`);
}

function thpCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	const mode = ctx.detection.thp;
	if (!req.thp) return null;
	if (mode === null) return applies('transparent huge pages mode unknown; measured anyway');
	if (req.thp.includes(mode)) return applies(`transparent huge pages are in ${mode} mode`);
	const wanted = req.thp.includes('madvise') ? 'madvise' : req.thp[0]!;
	return needs(`needs transparent huge pages in ${req.thp.join(' or ')} mode; this kernel has ${mode}`, thpCommand(wanted));
}

function libraryCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	if (!req.library) return null;
	const found = ctx.detection.allocators[req.library];
	if (found) return applies(`${req.library} at ${found}`);
	const command = libraryInstallCommand(req.library, ctx.detection.os);
	const reason = `needs ${req.library} (${libraries[req.library].file}), not installed`;
	return needs(command ? reason : `${reason}; install it with your package manager`, command);
}

/** Without an environment to ask, torch and package requirements become one "could not check". */
function noPythonCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	if (knownPython(ctx.python)) return null;
	const wanted = [req.torch ? `torch ${req.torch} or newer` : '', req.packages?.length ? `Python packages ${req.packages.join(', ')}` : ''].filter(Boolean);
	return wanted.length ? needs(`needs ${wanted.join(' and ')}; could not check: no Python environment`) : null;
}

function torchCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	const python = knownPython(ctx.python);
	if (!req.torch || !python) return null;
	const wanted = `needs torch ${req.torch} or newer`;
	const version = python.torch?.version;
	if (!version) return needs(`${wanted}; torch is not installed`, pipInstall(python.interpreter, [`torch>=${req.torch}`]));
	if (compareVersions(version, req.torch) < 0) {
		return needs(`${wanted}; this environment has ${version}`, pipInstall(python.interpreter, ['--upgrade', `torch>=${req.torch}`]));
	}
	return applies(`torch ${version}`);
}

function packagesCheck(req: RecipeRequires, ctx: Context): Verdict | null {
	const python = knownPython(ctx.python);
	if (!req.packages?.length || !python) return null;
	const missing = req.packages.filter(name => !python.packages[name]);
	if (missing.length === 0) return applies(req.packages.map(name => `${name} ${python.packages[name]}`).join(', '));
	const broken = missing.filter(name => python.importErrors[name]);
	const absent = missing.filter(name => !python.importErrors[name]);
	const reasons = [
		...(absent.length ? [`needs Python packages ${absent.join(', ')}, not installed`] : []),
		...broken.map(name => `${name} is installed but fails to import (${python.importErrors[name]})`),
	];
	const installs = [
		...(absent.length ? [pipInstall(python.interpreter, absent)] : []),
		...(broken.length ? [pipInstall(python.interpreter, ['--force-reinstall', ...broken])] : []),
	];
	return needs(reasons.join('; '), installs.join(' && '));
}

/** The environment when there is one to ask; null when we could not look. */
function knownPython(python: PythonEnv | null): (PythonEnv & {interpreter: string}) | null {
	return python?.interpreter ? (python as PythonEnv & {interpreter: string}) : null;
}

// ---------------------------------------------------------------- advisories

type Condition = (advisory: NonNullable<Recipe['advisory']>, ctx: Context) => {message: string; command: string | null} | null;

const conditions: Record<AdvisoryWhen, Condition> = {
	'torch-older-than'({minTorch}, {python}) {
		const env = knownPython(python);
		const version = env?.torch?.version;
		if (!env || !version || !minTorch || compareVersions(version, minTorch) >= 0) return null;
		return {
			message: `torch ${version} is older than ${minTorch}; recipes that need a newer torch are skipped, and newer releases are faster on CPU by themselves`,
			command: pipInstall(env.interpreter, ['--upgrade', `torch>=${minTorch}`]),
		};
	},
	'thp-never'(_, {detection}) {
		if (detection.thp !== 'never') return null;
		return {message: 'transparent huge pages are off (never), so PyTorch cannot put large tensors on huge pages', command: thpCommand('madvise')};
	},
	'allocator-missing'(_, {detection}) {
		const names = Object.keys(libraries) as Library[];
		if (names.some(name => detection.allocators[name])) return null;
		return {message: `none of ${names.join(', ')} is installed, so no allocator step can run`, command: libraryInstallCommand(names[0]!, detection.os)};
	},
	'quota-below-cpus'(_, {detection}) {
		const quota = detection.cpuQuota;
		const visible = detection.usableCpuList.length;
		if (quota === null || quota >= visible) return null;
		const threads = Math.max(1, Math.floor(quota));
		return {
			message: `the CPU quota is ${quota} CPUs but ${visible} are visible; thread pools sized from the visible CPUs get throttled, so size them to the quota (OMP_NUM_THREADS=${threads})`,
			command: null,
		};
	},
};

/** Advice from the advisory recipes whose condition holds on this machine. */
export function advisories(recipes: Recipe[], detection: Detection, python: PythonEnv | null): Advice[] {
	const ctx: Context = {detection, python, inputKind: undefined, model: undefined, cpu: describeCpu(detection.cpu)};
	return recipes.flatMap(recipe => {
		if (recipe.stage !== 'advisory' || !recipe.advisory) return [];
		const found = conditions[recipe.advisory.when](recipe.advisory, ctx);
		return found ? [{id: recipe.id, title: recipe.title, ...found}] : [];
	});
}

// ---------------------------------------------------------------- commands and words

/** The distribution's install command for an allocator library, or null for a distribution we do not know. */
export function libraryInstallCommand(library: Library, os: Detection['os']): string | null {
	const info = libraries[library];
	const ids = [os.id, ...os.idLike].filter((id): id is string => Boolean(id));
	const has = (...names: string[]) => ids.some(id => names.includes(id));
	if (has('debian', 'ubuntu')) return `sudo apt-get install -y ${usesT64(os) && info.aptT64 ? info.aptT64 : info.apt}`;
	if (os.id === 'amzn' && os.versionId === '2') return `sudo yum install -y ${info.rpm}`;
	if (has('fedora', 'rhel', 'centos', 'amzn')) return `sudo dnf install -y ${info.rpm}`;
	if (has('suse', 'opensuse', 'sles')) return `sudo zypper install -y ${info.zypper}`;
	return null;
}

/** Ubuntu 24.04+ and Debian 13+ (and Debian testing, which has no VERSION_ID) use the t64 names. */
function usesT64(os: Detection['os']): boolean {
	// Derivatives number their releases their own way: we cannot tell, so keep the old name.
	const since = os.id ? t64Since[os.id] : undefined;
	if (!since) return false;
	return os.versionId === null ? os.id === 'debian' : compareVersions(os.versionId, since) >= 0;
}

function thpCommand(mode: string): string {
	return `echo ${mode} | sudo tee ${thpFile}`;
}

function pipInstall(interpreter: string, args: string[]): string {
	return [interpreter, '-m', 'pip', 'install', ...args].map(shellQuote).join(' ');
}

function shellQuote(word: string): string {
	return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

/** Compares the leading numeric part: "2.3.1+cpu" vs "2.3" → 1. Missing parts count as 0. */
function compareVersions(a: string, b: string): number {
	const parse = (v: string) => (/^\d+(\.\d+)*/.exec(v)?.[0] ?? '0').split('.').map(Number);
	const [x, y] = [parse(a), parse(b)];
	for (let i = 0; i < Math.max(x.length, y.length); i++) {
		const diff = (x[i] ?? 0) - (y[i] ?? 0);
		if (diff !== 0) return Math.sign(diff);
	}
	return 0;
}

/** Arm: "Neoverse-N1 (AWS Graviton2)"; x86: the model name without (R)/(TM). */
function describeCpu(cpu: CpuInfo): string {
	const platform = cpu.platform && (cpu.platformGuess ? `probably ${cpu.platform}` : cpu.platform);
	if (cpu.core) return platform ? `${cpu.core} (${platform})` : cpu.core;
	const model = cpu.modelName?.replace(/\((R|TM|tm)\)/g, '').replace(/\s+/g, ' ').trim();
	return model || platform || `an unidentified ${cpu.arch} CPU`;
}

// ---------------------------------------------------------------- human output

const WIDTH = 80;
const groups: Array<[ApplicabilityStatus, string]> = [
	['applicable', 'Applicable'],
	['needs', 'Needs something first'],
	['not-applicable', 'Not applicable here'],
];

/** For `detect`: grouped by status, one entry per recipe, wrapped to 80 columns. */
export function formatApplicability(list: Applicability[]): string {
	const lines: string[] = [];
	for (const [status, heading] of groups) {
		const items = list.filter(a => a.status === status);
		if (items.length === 0) continue;
		lines.push(`  ${heading} (${items.length})`);
		for (const item of items) lines.push(...formatItem(item));
	}
	return lines.join('\n');
}

function formatItem(a: Applicability): string[] {
	const title = a.recipe.lossy ? `${a.recipe.title} (lossy)` : a.recipe.title;
	if (a.status === 'applicable' && !a.optIn) return [`    ${title}`];
	const lines = wrapWords(`${title}: ${a.reason}`, WIDTH - 4, '  ').map(line => `    ${line}`);
	// Commands stay on one line, however long: they are meant to be copied.
	if (a.install) lines.push(`      ${a.install}`);
	return lines;
}

