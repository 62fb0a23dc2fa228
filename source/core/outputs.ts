// What the user takes away: graviton-tune.env, launch.sh (new, or their own script
// patched), the runtime helper, report.json and report.md. Rendering is pure; only
// writeOutputs / patchFileInPlace / runtimeHelperSource touch the disk, and every
// write is atomic and keeps a backup of whatever it replaces.
import {constants as fsConstants} from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import {describeCost, findPrice, runCost} from './cost.js';
import type {RunCost} from './cost.js';
import {contendedProbes, contendedSummary} from './contention.js';
import {compactCpuList} from './describe.js';
import {limitsNote} from './limits.js';
import type {LimitsNote} from './limits.js';
import {headlineFigures} from './headline.js';
import {renderReportHtml} from './report-html.js';
import {accuracyNote, describeCandidate, formatRate} from './summary.js';
import type {AccuracyNote} from './summary.js';
import {probesDir} from './paths.js';
import {toolVersion} from './version.js';
import type {
	Candidate,
	Decision,
	Detection,
	ModelSpec,
	ProbeConfig,
	ProbeFailure,
	ProbeRecord,
	ProbeResult,
	PythonEnv,
	StepOutcome,
	WalkResult,
} from './types.js';

export const ENV_FILE_NAME = 'graviton-tune.env';
export const LAUNCH_SCRIPT_NAME = 'launch.sh';
export const RUNTIME_HELPER_NAME = 'graviton_tune_runtime.py';
export const REPORT_JSON_NAME = 'report.json';
export const REPORT_MD_NAME = 'report.md';
export const REPORT_HTML_NAME = 'report.html';
export const DEFAULT_OUT_DIR = 'graviton-tune-out';
/** What launch.sh runs when --app is not given. */
export const DEFAULT_APP: readonly string[] = ['python', 'app.py'];
export const REPORT_SCHEMA_VERSION = 1;

// ---------------------------------------------------------------- env file

// docker --env-file keeps quotes literally while `source` and systemd strip them, so
// the only spelling all three read identically is a bare value made of characters
// that none of them treats specially (no blanks, quotes, $, \, #, ~, globs, ;&|<>()).
const SAFE_VALUE = /^[A-Za-z0-9_.\/:,@+={}-]*$/;
const SAFE_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class EnvValueError extends Error {
	constructor(
		readonly key: string,
		readonly value: string,
		reason: string,
	) {
		super(`${key}=${JSON.stringify(value)} cannot go in ${ENV_FILE_NAME}: ${reason}`);
		this.name = 'EnvValueError';
	}
}

/** Throws EnvValueError unless KEY=VALUE reads the same under bash, systemd and docker. */
export function assertPortableEnv(key: string, value: string): void {
	if (!SAFE_KEY.test(key)) throw new EnvValueError(key, value, 'a variable name is letters, digits and _ and does not start with a digit');
	if (SAFE_VALUE.test(value)) return;
	const hint = /\s/.test(value) && key === 'LD_PRELOAD' ? ' (separate LD_PRELOAD libraries with ":" instead of spaces)' : '';
	throw new EnvValueError(
		key,
		value,
		`values must be unquoted and use only letters, digits and _ . / : , @ + = { } -, because docker --env-file takes quotes literally while bash and systemd strip them${hint}`,
	);
}

/** The model-level choices, as the runtime helper reads them (GT_*). */
export function modelVariables(config: ProbeConfig): Array<[string, string]> {
	const vars: Array<[string, string]> = [
		['GT_BATCH_SIZE', String(config.batchSize)],
		['GT_CHANNELS_LAST', config.channelsLast ? '1' : '0'],
		['GT_AUTOCAST', config.autocast ?? 'none'],
		['GT_FP32_PRECISION', config.fp32Precision ?? 'none'],
		['GT_COMPILE', config.compile ? '1' : '0'],
		['GT_QUANTIZATION', config.quantization ?? 'none'],
		['GT_BACKEND', config.backend],
		['GT_WORKERS', String(config.workers)],
		['GT_THREADS_PER_WORKER', String(config.threadsPerWorker)],
	];
	// ONNX Runtime's session as measured (an .onnx model starts from its defaults).
	if (config.backend === 'onnxruntime' && config.sessionOptions) {
		const entries = Object.entries(config.sessionOptions).map(([k, v]) => `${k}=${v}`);
		vars.push(['GT_ORT_OPTIONS', entries.length ? entries.join(',') : 'default']);
	}
	// The .onnx file itself is what the app serves (graviton_tune_runtime.model_path()).
	if (config.model.path && /\.onnx$/i.test(config.model.path)) vars.push(['GT_MODEL', path.resolve(config.model.path)]);
	// Workers were measured pinned inside this set; the helper pins them the same way.
	if (config.cpuList && config.cpuList.length > 0) vars.push(['GT_CPU_LIST', compactCpuList(config.cpuList)]);
	return vars;
}

/**
 * Every variable the env file sets, in file order: the winner's process environment
 * (OMP_NUM_THREADS always = threads per worker), then the GT_* model-level choices.
 * Throws EnvValueError for a value that would not read the same everywhere.
 */
