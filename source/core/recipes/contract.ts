// One contract for every configuration option: its key in ProbeConfig, the GT_*
// variable the env file carries, the CLI flag of `graviton-tune probe`, how a value is
// checked, its default, whether a recipe may set it, and the words that describe it.
// Everything else derives from this table: the ProbeConfig type, the probe flags
// (option-flags.ts), the env writer, describeCandidate, the options another runtime starts
// from, the recipe JSON Schema (recipes/recipe.schema.json) and the Python side's copy
// (probes/graviton_tune_contract.json, written by scripts/generate.mjs).
//
// Adding an option: one entry here, `npm run build` (its `npm run generate` rewrites the
// contract JSON, the recipe schema and the runtime bundle),
// and the Python code that acts on it.
import path from 'node:path';

export type OptionType = 'int' | 'float' | 'bool' | 'string' | 'enum' | 'cpu-list' | 'map';
/**
 * model: applied to the model in the user's process (the runtime helper reads its GT_*);
 * process: the shape of the process (threads, workers, CPUs), read at process start;
 * probe: how a probe measures; never deployed (no GT_* variable).
 */
export type OptionLevel = 'model' | 'process' | 'probe';
export type BackendName = 'torch' | 'onnxruntime' | 'openvino';

/** The configuration as the describe/when callbacks see it (a ProbeConfig, loosely typed to avoid a cycle). */
type AnyConfig = Record<string, unknown> & {backend: BackendName};

interface OptionBase {
	type: OptionType;
	/** snake_case name on the Python side (settings(), ProbeConfig dataclass). */
	python: string;
	env: `GT_${string}` | null;
	/** `graviton-tune probe` flag, or null when the option has none. */
	flag: `--${string}` | null;
	level: OptionLevel;
	/** One line for --help, the generated JSON and the Python docstring. */
	description: string;
	/** Absent from a ProbeConfig unless set (the probe then picks its own value). */
	optional?: true;
	/** A recipe's changes.probe may set it. */
	recipe?: true;
	/** What a switch to another runtime resets it to (torch-side knobs start plain there). */
	plain?: unknown;
	/**
	 * Backends it means something on (absent: all). On the others a configuration holds it
	 * plain (its `plain` value, or absent when optional: fitToBackend) and the env file
	 * leaves it out.
	 */
	backends?: readonly BackendName[];
	/** On the backends it does not apply to, a value it holds is asked of this option instead. */
	carriedBy?: string;
	/** Shown in --help after the flag: N, S, bf16… (booleans take none). */
	metavar?: string;
	/** Words for describeCandidate ("batch 8", "channels_last"); null: say nothing. */
	describe?: (value: never, config: AnyConfig) => string | null;
	/** The precision the compute must run in when it is set (int8, bf16…): checked against the probe's kernel account. */
	promises?: (value: never) => string | null;
}

