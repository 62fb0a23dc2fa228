// Run one probe: a fresh Python process (or torchrun with N workers) per configuration,
// because the knobs we measure (LD_PRELOAD, OMP_*, DNNL_*, THP_MEM_ALLOC_ENABLE…) are read
// at process start. Streams the probe's JSON lines as typed events and turns every way a
// probe can die into a typed ProbeFailure, so nobody upstream ever parses a traceback.
import os from 'node:os';
import path from 'node:path';
import {existsSync} from 'node:fs';
import {processTree, ProbeWatch} from '../machine/contention.js';
import {optionVariables, probeArguments} from '../recipes/contract.js';
import {inductorCacheDir, probesDir as defaultProbesDir} from '../paths.js';
import {plainText, runInGroup, type GroupExit} from './process-group.js';
import type {ProbeConfig, ProbeEvent, ProbeFailure, ProbeOutcome, ProbeResult} from '../types.js';

/** What to run inside Python: the real probe package, or (tests) a stand-in script. */
export type ProbeEntry = {module: string} | {script: string};

export interface RunProbeOptions {
	/** The interpreter (PythonEnv.interpreter). */
	python: string;
	/** The configuration's environment (recipes): applied on top of the cleaned base. */
	env?: Record<string, string>;
	/** Default process.env. Tuning variables in it are dropped, see buildProbeEnv. */
	baseEnv?: NodeJS.ProcessEnv;
	signal?: AbortSignal;
	/** Undefined: defaultProbeTimeoutMs(config). 0: no limit. */
	timeoutMs?: number;
	onEvent?: (event: ProbeEvent) => void;
	cwd?: string;
	/** Default {module: 'graviton_tune_probe'}. */
	entry?: ProbeEntry;
	/** SIGTERM → SIGKILL delay when we stop the group (default 3 s). */
	graceMs?: number;
	/** Called with the leader's pid (and the run's process tag) once it runs. */
	onSpawn?: (pid: number, tag: string) => void;
	/** The walk's folder for converted models (PROBE_CACHE_ENV): re-probes read them back. */
	cacheDir?: string;
}

export const PROBE_MODULE = 'graviton_tune_probe';
/** Where a probe keeps converted models for the next probe of the same configuration (probes/graviton_tune_probe/run.py, CACHE_ENV). */
export const PROBE_CACHE_ENV = 'GRAVITON_TUNE_CACHE_DIR';
/** inductor's cache folder: every probe gets the tool's per-machine one (paths.ts, inductorCacheDir). */
export const INDUCTOR_CACHE_ENV = 'TORCHINDUCTOR_CACHE_DIR';

/**
 * Inherited variables that change what we measure. The probe must see exactly the
 * configuration's environment, as the launch script will give it to the service, and not
 * whatever the user's shell happened to export (a stray LD_PRELOAD=tcmalloc would make
 * the baseline look like the allocator step).
 */
// GT_*: a shell that sourced an earlier graviton-tune.env must not steer the probes either.
const TUNING_PREFIXES = ['DNNL_', 'ONEDNN_', 'OMP_', 'KMP_', 'GOMP_', 'TORCHINDUCTOR_', 'TCMALLOC_', 'GT_'];
const TUNING_NAMES = new Set(['LD_PRELOAD', 'THP_MEM_ALLOC_ENABLE', 'LRU_CACHE_CAPACITY', 'MALLOC_CONF']);

export function isTuningVariable(name: string): boolean {
	return TUNING_NAMES.has(name) || TUNING_PREFIXES.some(prefix => name.startsWith(prefix));
}

export function buildProbeEnv(
	config: ProbeConfig,
	options: {env?: Record<string, string>; baseEnv?: NodeJS.ProcessEnv; probesDir?: string; cacheDir?: string} = {},
): Record<string, string> {
	const result: Record<string, string> = {};
	for (const [name, value] of Object.entries(options.baseEnv ?? process.env)) {
		if (value !== undefined && !isTuningVariable(name)) result[name] = value;
	}
	Object.assign(result, options.env ?? {});
	// The deployment's choices as the env file spells them (one serializer): the probe reads
	// them from its environment through the runtime helper, as a deployed app does.
	Object.assign(result, Object.fromEntries(optionVariables(config)));
	if (options.cacheDir) result[PROBE_CACHE_ENV] = options.cacheDir;
	// inductor's caches in the tool's per-machine folder (the inherited TORCHINDUCTOR_* were
	// dropped above), unless the configuration names its own.
	result[INDUCTOR_CACHE_ENV] ??= inductorCacheDir();
	const probes = options.probesDir ?? defaultProbesDir;
	const inherited = result['PYTHONPATH'];
	result['PYTHONPATH'] = inherited ? `${probes}${path.delimiter}${inherited}` : probes;
	// Events must arrive as they happen, not when a 4 KB buffer fills.
	result['PYTHONUNBUFFERED'] = '1';
	if (options.env?.['OMP_NUM_THREADS'] === undefined) result['OMP_NUM_THREADS'] = String(config.threadsPerWorker);
	return result;
}