export function envVariables(candidate: Candidate): {runtime: Array<[string, string]>; model: Array<[string, string]>} {
	const runtime: Array<[string, string]> = Object.entries(candidate.env).filter(
		([key]) => key !== 'OMP_NUM_THREADS' && !key.startsWith('GT_'),
	);
	runtime.push(['OMP_NUM_THREADS', String(candidate.config.threadsPerWorker)]);
	const model = modelVariables(candidate.config);
	for (const [key, value] of [...runtime, ...model]) assertPortableEnv(key, value);
	return {runtime, model};
}

/** Comment text on one line: a newline inside a comment would start a new assignment. */
function commentLine(text: string): string {
	return `# ${text}`.replace(/[\r\n]+/g, ' ').trimEnd();
}

export function describeMachine(detection: Detection): string {
	const cpu = detection.cpu;
	const name = cpu.platform ?? cpu.modelName ?? cpu.core ?? 'unknown CPU';
	const parts = [cpu.core && cpu.core !== name ? `${name} (${cpu.core})` : name, cpu.arch, `${detection.usableCpus} usable CPUs`];
	if (detection.cloud.instanceType) parts.push(detection.cloud.instanceType);
	return parts.join(', ');
}


function fmtRatio(value: number): string {
	return `${value.toFixed(2)}x`;
}

/** One line of figures: baseline → winner, speedup, and the back-to-back check. */
export function describeFigures(result: WalkResult): string[] {
	// The back-to-back verification is the figure to quote; the walk's own when there is none.
	const base = result.verification?.baseline ?? result.baseline.result;
	const best = result.verification?.best ?? result.best.result;
	const lines = [
		`baseline ${formatRate(base.samplesPerSecond.median)} -> winner ${formatRate(best.samplesPerSecond.median)} samples/s (${fmtRatio(result.best.speedup)}); winner p99 ${best.latencyMs.p99.toFixed(1)} ms per batch of ${best.batchSize}`,
	];
	if (result.verification) lines.push('measured back to back at the end of the walk');
	if (result.interrupted) lines.push('the walk was interrupted: best configuration measured so far');
	const busy = contendedProbes(result).length;
	if (busy > 0) lines.push(`WARNING: ${busy} probe${busy === 1 ? ' was' : 's were'} measured while other processes used these CPUs; see report.md`);
	return lines;
}