export type OptionSpec =
	| (OptionBase & {type: 'int' | 'float'; default: number | null; min: number | null; exclusiveMin?: true})
	| (OptionBase & {type: 'bool'; default: boolean})
	| (OptionBase & {type: 'string'; default: string | null})
	| (OptionBase & {type: 'enum'; default: string | null; choices: readonly string[]; nullable?: true})
	| (OptionBase & {type: 'cpu-list'; default: null})
	| (OptionBase & {type: 'map'; default: null});

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The options, in the order they are described and written. */
export const OPTIONS = {
	batchSize: {
		type: 'int', python: 'batch_size', env: 'GT_BATCH_SIZE', flag: '--batch-size', metavar: 'N', level: 'model',
		default: 1, min: 1,
		description: 'samples per call: the batch size measured (feed batches of this size)',
		describe: (v: number) => `batch ${v}`,
	},
	channelsLast: {
		type: 'bool', python: 'channels_last', env: 'GT_CHANNELS_LAST', flag: '--channels-last', level: 'model',
		default: false, recipe: true, plain: false, backends: ['torch'],
		description: 'NHWC memory format (channels_last) for the model and 4-D inputs',
		describe: (v: boolean) => (v ? 'channels_last' : null),
	},
	autocast: {
		type: 'enum', python: 'autocast', env: 'GT_AUTOCAST', flag: '--autocast', metavar: 'bf16', level: 'model',
		// ONNX Runtime and OpenVINO take a bf16 request one way, whichever option asks
		// (OpenVINO's inference precision, ONNX Runtime's bf16 fast math): there it is
		// fp32Precision "bf16", so the two steps make one configuration.
		default: null, choices: ['bf16'], nullable: true, recipe: true, plain: null, backends: ['torch'], carriedBy: 'fp32Precision',
		description: 'torch.autocast("cpu", dtype) around inference',
		describe: (v: string | null) => (v ? `${v} autocast` : null),
		promises: (v: string | null) => v,
	},
	fp32Precision: {
		type: 'enum', python: 'fp32_precision', env: 'GT_FP32_PRECISION', flag: '--fp32-precision', metavar: 'bf16', level: 'model',
		default: null, choices: ['bf16'], nullable: true, recipe: true, plain: null,
		description: 'oneDNN fp32 matmul/conv computed in this precision (torch.backends.mkldnn fp32_precision)',
		describe: (v: string | null) => (v ? `fp32 math as ${v}` : null),
		promises: (v: string | null) => v,
	},
	compile: {
		type: 'bool', python: 'compile', env: 'GT_COMPILE', flag: '--compile', level: 'model',
		default: false, recipe: true, plain: false, backends: ['torch'],
		description: 'torch.compile (inductor) with freezing and weight prepack',
		describe: (v: boolean) => (v ? 'compile' : null),
	},
	quantization: {
		type: 'enum', python: 'quantization', env: 'GT_QUANTIZATION', flag: '--quantization', metavar: 'int8', level: 'model',
		default: null, choices: ['int8'], nullable: true, recipe: true, plain: null,
		description: 'int8 through PT2E with the CPU\'s inductor quantizer (NNCF on OpenVINO, static int8 on ONNX Runtime)',
		describe: (v: string | null) => v,
		promises: (v: string | null) => v,
	},
	weightQuantization: {
		type: 'enum', python: 'weight_quantization', env: 'GT_WEIGHT_QUANTIZATION', flag: '--weight-quantization', metavar: 'int8|int8-dynamic|int4', level: 'model',
		default: null, choices: ['int8', 'int8-dynamic', 'int4'], nullable: true, optional: true, recipe: true, plain: null, backends: ['torch'],
		description: 'torchao quantize_() on the Linear layers, in eager PyTorch: int8 weights (weight-only), int8 weights with int8 dynamic activations, or int4 weights in groups (weight-only); the language-model steps',
		describe: (v: string | null | undefined) => (v ? `${v} weights (torchao)` : null),
		promises: (v: string | null | undefined) => (v ? (v === 'int4' ? 'int4' : 'int8') : null),
	},
	backend: {
		type: 'enum', python: 'backend', env: 'GT_BACKEND', flag: '--backend', metavar: 'torch|onnxruntime|openvino', level: 'model',
		default: 'torch', choices: ['torch', 'onnxruntime', 'openvino'], recipe: true,
		description: 'where the model runs: PyTorch, ONNX Runtime or OpenVINO',
		describe: (v: string) => (v === 'torch' ? null : v),
	},
	sessionOptions: {
		type: 'map', python: 'ort_options', env: 'GT_ORT_OPTIONS', flag: null, level: 'model',
		default: null, optional: true, recipe: true, backends: ['onnxruntime'],
		description: 'ONNX Runtime\'s session as measured, on top of its defaults ({} = a plain SessionOptions(), "threads" as a value = the threads per worker); absent: the runtime helper\'s tuned session',
		describe: (v: Record<string, string> | undefined) => {
			if (!v) return null;
			const entries = Object.entries(v).map(([k, value]) => `${k}=${value}`);
			return entries.length ? `session ${entries.join(' ')}` : 'default session';
		},
	},
	workers: {
		type: 'int', python: 'workers', env: 'GT_WORKERS', flag: '--workers', metavar: 'N', level: 'process',
		default: 1, min: 1,
		description: 'processes: 1 = one process, N > 1 = torchrun with N pinned workers',
		describe: (v: number, c: AnyConfig) => `${plural(v, 'worker')} x ${plural(c['threadsPerWorker'] as number, 'thread')}`,
	},
	threadsPerWorker: {
		type: 'int', python: 'threads', env: 'GT_THREADS_PER_WORKER', flag: '--threads', metavar: 'N', level: 'process',
		default: null, min: 1,
		description: 'threads per worker (torch.set_num_threads; ONNX Runtime and OpenVINO: their thread count); default: the usable CPUs / workers',
	},
	cpuList: {
		type: 'cpu-list', python: 'cpu_list', env: 'GT_CPU_LIST', flag: null, level: 'process',
		default: null, optional: true,
		description: 'CPU ids the workers may use (the usable set); workers split it between them',
	},
	budgetSeconds: {
		type: 'float', python: 'budget_seconds', env: null, flag: '--seconds', metavar: 'S', level: 'probe',
		default: 10, min: 0, exclusiveMin: true,
		description: 'seconds of timed measurement at most (warm-up not included)',
	},
	warmupIterations: {
		type: 'int', python: 'warmup_iterations', env: null, flag: null, level: 'probe',
		default: 3, min: 0, optional: true,
		description: 'untimed iterations before measuring',
	},
	targetRelativeCi: {
		type: 'float', python: 'target_relative_ci', env: null, flag: null, level: 'probe',
		default: 0.02, min: 0, exclusiveMin: true, optional: true,
		description: 'stop measuring once the 95% CI half-width / median is below this',
	},
	seed: {
		type: 'int', python: 'seed', env: null, flag: null, level: 'probe',
		default: 0, min: null, optional: true,
		description: 'seed of the random inputs and weights',
	},
	check: {
		type: 'bool', python: 'check', env: null, flag: null, level: 'probe',
		default: true, optional: true,
		description: 'compare the outputs against the fp32 eager reference',
	},
	evaluate: {
		type: 'bool', python: 'evaluate', env: null, flag: null, level: 'probe',
		default: true, optional: true,
		description: 'run the model file\'s evaluate(model), when it has one',
	},
} as const satisfies Record<string, OptionSpec>;