export function buildProbeCommand(
	config: ProbeConfig,
	options: {python: string; entry?: ProbeEntry},
): {file: string; args: string[]} {
	const entry = options.entry ?? {module: PROBE_MODULE};
	const target = 'module' in entry ? ['-m', entry.module] : [entry.script];
	const probeArgs = [...target, 'run', '--config', JSON.stringify(probeArguments(config))];
	if (config.workers > 1) {
		// torch.distributed.run is torchrun; going through the interpreter avoids relying
		// on a torchrun script with a stale shebang.
		const launcher = ['-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', String(config.workers)];
		return {file: options.python, args: [...launcher, ...probeArgs]};
	}
	return {file: options.python, args: probeArgs};
}

/**
 * Generous: the budget covers timed measurement only; loading, compiling (minutes on two
 * cores), quantizing and warm-up come on top.
 */
export function defaultProbeTimeoutMs(config: ProbeConfig): number {
	const setupAllowance = 300 + (config.compile ? 600 : 0) + (config.quantization ? 600 : 0);
	return (config.budgetSeconds * 2 + setupAllowance) * 1000;
}

const EVENT_TYPES = new Set(['start', 'phase', 'progress', 'result', 'error', 'log']);

/** One stdout line → an event, or null when it is not one of ours. Checks only what we rely on. */
export function parseProbeLine(line: string): ProbeEvent | null {
	let value: unknown;
	try {
		value = JSON.parse(line);
	} catch {
		return null;
	}
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
	const event = value as Record<string, unknown>;
	if (typeof event['type'] !== 'string' || !EVENT_TYPES.has(event['type'])) return null;
	if (!hasRequiredFields(event)) return null;
	// Messages carry library text (warnings, exceptions) on to the user: no terminal escapes.
	for (const key of ['message', 'hint'] as const) if (typeof event[key] === 'string') event[key] = plainText(event[key]);
	return event as unknown as ProbeEvent;
}

function hasRequiredFields(event: Record<string, unknown>): boolean {
	switch (event['type']) {
		case 'phase':
			return typeof event['phase'] === 'string';
		case 'result': {
			const sps = event['samplesPerSecond'] as Record<string, unknown> | null | undefined;
			return typeof sps === 'object' && sps !== null && typeof sps['median'] === 'number';
		}
		case 'error':
			return typeof event['code'] === 'string' && typeof event['message'] === 'string';
		case 'log':
			return typeof event['message'] === 'string';
		default:
			return true;
	}
}

/** What the stream told us, for classifying the exit. */
export interface StreamState {
	events: ProbeEvent[];
	result: ProbeResult | null;
	error: Extract<ProbeEvent, {type: 'error'}> | null;
	firstBadLine: string | null;
}

function newStreamState(): StreamState {
	return {events: [], result: null, error: null, firstBadLine: null};
}

function takeLine(state: StreamState, line: string, onEvent?: (event: ProbeEvent) => void): void {
	if (line.trim() === '') return;
	const event = parseProbeLine(line);
	if (event === null) {
		state.firstBadLine ??= line;
		return;
	}
	state.events.push(event);
	if (event.type === 'result') {
		const {type: _type, ...result} = event;
		// Under torchrun the aggregate (with per-worker figures) is the one that counts.
		if (state.result === null || (result.workers && !state.result.workers)) state.result = result;
	}
	if (event.type === 'error') state.error ??= event;
	onEvent?.(event);
}