export function renderEnvFile(input: {result: WalkResult; detection: Detection; model: string; date: Date}): string {
	const best = input.result.best.candidate;
	const {runtime, model} = envVariables(best);
	const header = [
		'graviton-tune: the fastest configuration measured on this machine.',
		`Machine: ${describeMachine(input.detection)}`,
		`Model:   ${input.model}`,
		...describeFigures(input.result).map((line, i) => `${i === 0 ? 'Figures:' : '        '} ${line}`),
		`Recipes: ${best.recipes.length > 0 ? best.recipes.join(', ') : '(none: the baseline won)'}`,
		`Accuracy: ${accuracyNote(input.result).text}`,
		`Date:    ${input.date.toISOString()}`,
		'',
		'Values are bare on purpose: this file reads the same with `set -a; . ./graviton-tune.env; set +a`,',
		'systemd EnvironmentFile= and docker run --env-file. Do not add quotes or spaces.',
	];
	const lines = [
		...header.map(commentLine),
		'',
		commentLine('Process environment (read at process start).'),
		...runtime.map(([k, v]) => `${k}=${v}`),
		'',
		commentLine(model.some(([k]) => k === 'GT_MODEL')
			? 'Model-level choices, applied by graviton_tune_runtime: batch = onnx_inputs(model_path(), batch_size()); model = optimize(model_path(), batch).'
			: 'Model-level choices, applied by graviton_tune_runtime.optimize(model, example_input).'),
		...model.map(([k, v]) => `${k}=${v}`),
	];
	return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- launcher

const PYTHON_WORD = /^(?:[^\s'"\\$`;&|<>()]*\/)?python(?:3(?:\.\d+)?)?$/;
const SHELL_BARE = /^[A-Za-z0-9_.\/:,=@%+-]+$/;

/** Quote one argv element for bash: bare when harmless, else single quotes. */
export function shellQuote(arg: string): string {
	if (SHELL_BARE.test(arg)) return arg;
	return `'${arg.replace(/'/g, `'\\''`)}'`;
}

export function shellJoin(argv: readonly string[]): string {
	return argv.map(shellQuote).join(' ');
}

/**
 * The words that start N workers. A bare `python` becomes `torchrun`; an explicit
 * interpreter path keeps that interpreter (`/venv/bin/python -m torch.distributed.run`,
 * which is what torchrun is) so the service runs in the environment the user chose.
 */
function distributedPrefix(pythonWord: string | null, workers: number): string[] {
	const dist = ['--standalone', '--nproc-per-node', String(workers)];
	if (pythonWord && pythonWord.includes('/')) return [pythonWord, '-m', 'torch.distributed.run', ...dist];
	return ['torchrun', ...dist];
}

/**
 * How the first argument after `python` is handled by torchrun: a script or `-m module`
 * passes through; interpreter options (-u, -X …) do not exist in torchrun, so then the
 * interpreter is started as a plain program with --no-python.
 */
function needsNoPython(firstArg: string | undefined): boolean {
	return firstArg !== undefined && firstArg.startsWith('-') && firstArg !== '-m';
}

/** The app's argv as the winner launches it: unchanged for one worker, under torchrun for N. */
export function launcherArgv(app: readonly string[], workers: number): string[] {
	const [command, ...rest] = app;
	if (command === undefined) throw new Error('the app to launch is empty');
	if (workers <= 1) return [...app];
	if (!PYTHON_WORD.test(command)) return [...distributedPrefix(null, workers), '--no-python', ...app];
	if (needsNoPython(rest[0])) return [...distributedPrefix(command, workers), '--no-python', command, ...rest];
	return [...distributedPrefix(command, workers), ...rest];
}


export function renderLaunchScript(input: {best: Candidate; app: string[]; envFileName: string}): string {
	const app = input.app.length > 0 ? input.app : [...DEFAULT_APP];
	const workers = input.best.config.workers;
	const argv = launcherArgv(app, workers);
	const lines = [
		'#!/usr/bin/env bash',
		'# Generated by graviton-tune: starts the app with the configuration measured fastest here.',
		commentLine(`Winner: ${describeCandidate(input.best)}`),
		commentLine(`App: ${shellJoin(app)}  (choose with --app; default: ${DEFAULT_APP.join(' ')})`),
		'# Usage: ./launch.sh [more arguments for the app]. Relative paths in the app are',
		'# resolved from the directory you run it in; the env file is found next to this script.',
	];
	if (workers > 1) {
		lines.push(
			`# ${workers} workers under torchrun: each process gets LOCAL_RANK; a server that binds a port`,
			'# needs SO_REUSEPORT or a port per rank. graviton_tune_runtime.optimize() pins each worker.',
		);
	}
	lines.push(
		'set -euo pipefail',
		'here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"',
		'# set -a exports every variable the env file assigns.',
		'set -a',
		`. "$here"/${shellQuote(input.envFileName)}`,
		'set +a',
		`exec ${shellJoin(argv)} "$@"`,
	);
	return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- patching a user's script

export const ENV_BLOCK_BEGIN = '# >>> graviton-tune >>>';
export const ENV_BLOCK_END = '# <<< graviton-tune <<<';
export const LAUNCHER_BLOCK_BEGIN = '# >>> graviton-tune launcher >>>';
export const LAUNCHER_BLOCK_END = '# <<< graviton-tune launcher <<<';
/** Prefix of the commented copy of the user's original line inside the launcher block. */
const ORIGINAL_PREFIX = '#| ';

export interface PatchResult {
	text: string;
	changed: boolean;
	/** What was done or could not be done, in words. */
	notes: string[];
}

/** The sourcing line: POSIX sh, so it also works in a script run by dash. */
function sourceLine(envFilePath: string): string {
	if (path.isAbsolute(envFilePath)) return `. ${shellQuote(envFilePath)}`;
	// Relative to the script, not to wherever it is started from.
	return `. "$(dirname "$0")"/${shellQuote(envFilePath)}`;
}

function envBlock(envFilePath: string): string[] {
	return [
		ENV_BLOCK_BEGIN,
		'# Added by graviton-tune: load the measured configuration. Re-run graviton-tune to update.',
		'set -a',
		sourceLine(envFilePath),
		'set +a',
		ENV_BLOCK_END,
	];
}

/** [begin, end] line indexes of a marked block, or null. */
function findBlock(lines: string[], begin: string, end: string): [number, number] | null {
	const start = lines.findIndex((line) => line.trim() === begin);
	if (start < 0) return null;
	const stop = lines.findIndex((line, i) => i > start && line.trim() === end);
	return stop < 0 ? null : [start, stop];
}

interface PythonLine {
	indent: string;
	exec: string;
	assignments: string;
	word: string;
	rest: string;
}

// indent, optional `exec`, optional VAR=value prefixes, the interpreter word, the rest.
const PYTHON_LINE = /^(\s*)(exec\s+)?((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(\S+)((?:\s.*)?)$/;
// Helper invocations that are not the service: never the line to rewrite.
const NOT_THE_SERVICE = /^\s*(?:-m\s+(?:pip|venv|ensurepip|compileall)\b|-c\b|-V\b|--version\b)/;

function parsePythonLine(line: string): PythonLine | null {
	if (/^\s*#/.test(line)) return null;
	const m = PYTHON_LINE.exec(line);
	if (!m || !PYTHON_WORD.test(m[4]!) || NOT_THE_SERVICE.test(m[5] ?? '')) return null;
	return {indent: m[1]!, exec: m[2] ?? '', assignments: m[3] ?? '', word: m[4]!, rest: m[5] ?? ''};
}

/** The service's python line: the first `exec python …`, else the first python line. */
function findPythonLine(lines: string[]): number {
	const candidates = lines.map((line, i) => ({i, parsed: parsePythonLine(line)})).filter((c) => c.parsed !== null);
	const withExec = candidates.find((c) => c.parsed!.exec !== '');
	return (withExec ?? candidates[0])?.i ?? -1;
}

/** The line plus its backslash continuations. */
function continuationEnd(lines: string[], start: number): number {
	let end = start;
	while (end < lines.length - 1 && /\\$/.test(lines[end]!)) end++;
	return end;
}

/** The first line, rewritten to the winning launcher; continuation lines are kept verbatim. */
function rewritePythonLine(parsed: PythonLine, workers: number): string {
	const firstArg = parsed.rest.trimStart().split(/\s+/)[0];
	const prefix = distributedPrefix(parsed.word, workers);
	const launcher = needsNoPython(firstArg) ? `${shellJoin([...prefix, '--no-python'])} ${parsed.word}` : shellJoin(prefix);
	return `${parsed.indent}${parsed.exec}${parsed.assignments}${launcher}${parsed.rest}`;
}

function launcherBlock(original: string[], workers: number): string[] {
	const parsed = parsePythonLine(original[0]!)!;
	return [
		`${LAUNCHER_BLOCK_BEGIN} (the original lines follow as #| comments)`,
		...original.map((line) => `${ORIGINAL_PREFIX}${line}`),
		rewritePythonLine(parsed, workers),
		...original.slice(1),
		LAUNCHER_BLOCK_END,
	];
}

/** The original lines saved in an existing launcher block. */
function savedOriginal(lines: string[], block: [number, number]): string[] {
	return lines
		.slice(block[0] + 1, block[1])
		.filter((line) => line.startsWith(ORIGINAL_PREFIX))
		.map((line) => line.slice(ORIGINAL_PREFIX.length));
}

function patchEnvBlock(lines: string[], envFilePath: string, notes: string[]): string[] {
	const block = envBlock(envFilePath);
	const existing = findBlock(lines, ENV_BLOCK_BEGIN, ENV_BLOCK_END);
	if (existing) {
		notes.push('env block: updated in place');
		return [...lines.slice(0, existing[0]), ...block, ...lines.slice(existing[1] + 1)];
	}
	const at = lines[0]?.startsWith('#!') ? 1 : 0;
	notes.push('env block: added after the shebang');
	return [...lines.slice(0, at), ...block, ...lines.slice(at)];
}

function patchLauncher(lines: string[], workers: number, notes: string[]): string[] {
	// Matching the begin marker by prefix: it carries an explanation after it.
	const start = lines.findIndex((line) => line.trim().startsWith(LAUNCHER_BLOCK_BEGIN));
	const stop = start < 0 ? -1 : lines.findIndex((line, i) => i > start && line.trim() === LAUNCHER_BLOCK_END);
	let original: string[];
	let span: [number, number];
	if (start >= 0 && stop >= 0) {
		original = savedOriginal(lines, [start, stop]);
		span = [start, stop];
	} else {
		const at = findPythonLine(lines);
		if (at < 0) {
			notes.push('no python invocation found (a line whose command is python, python3 or …/bin/python): only the env block was added; start your app with the launcher yourself');
			return lines;
		}
		span = [at, continuationEnd(lines, at)];
		original = lines.slice(span[0], span[1] + 1);
	}
	if (original.length === 0 || !parsePythonLine(original[0]!)) {
		notes.push('the graviton-tune launcher block has no recognisable original line: left as it is');
		return lines;
	}
	const parsed = parsePythonLine(original[0]!)!;
	if (parsed.assignments.trim() !== '') notes.push(`the python line sets ${parsed.assignments.trim()} itself, which overrides the env file for those variables`);
	const replacement = workers > 1 ? launcherBlock(original, workers) : original;
	notes.push(
		workers > 1
			? `python invocation rewritten to ${workers} workers: ${rewritePythonLine(parsed, workers).trim()}`
			: 'single process wins: the python invocation is kept as it was',
	);
	return [...lines.slice(0, span[0]), ...replacement, ...lines.slice(span[1] + 1)];
}

/**
 * Patch a user's launch script: a marked env block after the shebang, and the first
 * python invocation rewritten to the winning launcher inside markers (the original
 * kept as comments, so patching again — same or different winner — starts from it).
 */
export function patchLaunchScript(original: string, input: {best: Candidate; envFilePath: string}): PatchResult {
	const notes: string[] = [];
	const trailingNewline = original.endsWith('\n') || original === '';
	let lines = original.split('\n');
	if (trailingNewline) lines.pop();
	lines = patchEnvBlock(lines, input.envFilePath, notes);
	lines = patchLauncher(lines, input.best.config.workers, notes);
	const text = lines.join('\n') + (trailingNewline ? '\n' : '');
	return {text, changed: text !== original, notes};
}

// ---------------------------------------------------------------- diff

type DiffOp = {kind: ' ' | '-' | '+'; line: string};

function splitForDiff(text: string): string[] {
	if (text === '') return [];
	const lines = text.split('\n');
	if (lines[lines.length - 1] === '') lines.pop();
	return lines;
}

/** Line diff by longest common subsequence, after trimming the common head and tail. */
function diffLines(a: string[], b: string[]): DiffOp[] {
	let head = 0;
	while (head < a.length && head < b.length && a[head] === b[head]) head++;
	let tail = 0;
	while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
	const midA = a.slice(head, a.length - tail);
	const midB = b.slice(head, b.length - tail);
	const ops: DiffOp[] = a.slice(0, head).map((line) => ({kind: ' ', line}));
	ops.push(...lcsOps(midA, midB));
	ops.push(...a.slice(a.length - tail).map((line): DiffOp => ({kind: ' ', line})));
	return ops;
}

function lcsOps(a: string[], b: string[]): DiffOp[] {
	const n = a.length;
	const m = b.length;
	// A launch script is small; past this size a plain replace is an honest diff too.
	if (n * m > 4_000_000) return [...a.map((line): DiffOp => ({kind: '-', line})), ...b.map((line): DiffOp => ({kind: '+', line}))];
	const w = m + 1;
	const len = new Uint32Array((n + 1) * w);
	for (let i = n - 1; i >= 0; i--) {
		for (let j = m - 1; j >= 0; j--) {
			len[i * w + j] = a[i] === b[j] ? len[(i + 1) * w + j + 1]! + 1 : Math.max(len[(i + 1) * w + j]!, len[i * w + j + 1]!);
		}
	}
	const ops: DiffOp[] = [];
	let i = 0;
	let j = 0;
	while (i < n || j < m) {
		if (i < n && j < m && a[i] === b[j]) {
			ops.push({kind: ' ', line: a[i++]!});
			j++;
		} else if (i < n && (j === m || len[(i + 1) * w + j]! >= len[i * w + j + 1]!)) {
			// Removals before additions, as diff(1) prints them.
			ops.push({kind: '-', line: a[i++]!});
		} else {
			ops.push({kind: '+', line: b[j++]!});
		}
	}
	return ops;
}

/** Group ops into hunks with `context` lines around each change. */
function hunks(ops: DiffOp[], context: number): Array<[number, number]> {
	const changed = ops.map((op, i) => (op.kind === ' ' ? -1 : i)).filter((i) => i >= 0);
	const groups: Array<[number, number]> = [];
	for (const i of changed) {
		const last = groups[groups.length - 1];
		if (last && i - last[1] <= 2 * context + 1) last[1] = i;
		else groups.push([i, i]);
	}
	return groups.map(([s, e]) => [Math.max(0, s - context), Math.min(ops.length - 1, e + context)]);
}

function hunkRange(start: number, count: number): string {
	// Unified format: an empty range names the line before it.
	return `${count === 0 ? start : start + 1},${count}`;
}

/** A unified diff (3 lines of context), '' when the texts are equal. */
export function unifiedDiff(oldText: string, newText: string, name: string, context = 3): string {
	if (oldText === newText) return '';
	const ops = diffLines(splitForDiff(oldText), splitForDiff(newText));
	const out = [`--- a/${name}`, `+++ b/${name}`];
	for (const [s, e] of hunks(ops, context)) {
		const before = ops.slice(0, s);
		const oldStart = before.filter((op) => op.kind !== '+').length;
		const newStart = before.filter((op) => op.kind !== '-').length;
		const body = ops.slice(s, e + 1);
		const oldCount = body.filter((op) => op.kind !== '+').length;
		const newCount = body.filter((op) => op.kind !== '-').length;
		out.push(`@@ -${hunkRange(oldStart, oldCount)} +${hunkRange(newStart, newCount)} @@`);
		out.push(...body.map((op) => `${op.kind}${op.line}`));
	}
	return out.join('\n') + '\n';
}

// ---------------------------------------------------------------- report

export interface ReportCandidate {
	config: ProbeConfig;
	env: Record<string, string>;
	recipes: string[];
	summary: string;
}

export interface ReportProbe extends ReportCandidate {
	stepId: string;
	title: string;
	startedAt: string;
	durationMs: number;
	outcome: StepOutcome | null;
	result: ProbeResult | null;
	failure: ProbeFailure | null;
}

export interface Report {
	schemaVersion: typeof REPORT_SCHEMA_VERSION;
	tool: {name: 'graviton-tune'; version: string};
	startedAt: string;
	generatedAt: string;
	machine: Detection;
	python: PythonEnv;
	model: ModelSpec;
	options: Record<string, unknown>;
	probes: ReportProbe[];
	decisions: Decision[];
	baseline: ReportCandidate & {result: ProbeResult};
	best: ReportCandidate & {result: ProbeResult; speedup: number; envFile: Record<string, string>};
	verification: WalkResult['verification'];
	/** How the winner's accuracy was checked (real samples, evaluate(), or random inputs only). */
	accuracy: AccuracyNote;
	interrupted: boolean;
	elapsedSeconds: number;
	/** Cost per million inferences, baseline and winner, from the headline figures; absent in reports written before it existed. */
	cost?: RunCost;
	/** The distance to the limit (source/core/limits.ts): share of this CPU's matmul rate, baseline and winner; absent before issue 12. */
	limits?: LimitsNote | null;
	/** Set when decisions rest on probes that shared their CPUs with other processes (each probe's result.contention says how much). */
	contendedNote: string | null;
	/** Names of the files written beside report.json. */
	files: string[];
}

export function modelLabel(model: ModelSpec): string {
	if (model.path) return path.basename(model.path) + (model.factory ? `:${model.factory}` : '');
	return model.name ?? 'resnet50';
}

function reportCandidate(candidate: Candidate): ReportCandidate {
	return {config: candidate.config, env: candidate.env, recipes: candidate.recipes, summary: describeCandidate(candidate)};
}

/** The last decision taken about a step (close calls are re-measured, the last word counts). */
function outcomeOf(stepId: string, decisions: Decision[]): StepOutcome | null {
	for (let i = decisions.length - 1; i >= 0; i--) if (decisions[i]!.stepId === stepId) return decisions[i]!.outcome;
	return null;
}

function reportProbe(record: ProbeRecord, decisions: Decision[]): ReportProbe {
	return {
		stepId: record.stepId,
		title: record.title,
		startedAt: record.startedAt,
		durationMs: record.durationMs,
		...reportCandidate(record.candidate),
		outcome: outcomeOf(record.stepId, decisions) ?? (record.failure ? 'failed' : null),
		result: record.result,
		failure: record.failure,
	};
}

export const OUTPUT_FILE_NAMES: readonly string[] = [ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, RUNTIME_HELPER_NAME, REPORT_JSON_NAME, REPORT_MD_NAME, REPORT_HTML_NAME];

/** What a finished run knows: everything the report and the files are made from. */
export interface RunFacts {
	result: WalkResult;
	detection: Detection;
	python: PythonEnv;
	model: ModelSpec;
	options: Record<string, unknown>;
	startedAt: Date;
	/** --price-per-hour; else the instance type's price is looked up (unknown stays unknown). */
	pricePerHour?: number | null;
}

export function buildReport(input: RunFacts & {
	files?: string[];
	generatedAt?: Date;
}): Report {
	const {result} = input;
	const {runtime, model} = envVariables(result.best.candidate);
	return {
		schemaVersion: REPORT_SCHEMA_VERSION,
		tool: {name: 'graviton-tune', version: toolVersion},
		startedAt: input.startedAt.toISOString(),
		generatedAt: (input.generatedAt ?? new Date()).toISOString(),
		machine: input.detection,
		python: input.python,
		model: input.model,
		options: input.options,
		probes: result.probes.map((record) => reportProbe(record, result.decisions)),
		decisions: result.decisions,
		baseline: {...reportCandidate(result.baseline.candidate), result: result.baseline.result},
		best: {
			...reportCandidate(result.best.candidate),
			result: result.best.result,
			speedup: result.best.speedup,
			envFile: Object.fromEntries([...runtime, ...model]),
		},
		verification: result.verification,
		accuracy: accuracyNote(result),
		interrupted: result.interrupted,
		elapsedSeconds: result.elapsedSeconds,
		cost: runCost(headlineFigures(result), findPrice(input.detection.cloud, input.pricePerHour)),
		limits: limitsNote(result, result.limits),
		contendedNote: contendedSummary(result),
		files: input.files ?? [...OUTPUT_FILE_NAMES],
	};
}

/** A markdown table cell: pipes and newlines would break the row. */
function cell(text: string): string {
	return text.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

function rateCell(result: ProbeResult | null): string {
	if (!result) return '—';
	const s = result.samplesPerSecond;
	return `${formatRate(s.median)} [${formatRate(s.ciLow)}–${formatRate(s.ciHigh)}]`;
}

function probeRow(probe: ReportProbe, index: number): string {
	const outcome = (probe.failure ? `failed: ${probe.failure.code}` : (probe.outcome ?? '—')) + (probe.result?.contention?.contended ? ' (contended)' : '');
	const cols = [
		String(index + 1),
		probe.title,
		probe.summary,
		rateCell(probe.result),
		probe.result ? probe.result.latencyMs.p99.toFixed(1) : '—',
		probe.result?.check ? probe.result.check.cosine.toFixed(4) : '—',
		outcome,
	];
	return `| ${cols.map(cell).join(' | ')} |`;
}

function decisionLine(decision: Decision): string {
	const figures = [decision.samplesPerSecond !== null ? `${formatRate(decision.samplesPerSecond)} samples/s` : null, decision.ratio !== null ? fmtRatio(decision.ratio) : null]
		.filter(Boolean)
		.join(', ');
	return `- **${decision.title}**: ${decision.outcome}${figures ? ` (${figures})` : ''}. ${decision.reason}`;
}

function winnerSection(report: Report): string[] {
	const base = report.baseline.result.samplesPerSecond.median;
	const best = report.best.result;
	const lines = [
		'## Winner',
		'',
		`**${formatRate(best.samplesPerSecond.median)} samples/s** against a baseline of ${formatRate(base)} (${fmtRatio(report.best.speedup)}), p99 ${best.latencyMs.p99.toFixed(1)} ms per batch of ${best.batchSize}.`,
	];
	if (report.verification) lines.push(`Measured back to back at the end: ${fmtRatio(report.verification.speedup)}.`);
	if (report.interrupted) lines.push('The walk was interrupted: this is the best configuration measured so far.');
	if (report.cost) lines.push('', `Cost: ${describeCost(report.cost)}.`);
	if (report.limits) lines.push('', `Distance to the limit: ${report.limits.lines.join('; ')}.`);
	if (report.contendedNote) lines.push('', `**Warning: the machine was busy.** ${report.contendedNote}`);
	lines.push('', `- Configuration: ${report.best.summary}`, `- Recipes: ${report.best.recipes.length > 0 ? report.best.recipes.join(', ') : '(none: the baseline won)'}`, `- Accuracy: ${report.accuracy.text}`, '', '```sh');
	lines.push(...Object.entries(report.best.envFile).map(([k, v]) => `${k}=${v}`), '```');
	return lines;
}

/** How to deploy the files, as prose with `code` spans plus the runtime helper's snippet: report.md and report.html both show it. */
export const DEPLOY_STEPS: readonly string[] = [
	`\`${ENV_FILE_NAME}\` works with \`set -a; . ./${ENV_FILE_NAME}; set +a\`, systemd \`EnvironmentFile=\` and \`docker run --env-file\`.`,
	`\`./${LAUNCH_SCRIPT_NAME} [args]\` loads it and starts the app with the winning launcher; your arguments pass through.`,
	`Copy \`${RUNTIME_HELPER_NAME}\` next to your code to apply the model-level choices (GT_* variables):`,
];
export const RUNTIME_SNIPPET: readonly string[] = ['from graviton_tune_runtime import optimize', 'model = optimize(model, example_input)', 'output = model(batch)'];

function deploySection(): string[] {
	return ['## How to deploy', '', ...DEPLOY_STEPS.map((step) => `- ${step}`), '', '```python', ...RUNTIME_SNIPPET, '```'];
}

export function renderReportMarkdown(report: Report): string {
	const lines = [
		'# graviton-tune report',
		'',
		`- Model: ${modelLabel(report.model)}`,
		`- Machine: ${describeMachine(report.machine)}`,
		`- Python: ${report.python.interpreter ?? 'unknown'}${report.python.torch ? `, torch ${report.python.torch.version}` : ''}`,
		`- Date: ${report.generatedAt} (walk took ${report.elapsedSeconds.toFixed(0)} s), graviton-tune ${report.tool.version}`,
		'',
		...winnerSection(report),
		'',
		'## Probes',
		'',
		'| # | Step | Configuration | samples/s median [95% CI] | p99 ms | check cosine | Outcome |',
		'|---|------|---------------|---------------------------|--------|--------------|---------|',
		...report.probes.map(probeRow),
		'',
		'## Decisions',
		'',
		...(report.decisions.length > 0 ? report.decisions.map(decisionLine) : ['(none)']),
		'',
		...deploySection(),
	];
	const failures = report.probes.filter((p) => p.failure);
	if (failures.length > 0) {
		lines.push('', '## Failures', '');
		for (const p of failures) lines.push(`- **${p.title}**: ${p.failure!.message}${p.failure!.hint ? ` (hint: ${p.failure!.hint})` : ''}`);
	}
	return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- files

export interface OutputFile {
	name: string;
	content: string;
	mode?: number;
}

/** The runtime helper as shipped in probes/, copied into the output directory. */
export async function runtimeHelperSource(): Promise<string> {
	return fs.readFile(path.join(probesDir, RUNTIME_HELPER_NAME), 'utf8');
}

/** Every output file, rendered. */
export async function renderOutputFiles(input: RunFacts & {
	app?: string[];
	date?: Date;
}): Promise<OutputFile[]> {
	const date = input.date ?? new Date();
	const report = buildReport({...input, generatedAt: date, files: [...OUTPUT_FILE_NAMES]});
	return [
		{name: ENV_FILE_NAME, content: renderEnvFile({result: input.result, detection: input.detection, model: modelLabel(input.model), date})},
		{name: LAUNCH_SCRIPT_NAME, content: renderLaunchScript({best: input.result.best.candidate, app: input.app ?? [...DEFAULT_APP], envFileName: ENV_FILE_NAME}), mode: 0o755},
		{name: RUNTIME_HELPER_NAME, content: await runtimeHelperSource()},
		{name: REPORT_JSON_NAME, content: JSON.stringify(report, null, '\t') + '\n'},
		{name: REPORT_MD_NAME, content: renderReportMarkdown(report)},
		{name: REPORT_HTML_NAME, content: renderReportHtml(report)},
	];
}

async function readIfExists(file: string): Promise<string | null> {
	try {
		return await fs.readFile(file, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw error;
	}
}

/** Copy `file` to the first free name of base, base.1, base.2 …: an earlier backup is never overwritten. */
async function backupTo(file: string, base: string): Promise<string> {
	for (let n = 0; ; n++) {
		const target = n === 0 ? base : `${base}.${n}`;
		try {
			await fs.copyFile(file, target, fsConstants.COPYFILE_EXCL);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
			// A copy cut short (full disk) is no backup: do not leave it looking like one.
			await fs.rm(target, {force: true}).catch(() => undefined);
			throw new OutputWriteError(target, error);
		}
		const {mode} = await fs.stat(file);
		await fs.chmod(target, mode & 0o7777);
		return target;
	}
}

/** A write that failed, said with where: "could not write /srv/out/.launch.sh.tmp-…: no space left on device". */
export class OutputWriteError extends Error {
	constructor(
		readonly file: string,
		cause: unknown,
	) {
		const code = (cause as NodeJS.ErrnoException).code;
		const why = code === 'ENOSPC' ? 'no space left on device' : code === 'EDQUOT' ? 'disk quota exceeded' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (cause as Error).message;
		super(`${file}: ${why}`);
		this.name = 'OutputWriteError';
	}
}

/** Write content to a new temp file beside `file` (same directory: rename is atomic), fsync'd. Returns its path. */
async function writeTemp(file: string, content: string, mode: number): Promise<string> {
	const temp = path.join(path.dirname(file), `.${path.basename(file)}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
	let handle: fs.FileHandle;
	try {
		handle = await fs.open(temp, 'wx', mode);
	} catch (error) {
		throw new OutputWriteError(file, error);
	}
	try {
		await handle.writeFile(content, 'utf8');
		// open()'s mode is filtered by the umask; the target mode is meant exactly.
		await handle.chmod(mode);
		await handle.sync();
		await handle.close();
	} catch (error) {
		await handle.close().catch(() => undefined);
		await fs.rm(temp, {force: true});
		throw new OutputWriteError(file, error);
	}
	return temp;
}

/** Temp file in the same directory (so rename is atomic), fsync'd, then renamed over the target. */
export async function atomicWrite(file: string, content: string, mode: number): Promise<void> {
	const temp = await writeTemp(file, content, mode);
	try {
		await fs.rename(temp, file);
	} catch (error) {
		await fs.rm(temp, {force: true});
		throw new OutputWriteError(file, error);
	}
	await syncDir(path.dirname(file));
}

/** Make the rename itself durable; some filesystems refuse fsync on a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
	try {
		const handle = await fs.open(dir, 'r');
		try {
			await handle.sync();
		} finally {
			await handle.close();
		}
	} catch {
		// best effort
	}
}

function timestamp(date = new Date()): string {
	return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function defaultMode(name: string): number {
	return name.endsWith('.sh') ? 0o755 : 0o644;
}

/**
 * Write files atomically into dir (created if missing). A file whose content is
 * already the same is left alone; a different existing file is first copied to
 * `<name><backupSuffix>` (default `.bak-<UTC timestamp>`, with .1, .2 … if taken).
 *
 * All or nothing: every new content is written to a temp file and every backup made
 * before the first rename, so a full disk or a permission problem leaves the directory
 * as it was (no temp files, no half a set of files, no directory we created).
 */
export async function writeOutputs(
	dir: string,
	files: OutputFile[],
	opts: {backupSuffix?: string} = {},
): Promise<{written: string[]; backups: string[]; unchanged: string[]}> {
	let created: string | undefined;
	try {
		created = await fs.mkdir(dir, {recursive: true});
	} catch (error) {
		throw new OutputWriteError(dir, error);
	}
	const suffix = opts.backupSuffix ?? `.bak-${timestamp()}`;
	const unchanged: string[] = [];
	const staged: Array<{target: string; temp: string}> = [];
	const backups: string[] = [];
	try {
		for (const file of files) {
			const target = path.join(dir, file.name);
			const existing = await readIfExists(target);
			if (existing === file.content) {
				unchanged.push(target);
				continue;
			}
			staged.push({target, temp: await writeTemp(target, file.content, file.mode ?? defaultMode(file.name))});
			if (existing !== null) backups.push(await backupTo(target, target + suffix));
		}
	} catch (error) {
		await Promise.all([...staged.map(s => fs.rm(s.temp, {force: true})), ...backups.map(b => fs.rm(b, {force: true}))]);
		if (created) await fs.rm(created, {recursive: true, force: true});
		throw error instanceof OutputWriteError ? error : new OutputWriteError(dir, error);
	}
	// Renames within one directory need no space and do not fail half-way for space.
	for (const {target, temp} of staged) {
		try {
			await fs.rename(temp, target);
		} catch (error) {
			await Promise.all(staged.map(s => fs.rm(s.temp, {force: true})));
			throw new OutputWriteError(target, error);
		}
	}
	await syncDir(dir);
	return {written: staged.map(s => s.target), backups, unchanged};
}

/**
 * The env file as the patched script should name it: relative to the script when it
 * sits in or below the script's directory (the pair can move together), else absolute.
 * A relative envFilePath given here is relative to the current directory.
 */
function envPathForScript(script: string, envFilePath: string): string {
	const absolute = path.resolve(envFilePath);
	const relative = path.relative(path.dirname(script), absolute);
	return relative.startsWith('..') || path.isAbsolute(relative) ? absolute : relative;
}

/**
 * Patch the user's launch script in place: backup beside it
 * (`<script>.graviton-tune.bak`, .1, .2 … never clobbered), atomic write, mode kept.
 * With dryRun nothing is written: show the diff, ask, then call again.
 */
export async function patchFileInPlace(
	file: string,
	input: {best: Candidate; envFilePath: string},
	opts: {dryRun?: boolean} = {},
): Promise<{diff: string; changed: boolean; backupPath: string | null; notes: string[]; path: string}> {
	// Through a symlink to the real script: replacing the link would detach it.
	const real = await fs.realpath(file);
	const original = await fs.readFile(real, 'utf8');
	const patched = patchLaunchScript(original, {best: input.best, envFilePath: envPathForScript(real, input.envFilePath)});
	const diff = unifiedDiff(original, patched.text, path.basename(file));
	if (!patched.changed || opts.dryRun) return {diff, changed: patched.changed, backupPath: null, notes: patched.notes, path: real};
	const {mode} = await fs.stat(real);
	const backupPath = await backupTo(real, `${real}.graviton-tune.bak`);
	await atomicWrite(real, patched.text, mode & 0o7777);
	return {diff, changed: true, backupPath, notes: patched.notes, path: real};
}