export type OptionKey = keyof typeof OPTIONS;
type Spec<K extends OptionKey> = (typeof OPTIONS)[K];

/** The TypeScript value of an option, from its declaration. */
type ValueOf<S> = S extends {type: 'int' | 'float'}
	? number
	: S extends {type: 'bool'}
		? boolean
		: S extends {type: 'string'}
			? string
			: S extends {type: 'enum'; choices: readonly (infer C)[]}
				? C | (S extends {nullable: true} ? null : never)
				: S extends {type: 'cpu-list'}
					? number[]
					: S extends {type: 'map'}
						? Record<string, string>
						: never;

type OptionalKeys = {[K in OptionKey]: Spec<K> extends {optional: true} ? K : never}[OptionKey];
type RequiredKeys = Exclude<OptionKey, OptionalKeys>;
export type RecipeOptionKey = {[K in OptionKey]: Spec<K> extends {recipe: true} ? K : never}[OptionKey];

/** Every option's value: required ones always present, optional ones when set. */
export type OptionValues = {-readonly [K in RequiredKeys]: ValueOf<Spec<K>>} & {-readonly [K in OptionalKeys]?: ValueOf<Spec<K>>};
/** What a recipe's changes.probe may carry. */
export type RecipeOptionValues = {-readonly [K in RecipeOptionKey]?: ValueOf<Spec<K>>};

export const optionKeys = Object.keys(OPTIONS) as OptionKey[];
const specOf = (key: OptionKey): OptionSpec => OPTIONS[key] as OptionSpec;

export const recipeOptionKeys = optionKeys.filter(key => (specOf(key) as OptionBase).recipe) as RecipeOptionKey[];

/** The options another runtime starts from: torch-side knobs reset (the recipe says what it wants on top). */
export const plainModelOptions = Object.fromEntries(
	optionKeys.filter(key => 'plain' in specOf(key)).map(key => [key, (specOf(key) as OptionBase).plain]),
) as Partial<OptionValues>;

/** The declared defaults of the options a ProbeConfig always carries (those with a default value). */
export function optionDefaults(): Partial<OptionValues> {
	return Object.fromEntries(
		optionKeys.flatMap(key => {
			const spec = specOf(key);
			return spec.optional || (spec.default === null && spec.type !== 'enum') ? [] : [[key, spec.default]];
		}),
	) as Partial<OptionValues>;
}

// ---------------------------------------------------------------- words and variables

