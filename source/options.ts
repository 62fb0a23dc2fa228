// Command-line parsing: one place that turns argv into a typed command, or a usage
// error that names the bad flag. Uses node:util parseArgs (no dependency needed).
import {parseArgs} from 'node:util';
import {DEFAULT_APP, DEFAULT_OUT_DIR} from './core/report/index.js';
import {DEFAULT_QUIET_WAIT_SECONDS, libraryList} from './core/machine/index.js';
import {GravitonTuneError} from './core/errors.js';
import {OptionValueError, optionFlagsForParseArgs, optionFlagsHelp, optionsFromFlags} from './core/recipes/index.js';
import type {OptionValues} from './core/recipes/index.js';
import type {TuneOptions} from './core/walk/index.js';
import {TASKS} from './core/types.js';
import type {Backend, ModelSpec} from './core/types.js';

// The exit codes live with the error taxonomy (core/errors.ts); re-exported for the faces.
export {exitCodes} from './core/errors.js';

export class UsageError extends GravitonTuneError {
	constructor(message: string) {
		super('usage', message, 'graviton-tune --help');
		this.name = 'UsageError';
	}
}

export type Command =
	| {kind: 'help'}
	| {kind: 'version'}
	| {kind: 'detect'; json: boolean; root?: string; python?: string; model?: ModelSpec}
	| {kind: 'setup'; python?: string; torchIndex?: string; extras?: string[]; json: boolean; system: boolean}
	| {kind: 'probe'; json: boolean; python?: string; model: ModelSpec; probe: ProbeFlags}
	| {kind: 'tune'; auto: boolean; tune: TuneFlags}
	| {kind: 'compare'; reports: string[]; html?: string; json: boolean}
	| {kind: 'check'; out: string; python?: string; json: boolean};

/** `graviton-tune probe`: the options given as flags (source/core/recipes/contract.ts declares them), the backend resolved, and --env. */
export type ProbeFlags = Partial<OptionValues> & {backend: Backend; env: Record<string, string>};

/** What `graviton-tune [--auto]` was asked: core/tune-options.ts declares it (core never imports the CLI). */
export type TuneFlags = TuneOptions;

const flags = {
	help: {type: 'boolean', short: 'h'},
	version: {type: 'boolean', short: 'v'},
	auto: {type: 'boolean'},
	json: {type: 'boolean'},
	root: {type: 'string'},
	python: {type: 'string'},
	model: {type: 'string', short: 'm'},
	'input-shape': {type: 'string'},
	'input-dtype': {type: 'string'},
	factory: {type: 'string'},
	'seq-len': {type: 'string'},
	samples: {type: 'string'},
	task: {type: 'string'},
	'prompt-len': {type: 'string'},
	'new-tokens': {type: 'string'},
	budget: {type: 'string'},
	out: {type: 'string', short: 'o'},
	'max-latency-ms': {type: 'string'},
	'max-ttft-ms': {type: 'string'},
	recipes: {type: 'string'},
	app: {type: 'string'},
	'launch-script': {type: 'string'},
	resume: {type: 'boolean'},
	'min-cosine': {type: 'string'},
	'min-top1': {type: 'string'},
	'max-accuracy-drop': {type: 'string'},
	yes: {type: 'boolean', short: 'y'},
	'torch-index': {type: 'string'},
	extras: {type: 'string'},
	system: {type: 'boolean'},
	'quiet-wait': {type: 'string'},
	// probe (its configuration options come from the contract, below)
	env: {type: 'string', multiple: true},
	'price-per-hour': {type: 'string'},
	html: {type: 'string'},
} as const;

const builtins = ['resnet50', 'resnet18', 'mobilenet_v3_large', 'vit_b_16', 'bert_base', 'toy'];

/** The probe's option flags, as the contract declares them (batch-size, channels-last, …). */
const optionFlags = optionFlagsForParseArgs();
const allFlags = {...flags, ...optionFlags};
type FlagName = keyof typeof flags | (string & {});
type CommandName = 'detect' | 'setup' | 'probe' | 'tune' | 'compare' | 'check';
const modelFlags: FlagName[] = ['model', 'input-shape', 'input-dtype', 'factory', 'seq-len', 'samples', 'task', 'prompt-len', 'new-tokens'];
// Which flags each command takes; any other flag is a usage error naming where it belongs.
const flagsOf: Record<CommandName, FlagName[]> = {
	detect: ['json', 'root', 'python', ...modelFlags.filter(flag => flag !== 'samples')],
	setup: ['json', 'python', 'torch-index', 'extras', 'system'],
	probe: ['json', 'python', ...modelFlags, ...Object.keys(optionFlags), 'env'],
	tune: ['json', 'python', ...modelFlags, 'auto', 'budget', 'out', 'max-latency-ms', 'max-ttft-ms', 'recipes', 'app', 'launch-script', 'resume', 'min-cosine', 'min-top1', 'max-accuracy-drop', 'yes', 'price-per-hour', 'quiet-wait'],
	compare: ['json', 'html'],
	check: ['json', 'out', 'python'],
};