export async function runProbe(config: ProbeConfig, options: RunProbeOptions): Promise<ProbeOutcome> {
	const started = Date.now();
	const state = newStreamState();
	const {file, args} = buildProbeCommand(config, {python: options.python, entry: options.entry});
	const timeoutMs = options.timeoutMs ?? defaultProbeTimeoutMs(config);
	const missing = missingPreload(options.env);
	if (missing) return {ok: false, failure: missing, events: [], durationMs: 0};
	let leader: number | null = null;
	const watch = new ProbeWatch(config.cpuList ?? null, () => (leader === null ? [] : processTree(leader)));
	let exit: GroupExit;
	try {
		exit = await runInGroup(file, args, {
			env: buildProbeEnv(config, {env: options.env, baseEnv: options.baseEnv, cacheDir: options.cacheDir}),
			cwd: options.cwd,
			signal: options.signal,
			timeoutMs,
			graceMs: options.graceMs,
			onStdoutLine: line =>
				takeLine(state, line, event => {
					watch.see(event);
					options.onEvent?.(event);
				}),
			onSpawn: (pid, runTag) => {
				leader = pid;
				watch.begin();
				options.onSpawn?.(pid, runTag);
			},
		});
	} finally {
		watch.stop();
	}
	const durationMs = Date.now() - started;
	const failure = classifyExit(exit, state, {python: options.python, timeoutMs, peakRssBytes: watch.peakRssBytes});
	if (failure === null && state.result !== null) {
		if (exit.exitCode !== 0) noteUncleanExit(exit, state, options.onEvent);
		return {ok: true, result: {...state.result, contention: watch.reading()}, events: state.events, durationMs};
	}
	return {ok: false, failure: failure ?? protocolFailure(exit, state), events: state.events, durationMs};
}

/**
 * LD_PRELOAD of a library that is gone (uninstalled since detect) is only a warning to
 * the dynamic loader: the probe would run without it and be measured as if it had it.
 */
export function missingPreload(env: Record<string, string> | undefined): ProbeFailure | null {
	const libs = (env?.['LD_PRELOAD'] ?? '').split(/[:\s]+/).filter(Boolean);
	const gone = libs.filter(lib => lib.includes('/') && !existsSync(lib));
	if (gone.length === 0) return null;
	return {
		kind: 'spawn',
		code: 'preload-missing',
		message: `LD_PRELOAD names ${gone.join(', ')}, which is not there (any more): the probe would run without it`,
		hint: 'the library was removed since graviton-tune looked; reinstall it (graviton-tune setup --system) or run graviton-tune again so the recipe is skipped',
		exitCode: null,
		signal: null,
		stderrTail: '',
	};
}

/** The figures stand, but say that the process did not end cleanly. */
function noteUncleanExit(exit: GroupExit, state: StreamState, onEvent?: (event: ProbeEvent) => void): void {
	const how = exit.signal ?? `exit code ${exit.exitCode}`;
	const event: ProbeEvent = {type: 'log', level: 'warning', message: `the probe reported a result, then ended with ${how}`};
	state.events.push(event);
	onEvent?.(event);
}

function failure(kind: ProbeFailure['kind'], exit: GroupExit, message: string, hint: string | null, code: string = kind): ProbeFailure {
	return {kind, code, message, hint, exitCode: exit.exitCode, signal: exit.signal, stderrTail: exit.stderrTail};
}

/** torchrun reports a worker killed by SIGKILL in its own words, and exits 1. */
function workerWasKilled(stderrTail: string): boolean {
	return /exitcode\s*:\s*-9\b/.test(stderrTail) || /Signal 9 \(SIGKILL\)/.test(stderrTail);
}

/** Lines of torchrun's own failure summary and logging: they explain nothing by themselves. */
const torchrunNoise = /^(=+|-+|[\^~ ]+|\[\d+\]:|Failures:|Root Cause.*|<NO_OTHER_FAILURES>|(time|host|rank|exitcode|error_file|traceback)\s*:.*|To enable traceback.*|[WEI]\d{4} .*|.*torch\.distributed\..*|.*FAILED$|.*ChildFailedError.*|\s*(raise|return|File|Traceback).*)$/;

/** The last stderr line that says something: torchrun's summary and logging skipped. */
function lastLine(text: string): string {
	const lines = text.trim().split('\n').map(l => l.trim()).filter(Boolean);
	const telling = lines.filter(l => !torchrunNoise.test(l));
	return (telling.at(-1) ?? lines.at(-1) ?? '').slice(0, 300);
}