/** "batch 8, channels_last, bf16 autocast, compile, 2 workers x 1 thread": the options' own words, in order. */
export function describeOptions(config: OptionValues): string[] {
	const parts: string[] = [];
	for (const key of optionKeys) {
		const spec = specOf(key) as OptionBase;
		if (!spec.describe || !applies(spec, config)) continue;
		const words = (spec.describe as (value: unknown, c: AnyConfig) => string | null)(config[key], config as unknown as AnyConfig);
		if (words) parts.push(words);
	}
	return parts;
}

/**
 * The precisions `after` promises that `before` did not (its options' `promises`, where the
 * value changed, or the backend did, and the option applies on `after`'s backend): what
 * its kernels must show. `before` null: every promise of `after`.
 */
export function promisedPrecisions(before: OptionValues | null, after: OptionValues): string[] {
	const found: string[] = [];
	for (const key of optionKeys) {
		const spec = specOf(key) as OptionBase;
		if (!spec.promises || !applies(spec, after) || (before && before.backend === after.backend && before[key] === after[key])) continue;
		const promised = (spec.promises as (value: unknown) => string | null)(after[key]);
		if (promised && !found.includes(promised)) found.push(promised);
	}
	return found;
}

function applies(spec: OptionBase, config: {backend: string}): boolean {
	return !spec.backends || (spec.backends as readonly string[]).includes(config.backend);
}

/**
 * The configuration as its backend takes it (pure): each option that does not apply there
 * (its `backends`) is handed to the option that carries it (`carriedBy`), when it holds
 * something, then set plain (or removed, when optional).
 */
export function fitToBackend<C extends OptionValues>(config: C): C {
	const out: Record<string, unknown> = {...config};
	for (const key of optionKeys) {
		const spec = specOf(key) as OptionBase;
		if (applies(spec, config)) continue;
		const value = out[key];
		if (spec.carriedBy && value !== undefined && value !== null && value !== spec.plain) out[spec.carriedBy] = value;
		if (spec.optional) delete out[key];
		else out[key] = spec.plain;
	}
	return out as C;
}

/** [0,1,2,3,8] → "0-3,8": the kernel's own notation (any order, duplicates ignored). */
export function compactCpuList(cpus: readonly number[]): string {
	const ids = [...new Set(cpus)].sort((a, b) => a - b);
	const ranges: string[] = [];
	for (let i = 0; i < ids.length; ) {
		let j = i;
		while (j + 1 < ids.length && ids[j + 1] === ids[j]! + 1) j++;
		ranges.push(i === j ? `${ids[i]}` : `${ids[i]}-${ids[j]}`);
		i = j + 1;
	}
	return ranges.join(',') || 'none';
}

/** One value as its GT_* variable spells it (null: the variable is left out). */
export function envValue(spec: OptionSpec, value: unknown): string | null {
	if (value === undefined) return null;
	switch (spec.type) {
		case 'bool':
			return value ? '1' : '0';
		case 'enum':
			return value === null ? 'none' : String(value);
		case 'cpu-list':
			return Array.isArray(value) && value.length > 0 ? compactCpuList(value as number[]) : null;
		case 'map': {
			if (value === null) return null;
			const entries = Object.entries(value as Record<string, string>).map(([k, v]) => `${k}=${v}`);
			return entries.length ? entries.join(',') : 'default';
		}
		default:
			return value === null ? null : String(value);
	}
}

/**
 * The served model file: not a configuration option (it is part of the model's
 * description), but a GT_* variable the env file writes for an .onnx model and the
 * runtime helper reads (model_path()), so it is declared here once too.
 */
export const SERVED_MODEL = {
	key: 'model',
	env: 'GT_MODEL',
	python: 'model_path',
	type: 'string',
	default: null,
	flag: '--model',
	level: 'model',
	description: 'the model file the app serves (an .onnx file for the ONNX walk)',
} as const;

/**
 * The deployable choices as GT_* variables, in declaration order (the runtime helper
 * reads them). The served model file (SERVED_MODEL) follows them when the model is an
 * .onnx file, which is what the app then loads.
 */
export function optionVariables(config: OptionValues & {model: {path?: string}}): Array<[string, string]> {
	const vars: Array<[string, string]> = [];
	for (const key of optionKeys) {
		const spec = specOf(key);
		if (!spec.env || !applies(spec, config)) continue;
		const value = envValue(spec, config[key]);
		if (value !== null) vars.push([spec.env, value]);
	}
	if (config.model.path && /\.onnx$/i.test(config.model.path)) vars.push([SERVED_MODEL.env, path.resolve(config.model.path)]);
	return vars;
}