/** "10m", "90s", "1h30m", "600" (seconds) → seconds. */
export function parseDuration(text: string, flag = '--budget'): number {
	const trimmed = text.trim();
	if (/^\d+(\.\d+)?$/.test(trimmed) && Number(trimmed) > 0) return Number(trimmed);
	const re = /(\d+(?:\.\d+)?)\s*(h|m|s)/g;
	let total = 0;
	let consumed = '';
	for (const m of trimmed.matchAll(re)) {
		total += Number(m[1]) * {h: 3600, m: 60, s: 1}[m[2] as 'h' | 'm' | 's'];
		consumed += m[0];
	}
	if (consumed.replace(/\s/g, '') !== trimmed.replace(/\s/g, '') || total <= 0) {
		throw new UsageError(`${flag} ${text}: expected a duration such as 10m, 90s or 1h30m`);
	}
	return total;
}

function positiveNumber(name: string, value: string | undefined, integer = false): number | undefined {
	if (value === undefined) return undefined;
	const n = Number(value);
	if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
		throw new UsageError(`--${name} ${value}: expected a positive ${integer ? 'whole ' : ''}number`);
	}
	return n;
}

function fraction(name: string, value: string | undefined, fallback: number): number {
	if (value === undefined) return fallback;
	const n = Number(value);
	if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} ${value}: expected a number between 0 and 1`);
	return n;
}

function oneOf<T extends string>(name: string, value: string | undefined, allowed: readonly T[]): T | undefined {
	if (value === undefined) return undefined;
	if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`--${name} ${value}: expected one of ${allowed.join(', ')}`);
	return value as T;
}

type ModelValues = {model?: string; 'input-shape'?: string; 'input-dtype'?: string; factory?: string; 'seq-len'?: string; samples?: string; task?: string; 'prompt-len'?: string; 'new-tokens'?: string};

/** "file.py:factory" (the module:attr habit of uvicorn and gunicorn) → [path, factory]. */
function splitFactory(model: string): [string, string | undefined] {
	const match = /^(.+\.py):([A-Za-z_][A-Za-z0-9_]*)$/.exec(model);
	return match ? [match[1]!, match[2]] : [model, undefined];
}

export function parseModel(values: ModelValues): ModelSpec {
	const [model, factory] = splitFactory(values.model ?? 'resnet50');
	const spec: ModelSpec = /[/.]/.test(model) ? {path: model} : {name: model};
	if (spec.name && !builtins.includes(spec.name)) {
		throw new UsageError(`--model ${model}: not a built-in (${builtins.join(', ')}) and not a path (a path has a / or an extension)`);
	}
	if (values['input-shape'] !== undefined) {
		const dims = values['input-shape'].split(/[,x ]/).filter(Boolean).map(Number);
		if (dims.length === 0 || dims.some(d => !Number.isInteger(d) || d <= 0)) {
			throw new UsageError(`--input-shape ${values['input-shape']}: expected the per-sample shape without the batch, e.g. 3,224,224`);
		}
		spec.inputShape = dims;
	}
	const dtype = oneOf('input-dtype', values['input-dtype'], ['float32', 'int64'] as const);
	if (dtype) spec.inputDtype = dtype;
	if (factory && values.factory && factory !== values.factory) {
		throw new UsageError(`--model ${values.model} names the factory ${factory} but --factory says ${values.factory}: give one`);
	}
	if (factory ?? values.factory) spec.factory = factory ?? values.factory;
	if (spec.factory && !spec.path?.endsWith('.py')) throw new UsageError(`--factory ${spec.factory}: only a Python model file (.py) has a factory`);
	const seqLen = positiveNumber('seq-len', values['seq-len'], true);
	if (seqLen !== undefined) spec.seqLen = seqLen;
	const task = oneOf('task', values.task, TASKS);
	if (task) spec.task = task;
	const promptLen = positiveNumber('prompt-len', values['prompt-len'], true);
	if (promptLen !== undefined) spec.promptLen = promptLen;
	const newTokens = positiveNumber('new-tokens', values['new-tokens'], true);
	if (newTokens !== undefined) spec.newTokens = newTokens;
	if (task === 'forward' && (promptLen !== undefined || newTokens !== undefined)) {
		throw new UsageError('--prompt-len and --new-tokens shape generation; with --task forward give --seq-len instead');
	}
	if (values.samples !== undefined) {
		if (values.samples.trim() === '') throw new UsageError('--samples: expected a file (torch.save\'d list of inputs, or .npz)');
		spec.samples = values.samples;
	}
	return spec;
}

function parseEnv(list: string[] | undefined): Record<string, string> {
	const env: Record<string, string> = {};
	for (const item of list ?? []) {
		const eq = item.indexOf('=');
		if (eq <= 0) throw new UsageError(`--env ${item}: expected KEY=VALUE`);
		env[item.slice(0, eq)] = item.slice(eq + 1);
	}
	return env;
}

/** Split "python serve.py --port 8080" into argv, honouring simple quotes. */
export function splitCommand(text: string): string[] {
	const out: string[] = [];
	const re = /"([^"]*)"|'([^']*)'|(\S+)/g;
	for (const m of text.matchAll(re)) out.push(m[1] ?? m[2] ?? m[3] ?? '');
	return out;
}

/** parseArgs over every flag; its own errors become usage errors. */
function parseFlags(argv: string[]) {
	try {
		// The contract's flags are typed loosely (their names come from a table); the fixed ones keep their types.
		return parseArgs({args: argv, options: allFlags as typeof flags, allowPositionals: true, strict: true});
	} catch (error) {
		throw new UsageError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ''));
	}
}

type FlagValues = ReturnType<typeof parseFlags>['values'];

export function parseCommand(argv: string[]): Command {
	const {values, positionals} = parseFlags(argv);
	if (values.help) return {kind: 'help'};
	if (values.version) return {kind: 'version'};
	const [sub, ...extra] = positionals;
	const command = commandOf(sub, extra, values);
	if (command === 'compare') return compareCommand(extra, values);
	if (command === 'check') return {kind: 'check', out: values.out ?? DEFAULT_OUT_DIR, python: values.python, json: values.json ?? false};
	if (command === 'detect') return {kind: 'detect', json: values.json ?? false, root: values.root, python: values.python, ...(values.model === undefined ? {} : {model: parseModel(values)})};
	if (command === 'setup') {
		return {kind: 'setup', python: values.python, torchIndex: values['torch-index'], extras: values.extras?.split(',').filter(Boolean), json: values.json ?? false, system: values.system ?? false};
	}
	const model = parseModel(values);
	if (command === 'probe') return probeCommand(values, model);
	return {kind: 'tune', auto: values.auto ?? false, tune: tuneFlags(values, model)};
}

/** The command named (none: tune), with every flag given checked to belong to it. */
function commandOf(sub: string | undefined, extra: string[], values: FlagValues): CommandName {
	if (sub !== undefined && !Object.hasOwn(flagsOf, sub)) {
		throw new UsageError(`unknown command: ${sub} (commands: detect, setup, probe, compare, check; or none to tune)`);
	}
	if (extra.length > 0 && sub !== 'compare') throw new UsageError(`unexpected argument: ${extra.join(' ')}`);
	const command = (sub ?? 'tune') as CommandName;
	const given = (Object.keys(values) as FlagName[]).filter(name => (values as Record<string, unknown>)[name] !== undefined);
	const stray = given.find(name => !flagsOf[command].includes(name));
	if (stray) {
		const owners = (Object.keys(flagsOf) as CommandName[]).filter(c => flagsOf[c].includes(stray)).map(c => (c === 'tune' ? '`graviton-tune [--auto]`' : `\`graviton-tune ${c}\``));
		throw new UsageError(`--${stray} does not apply to \`graviton-tune${command === 'tune' ? '' : ` ${command}`}\`; it belongs to ${owners.join(' and ')}`);
	}
	return command;
}