/** A signal that killed a torchrun worker, read from torchrun's failure summary. */
function workerSignal(stderrTail: string): string | null {
	const m = /exitcode\s*:\s*-(\d+)\b/.exec(stderrTail);
	if (!m) return null;
	const number = Number(m[1]);
	const name = Object.entries(os.constants.signals).find(([, n]) => n === number)?.[0];
	return name ?? `signal ${number}`;
}

/**
 * Every way a probe can end, in order of what explains it best. Null when it produced a
 * result and nothing went wrong (a non-zero exit after a result is only logged: the
 * figures were measured; some libraries crash at interpreter shutdown).
 */
export function classifyExit(exit: GroupExit, state: StreamState, context: {python: string; timeoutMs: number; peakRssBytes?: number}): ProbeFailure | null {
	if (exit.spawnError) return spawnFailure(exit, context.python);
	if (exit.killedBy === 'abort') return failure('cancelled', exit, 'cancelled: the probe and everything it started were stopped', null);
	if (state.error) {
		const {code, message, hint} = state.error;
		return failure('probe-error', exit, message, hint ?? null, code);
	}
	if (exit.killedBy === 'timeout') {
		const seconds = Math.round(context.timeoutMs / 1000);
		const message = `the probe ran longer than its ${seconds} s limit and was stopped (with everything it started)`;
		return failure('timeout', exit, message, 'compile and int8 steps are slow on small machines; give the run a larger time budget');
	}
	if (state.result !== null) return null;
	return deathFailure(exit, context.peakRssBytes ?? 0);
}

function spawnFailure(exit: GroupExit, python: string): ProbeFailure {
	const missing = exit.spawnError?.code === 'ENOENT';
	const message = missing ? `could not start ${python}: no such file` : `could not start ${python}: ${exit.spawnError?.message ?? 'unknown error'}`;
	return failure('spawn', exit, message, 'pass --python PATH with an interpreter that has torch installed, or run graviton-tune setup');
}

/** A process that died without a result or an error event. */
function deathFailure(exit: GroupExit, peakRssBytes: number): ProbeFailure | null {
	if (exit.signal === 'SIGKILL' || exit.exitCode === 137 || (exit.exitCode !== 0 && workerWasKilled(exit.stderrTail))) {
		const peak = peakRssBytes > 0 ? ` (its processes had reached ${Math.round(peakRssBytes / 2 ** 20)} MiB)` : '';
		const message = `out of memory: the probe was killed (SIGKILL) without warning${peak}; most likely the kernel ran out of memory and killed it`;
		return failure('oom', exit, message, 'try a smaller batch size or fewer workers; `dmesg | grep -i oom` tells for sure');
	}
	if (exit.signal !== null) return signalFailure(exit);
	const worker = exit.exitCode !== 0 ? workerSignal(exit.stderrTail) : null;
	if (worker) return signalFailure({...exit, signal: worker as NodeJS.Signals}, 'a torchrun worker');
	if (exit.exitCode !== 0) {
		const detail = lastLine(exit.stderrTail);
		const message = `the probe exited with code ${exit.exitCode} without reporting an error${detail ? `: ${detail}` : ''}`;
		return failure('exit', exit, message, null);
	}
	return null;
}

function signalFailure(exit: GroupExit, who = 'the probe'): ProbeFailure {
	const hints: Record<string, string> = {
		SIGILL: 'an illegal instruction usually means torch (or a library) was built for a newer CPU than this one',
		SIGSEGV: 'a crash inside a native library; the stderr tail may say which one',
		SIGBUS: 'a crash inside a native library; the stderr tail may say which one',
		SIGABRT: 'a native library aborted (a heap error with an LD_PRELOADed allocator is a common cause)',
	};
	const detail = lastLine(exit.stderrTail);
	const message = `${who} died from ${exit.signal}, which graviton-tune did not send${detail ? ` (${detail})` : ''}`;
	return failure('signal', exit, message, hints[exit.signal ?? ''] ?? null);
}

function protocolFailure(exit: GroupExit, state: StreamState): ProbeFailure {
	const bad = state.firstBadLine;
	const message = bad
		? `the probe wrote something that is not a probe event on stdout: ${JSON.stringify(bad.slice(0, 200))}`
		: 'the probe finished without reporting a result';
	return failure('protocol', exit, message, 'anything meant for people must go to stderr; stdout carries JSON events only');
}