/**
 * What a probe gets on its command line (--config): the model and the probe-level options
 * (budget, seed, check…), never a deployment option. Those reach it as the GT_* variables
 * optionVariables() spells, the same lines the env file holds: the probe is an app.
 */
export function probeArguments(config: Partial<OptionValues> & {model: unknown}): Record<string, unknown> {
	const out: Record<string, unknown> = {model: config.model};
	for (const key of optionKeys) {
		if (specOf(key).level === 'probe' && config[key] !== undefined) out[key] = config[key];
	}
	return out;
}

// ---------------------------------------------------------------- schemas and the Python copy

/** JSON Schema of one option's value (as a ProbeConfig / recipe carries it). */
export function valueSchema(spec: OptionSpec): Record<string, unknown> {
	const description = spec.description;
	switch (spec.type) {
		case 'int':
		case 'float': {
			const bound = spec.min === null ? {} : spec.exclusiveMin ? {exclusiveMinimum: spec.min} : {minimum: spec.min};
			return {type: spec.type === 'int' ? 'integer' : 'number', ...bound, description};
		}
		case 'bool':
			return {type: 'boolean', description};
		case 'string':
			return {type: 'string', minLength: 1, description};
		case 'enum':
			return {enum: 'nullable' in spec ? [...spec.choices, null] : [...spec.choices], description};
		case 'cpu-list':
			return {type: 'array', items: {type: 'integer', minimum: 0}, minItems: 1, uniqueItems: true, description};
		case 'map':
			return {
				type: 'object',
				propertyNames: {pattern: '^[a-z_][a-z0-9_.]*$'},
				additionalProperties: {type: 'string', pattern: '^[A-Za-z0-9_.-]+$'},
				description,
			};
	}
}

export const CONTRACT_VERSION = 1;

/**
 * The declaration as plain JSON, for the Python side (probes/graviton_tune_contract.json):
 * the options a deployment carries as GT_* variables (probe-only options stay in TS),
 * spelled as the env file spells them (an enum that may be off has "none" among its
 * choices and as its default), then the served model file. The runtime helper's
 * settings() keys are the `python` names. `probeOptions`: what only a probe takes, on its
 * command line (probeArguments()), with the same declaration (the probe's config.py reads it).
 */
export function contractJson(): {version: number; generatedFrom: string; options: Array<Record<string, unknown>>; probeOptions: Array<Record<string, unknown>>} {
	const options: Array<Record<string, unknown>> = optionKeys.flatMap(key => {
		const spec = specOf(key) as OptionSpec & OptionBase;
		if (!spec.env) return [];
		const offable = spec.type === 'enum' && 'nullable' in spec;
		return [{
			key,
			env: spec.env,
			python: spec.python,
			type: spec.type,
			default: offable && spec.default === null ? 'none' : spec.default,
			choices: spec.type === 'enum' ? [...(offable ? ['none'] : []), ...spec.choices] : null,
			min: spec.type === 'int' || spec.type === 'float' ? spec.min : null,
			exclusiveMin: spec.type === 'int' || spec.type === 'float' ? (spec.exclusiveMin ?? false) : false,
			flag: spec.flag,
			level: spec.level,
			optional: spec.optional ?? false,
			recipe: spec.recipe ?? false,
			backends: spec.backends ? [...spec.backends] : null,
			description: spec.description,
		}];
	});
	options.push({...SERVED_MODEL, choices: null, min: null, exclusiveMin: false, optional: true, recipe: false, backends: null});
	const probeOptions = optionKeys.flatMap(key => {
		const spec = specOf(key);
		if (spec.level !== 'probe') return [];
		const numeric = spec.type === 'int' || spec.type === 'float';
		return [{key, python: spec.python, type: spec.type, default: spec.default, min: numeric ? spec.min : null, exclusiveMin: numeric ? (spec.exclusiveMin ?? false) : false, description: spec.description}];
	});
	return {version: CONTRACT_VERSION, generatedFrom: 'source/core/recipes/contract.ts (npm run generate); do not edit by hand', options, probeOptions};
}