/** `graviton-tune compare`: the reports named, and where the HTML page goes. */
function compareCommand(reports: string[], values: FlagValues): Command {
	if (reports.length === 0) throw new UsageError('compare: name at least one report.json or output folder, e.g. graviton-tune compare c7g/ c8g/report.json');
	if (values.html !== undefined && values.html.trim() === '') throw new UsageError('--html: expected a file name, e.g. --html compare.html');
	return {kind: 'compare', reports, html: values.html, json: values.json ?? false};
}

/** `graviton-tune probe`: the contract's option flags parsed, the backend resolved, and --env. */
function probeCommand(values: FlagValues, model: ModelSpec): Command {
	let options: Partial<OptionValues>;
	try {
		options = optionsFromFlags(values);
	} catch (error) {
		if (error instanceof OptionValueError) throw new UsageError(error.message);
		throw error;
	}
	return {
		kind: 'probe',
		json: values.json ?? false,
		python: values.python,
		model,
		probe: {
			...options,
			// An .onnx file runs on ONNX Runtime unless told otherwise (PyTorch cannot run it).
			backend: options.backend ?? (/\.onnx$/i.test(model.path ?? '') ? 'onnxruntime' : 'torch'),
			env: parseEnv(values.env),
		},
	};
}

/** What `graviton-tune [--auto]` was asked, each flag checked, the defaults filled in. */
function tuneFlags(values: FlagValues, model: ModelSpec): TuneFlags {
	return {
		model,
		budgetSeconds: values.budget ? parseDuration(values.budget) : 600,
		out: values.out ?? DEFAULT_OUT_DIR,
		json: values.json ?? false,
		maxLatencyMs: positiveNumber('max-latency-ms', values['max-latency-ms']) ?? null,
		maxTtftMs: positiveNumber('max-ttft-ms', values['max-ttft-ms']) ?? null,
		recipes: values.recipes?.split(',').map(s => s.trim()).filter(Boolean),
		python: values.python,
		app: values.app ? splitCommand(values.app) : [...DEFAULT_APP],
		launchScript: values['launch-script'],
		resume: values.resume ?? false,
		minCosine: fraction('min-cosine', values['min-cosine'], 0.99),
		minTop1: fraction('min-top1', values['min-top1'], 0.99),
		maxAccuracyDrop: fraction('max-accuracy-drop', values['max-accuracy-drop'], 0.01),
		yes: values.yes ?? false,
		pricePerHour: positiveNumber('price-per-hour', values['price-per-hour']) ?? null,
		quietWaitSeconds: values['quiet-wait'] ? parseDuration(values['quiet-wait'], '--quiet-wait') : DEFAULT_QUIET_WAIT_SECONDS,
	};
}

