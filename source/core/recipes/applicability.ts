// Whether each recipe applies to this machine, model and Python environment, with a reason
// a person can act on: checks of the hardware first (arch, ISA, features, CPUs, THP), then
// what an install would fix (a library, torch, packages), each with its command.
import {ALLOCATORS} from '../machine/allocators.js';
import {compareVersions, libraryInstallCommand, pipInstall, thpCommand} from './install-commands.js';
import {effectiveRecipe, resolvePlaceholders} from './recipe-variants.js';
import type {Applicability, ApplicabilityStatus, Arch, CpuInfo, Detection, IsaFlags, PythonEnv, Recipe, RecipeRequires, Task} from '../types.js';

type InputKind = 'image' | 'tokens' | 'other';

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

/** What the walk knows about the model when recipes are judged (unknown without one). */
export interface ModelFacts {
	format: 'torch' | 'onnx';
	/** An .onnx file whose batch axis is fixed: its batch size; else null. */
	fixedBatch: number | null;
	/** What is measured: one forward pass, or generation (a language model). Absent: forward. */
	task?: Task;
}

export interface Context {
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

/** How a reason names what a model takes. */
const INPUT_WORDS: Record<InputKind, string> = {image: 'images', tokens: 'token ids', other: 'inputs that are neither images nor token ids'};

/** Each step (non-advisory recipe) with its status, a reason, and the changes for this machine. */
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
	const bundled = ctx.python?.torch?.bundledAllocator;
	// torch's own allocator keeps the tensors: the step swaps only the rest (glibc's malloc), and says so.
	if (found) return applies(`${req.library} at ${found}${bundled ? `; torch ${ctx.python!.torch!.version} allocates its tensors with its bundled ${bundled}, so this step replaces the allocator of everything else (glibc's malloc), not the tensors'` : ''}`);
	const command = libraryInstallCommand(req.library, ctx.detection.os);
	const reason = `needs ${req.library} (${ALLOCATORS[req.library].files[0]}), not installed`;
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
export function knownPython(python: PythonEnv | null): (PythonEnv & {interpreter: string}) | null {
	return python?.interpreter ? (python as PythonEnv & {interpreter: string}) : null;
}

/** Arm: "Neoverse-N1 (AWS Graviton2)"; x86: the model name without (R)/(TM). */
export function describeCpu(cpu: CpuInfo): string {
	const platform = cpu.platform && (cpu.platformGuess ? `probably ${cpu.platform}` : cpu.platform);
	if (cpu.core) return platform ? `${cpu.core} (${platform})` : cpu.core;
	const model = cpu.modelName?.replace(/\((R|TM|tm)\)/g, '').replace(/\s+/g, ' ').trim();
	return model || platform || `an unidentified ${cpu.arch} CPU`;
}