/** Flags two spaces apart, on lines of at most 80 columns, indented like the other option lists. */
function wrapFlags(items: string[]): string {
	const lines: string[] = [];
	let line = '';
	for (const item of items) {
		if (line && `      ${line}  ${item}`.length > 80) {
			lines.push(`      ${line}`);
			line = item;
		} else {
			line = line ? `${line}  ${item}` : item;
		}
	}
	if (line) lines.push(`      ${line}`);
	return lines.join('\n');
}

export const helpText = `graviton-tune — find the fastest PyTorch CPU inference setup, measured on this machine

It detects the CPU (AWS Graviton generations, SVE/BF16/I8MM; AVX-512 BF16, VNNI, AMX on
x86), tells you which tuning recipes apply and why, measures each configuration in a
fresh Python process (samples/s with confidence intervals and an output check against
fp32), keeps only what really helps, and writes deployable files: an env file, a
launch script, report.json, report.md and report.html.

Usage
  graviton-tune [options]            interactive tuning (needs a terminal)
  graviton-tune --auto [options]     headless tuning: no prompts, progress on stderr
  graviton-tune detect [--json] [--root DIR]
                                     what this machine is and which recipes apply
  graviton-tune setup                create graviton-tune's own Python venv with torch
  graviton-tune probe [options]      measure one configuration and print the result
  graviton-tune compare REPORT... [--html FILE] [--json]
                                     runs side by side (report.json files, output
                                     folders, or a fleet folder with one subfolder per
                                     host), sorted by cost per million inferences, and
                                     instance types ranked by it
  graviton-tune check [--out DIR] [--json]
                                     after an upgrade or on another instance: is the
                                     deployed configuration (DIR's env file as written)
                                     still the winner here? Baseline and deployed in 3
                                     alternating pairs of fresh processes, against the
                                     recorded ratio's interval, kernels and outputs

Tuning options
  -m, --model NAME|PATH   built-in: resnet50 (default), resnet18, mobilenet_v3_large,
                          vit_b_16, bert_base (needs transformers), toy; or your own:
                          model.py[:factory] (a factory, and example_inputs(batch_size)
                          or --input-shape), a Hugging Face save_pretrained folder,
                          TorchScript .pt, torch.export .pt2, .onnx (ONNX backends only)
      --input-shape S     one-tensor models: per-sample input shape, e.g. 3,224,224
      --input-dtype T     float32 (images) or int64 (token ids)
      --factory NAME      factory function in a .py model (default build_model)
      --seq-len N         tokens per input for a Hugging Face folder (default 128)
      --task T            generate: a language model (…ForCausalLM, T5/Bart/Marian
                          …ForConditionalGeneration) measured generating, in tokens/s
                          with time to first token (the default for such models);
                          forward: one forward pass over a batch, in samples/s
      --prompt-len N      generation: prompt tokens per sequence (default 128)
      --new-tokens N      generation: new tokens per sequence, greedy, end of
                          sequence ignored (default 64); batch = sequences at once
      --samples FILE      real inputs (torch.save'd list, or .npz keyed by input name)
                          for int8 calibration and the output check
      --budget T          time for the walk, 10m (default), 90s, 1h; with --auto it
                          counts from the start, so the answer is in on time
      --max-latency-ms N  best throughput whose p99 batch latency is at most N ms
                          (generation: the p99 time between tokens)
      --max-ttft-ms N     generation: best tokens/s whose p99 time to the first
                          token is at most N ms
      --recipes a,b,c     only these recipes (ids from \`detect\`); baseline and batch
                          size always run
      --min-cosine X      output check threshold for lossy steps (default 0.99)
      --min-top1 X        top-1 agreement threshold for lossy steps (default 0.99)
      --max-accuracy-drop X  largest relative drop of your evaluate(model) score
                          from fp32 for a lossy step (default 0.01 = 1%)
      --resume            reuse figures measured earlier on this unchanged machine
  -o, --out DIR           where files go (default ./graviton-tune-out)
      --app "CMD"         what launch.sh starts (default "python app.py")
      --launch-script P   patch your own launch script instead (backup kept)
      --json              headless: one JSON event per line on stdout, result last
      --python PATH       the Python to measure with (default: active virtualenv,
                          then graviton-tune's managed venv, then python3 on PATH)
      --quiet-wait T      how long to wait for a busy machine to be quiet before a
                          probe that shared its CPUs is measured again (default 2m);
                          --auto gives up (exit 6) when it stays busy that long
  -y, --yes               interactive: accept the defaults without asking
      --price-per-hour P  the instance's hourly price (e.g. 0.145), for cost per
                          million inferences; default: a shipped AWS on-demand table
                          (us-east-1, Linux) by instance type, else unknown

Probe options (graviton-tune probe)
${wrapFlags([...optionFlagsHelp(), '--env KEY=VALUE (repeatable)'])}

Setup options (graviton-tune setup)
      --torch-index URL   extra package index for torch (x86 CPU-only wheels:
                          https://download.pytorch.org/whl/cpu)
      --extras a,b        optional packages (default: onnx onnxscript onnxruntime
                          openvino nncf transformers torchao)
      --system            also install the allocator libraries system-wide
                          (${libraryList()}) with the
                          distribution's package manager (apt, dnf, yum,
                          zypper), as root or through sudo; prints each command
                          it runs

Exit codes (headless)
  0 success · 1 internal error · 2 bad usage · 3 no usable Python/torch, unreadable
  machine or malformed recipe file · 4 the baseline probe failed (nothing to compare
  with) · 5 output files could not be written · 6 the machine stayed busy (other
  processes on the probes' CPUs) longer than --quiet-wait · 130 interrupted (SIGINT,
  SIGTERM or SIGHUP) · 7 check: the deployed configuration no longer wins as
  recorded (slower, other kernels, drifted outputs). With --json the last stdout line is the result for 0 and 5;
  otherwise the last event says what happened.

Examples
  npx graviton-tune setup && npx graviton-tune --auto --budget 5m
  graviton-tune --auto --model ./my_model.py --input-shape 3,224,224 \\
      --app "python serve.py --port 8080" --out /etc/myservice --json
  graviton-tune detect --root ./captured-c7g --json
  graviton-tune compare c7g-out/ c8g-out/ m7i-out/report.json --html fleet.html
  graviton-tune check --out /etc/myservice && systemctl restart myservice
  graviton-tune probe --model resnet50 --batch-size 8 --channels-last --autocast bf16
`;
