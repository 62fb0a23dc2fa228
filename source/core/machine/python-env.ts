// Which Python the probes run in, what it can do, and how graviton-tune makes its own
// environment when the user has none. The probes measure inside the user's PyTorch
// environment, so the interpreter is found the way the user would expect (explicit flag,
// then the active virtualenv), and the managed venv is a fallback we can create.
import {GravitonTuneError} from '../errors.js';
import {constants as fsConstants} from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {managedPython, managedVenvDir, probesDir, surveyCacheDir} from '../paths.js';
import {runInGroup} from '../walk/process-group.js';
import type {PythonEnv, PythonSource} from '../types.js';

// ---------------------------------------------------------------- finding

export interface FoundPython {
	interpreter: string | null;
	source: PythonSource | null;
	reason: string;
	/** Every candidate looked at, in order; skipped ones say why. */
	tried: string[];
}

async function isExecutableFile(file: string): Promise<boolean> {
	try {
		const stat = await fs.stat(file);
		if (!stat.isFile()) return false;
		await fs.access(file, fsConstants.X_OK);
		return true;
	} catch {
		return false;
	}
}

/** `which`: the first executable `name` on PATH. */
export async function whichOnPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | null> {
	for (const dir of (env['PATH'] ?? '').split(path.delimiter)) {
		if (!dir) continue;
		const candidate = path.join(dir, name);
		if (await isExecutableFile(candidate)) return candidate;
	}
	return null;
}

function tildify(file: string): string {
	const home = os.homedir();
	return file === home || file.startsWith(home + path.sep) ? `~${file.slice(home.length)}` : file;
}

/** --python was given: use it or say why not; never fall back to something else silently. */
async function fromFlag(python: string, env: NodeJS.ProcessEnv): Promise<FoundPython> {
	const resolved = python.includes('/') ? path.resolve(python) : await whichOnPath(python, env);
	if (resolved && (await isExecutableFile(resolved))) {
		return {interpreter: resolved, source: 'flag', reason: '--python was given', tried: [resolved]};
	}
	const exists = resolved !== null && (await fs.stat(resolved).then(() => true, () => false));
	const why = exists ? 'is not an executable file' : python.includes('/') ? 'does not exist' : 'was not found on PATH';
	return {interpreter: null, source: 'flag', reason: `--python ${python} ${why}`, tried: [`${resolved ?? python} (${why})`]};
}

/**
 * Order: --python, the active virtualenv, graviton-tune's managed venv, python3 on PATH.
 * An interpreter without torch still counts as found: inspectPython says what it lacks.
 */
export async function findPython(options: {python?: string; env?: NodeJS.ProcessEnv} = {}): Promise<FoundPython> {
	const env = options.env ?? process.env;
	if (options.python) return fromFlag(options.python, env);
	const tried: string[] = [];

	const virtualEnv = env['VIRTUAL_ENV'];
	if (virtualEnv) {
		const candidate = path.join(virtualEnv, 'bin', 'python');
		if (await isExecutableFile(candidate)) {
			return {interpreter: candidate, source: 'virtualenv', reason: `VIRTUAL_ENV is set (${virtualEnv})`, tried: [...tried, candidate]};
		}
		tried.push(`${candidate} (VIRTUAL_ENV is set, but there is no python there)`);
	}

	const managed = managedPython(env);
	if (await isExecutableFile(managed)) {
		const reason = `graviton-tune's managed venv (${tildify(managedVenvDir(env))})`;
		return {interpreter: managed, source: 'managed', reason, tried: [...tried, managed]};
	}
	tried.push(`${managed} (no managed venv yet)`);

	const onPath = await whichOnPath('python3', env);
	if (onPath) return {interpreter: onPath, source: 'path', reason: 'python3 on PATH', tried: [...tried, onPath]};
	tried.push('python3 (not on PATH)');

	return {interpreter: null, source: null, reason: 'no Python interpreter found', tried};
}

// ---------------------------------------------------------------- inspecting

const INSPECT_SCRIPT = path.join(probesDir, 'inspect_env.py');
// Importing torch, onnxruntime, openvino and transformers took over 80 s under QEMU
// emulation on a busy 2-core host: generous, since it only bounds a hung interpreter.
const INSPECT_TIMEOUT_MS = 300_000;

/** What probes/inspect_env.py prints. */
interface InspectReport {
	pythonVersion: string;
	executable: string;
	torch: PythonEnv['torch'];
	packages: Record<string, string | null>;
	importErrors: Record<string, string>;
	requirements?: RequirementStatus[];
	inspectError?: string;
}

export interface RequirementStatus {
	spec: string;
	name: string;
	module: string;
	installed: string | null;
	satisfied: boolean;
	importable: boolean;
	error: string | null;
}

class CancelledError extends Error {
	constructor() {
		super('cancelled');
		this.name = 'AbortError';
	}
}

/** Variables that would make a venv's Python see packages from somewhere else. */
function isolatedEnv(base: NodeJS.ProcessEnv): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [name, value] of Object.entries(base)) {
		if (value !== undefined && !['PYTHONPATH', 'PYTHONHOME', 'PIP_USER', 'PIP_TARGET', 'PIP_PREFIX'].includes(name)) env[name] = value;
	}
	env['PYTHONNOUSERSITE'] = '1';
	return env;
}

/** Run inspect_env.py; a report, or why there is none. */
async function runInspect(
	python: string,
	args: string[],
	options: {env: Record<string, string>; signal?: AbortSignal; timeoutMs?: number},
): Promise<{report: InspectReport} | {error: string}> {
	const stdout: string[] = [];
	const exit = await runInGroup(python, [INSPECT_SCRIPT, ...args], {
		env: options.env,
		signal: options.signal,
		timeoutMs: options.timeoutMs ?? INSPECT_TIMEOUT_MS,
		graceMs: 1000,
		onStdoutLine: line => stdout.push(line),
		stderrTailChars: 1500,
	});
	if (exit.killedBy === 'abort') throw new CancelledError();
	if (exit.spawnError) return {error: `could not run ${python}: ${exit.spawnError.message}`};
	if (exit.killedBy === 'timeout') return {error: `${python} took longer than ${Math.round((options.timeoutMs ?? INSPECT_TIMEOUT_MS) / 1000)} s to describe itself`};
	const report = parseInspectOutput(stdout);
	if (report && exit.exitCode === 0) return {report};
	const how = exit.signal ? `died from ${exit.signal}` : `exited with code ${exit.exitCode}`;
	const tail = exit.stderrTail.trim().split('\n').slice(-6).join('\n');
	return {error: `${python} ${how} while describing itself${tail ? `:\n${tail}` : ''}`};
}

function parseInspectOutput(lines: string[]): InspectReport | null {
	for (const line of [...lines].reverse()) {
		try {
			const value = JSON.parse(line) as InspectReport;
			if (value && typeof value === 'object' && typeof value.pythonVersion === 'string') return value;
		} catch {
			// not the report line
		}
	}
	return null;
}

const NO_PYTHON_HINT = 'install Python 3.9+ (e.g. apt-get install python3 python3-venv) or pass --python PATH';

function emptyEnv(found: FoundPython): PythonEnv {
	return {
		interpreter: found.interpreter,
		source: found.source,
		reason: found.reason,
		pythonVersion: null,
		torch: null,
		packages: {},
		importErrors: {},
		problem: null,
	};
}

function versionAtLeast(version: string, major: number, minor: number): boolean {
	const [a = 0, b = 0] = version.split('.').map(part => Number.parseInt(part, 10));
	return a > major || (a === major && b >= minor);
}

/** How to get torch into the environment that lacks it. */
async function noTorchHint(env: PythonEnv): Promise<string> {
	if (env.source === 'managed') return 'graviton-tune setup';
	const own = `${env.interpreter} -m pip install torch`;
	// The user's virtualenv may lack torch while graviton-tune's own venv has it.
	const managed = managedPython();
	if (env.interpreter !== managed && (await isExecutableFile(managed))) {
		return `${own}, or use graviton-tune's managed venv: --python ${managed}`;
	}
	return `${own}, or run graviton-tune setup (it creates a venv with torch)`;
}

/** Ask the interpreter what it has. Never throws, except AbortError when the signal fires. */
export async function inspectPython(found: FoundPython, options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<PythonEnv> {
	const env = emptyEnv(found);
	if (!found.interpreter) {
		env.problem = {code: 'no-python', message: found.reason, hint: NO_PYTHON_HINT};
		return env;
	}
	// The survey imports every optional package (8-11 s here); it is kept in the tool's home
	// and reused while the environment is unchanged (inspect_env.py's survey_key).
	const outcome = await runInspect(found.interpreter, ['--cache', surveyCacheDir()], {env: isolatedOrInherited(found), ...options});
	if ('error' in outcome) {
		env.problem = {code: 'python-broken', message: outcome.error, hint: `check that ${found.interpreter} runs, or pass --python PATH`};
		return env;
	}
	const report = outcome.report;
	// The real interpreter, not a pyenv shim whose target depends on the current directory.
	env.interpreter = report.executable || found.interpreter;
	env.pythonVersion = report.pythonVersion;
	env.torch = report.torch;
	env.packages = report.packages;
	env.importErrors = report.importErrors;
	env.problem = await problemOf(env, report);
	return env;
}

/** The user's own environment is measured as they run it; only the managed venv is isolated. */
function isolatedOrInherited(found: FoundPython): Record<string, string> {
	if (found.source === 'managed') return isolatedEnv(process.env);
	const env: Record<string, string> = {};
	for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
	return env;
}

async function problemOf(env: PythonEnv, report: InspectReport): Promise<PythonEnv['problem']> {
	const version = report.pythonVersion;
	if (!versionAtLeast(version, 3, 9)) {
		return {code: 'no-python', message: `${env.interpreter} is Python ${version}; PyTorch needs 3.9 or newer`, hint: NO_PYTHON_HINT};
	}
	if (report.inspectError) {
		return {code: 'python-broken', message: `describing ${env.interpreter} failed: ${report.inspectError}`, hint: 'pass --python PATH to use another interpreter'};
	}
	if (env.torch) return null;
	const broken = report.importErrors['torch'];
	if (broken) {
		const message = `torch is installed in ${env.interpreter} but does not import: ${broken}`;
		return {code: 'no-torch', message, hint: `${env.interpreter} -m pip install --force-reinstall torch`};
	}
	return {code: 'no-torch', message: `torch is not installed in ${env.interpreter}`, hint: await noTorchHint(env)};
}

// ---------------------------------------------------------------- setting up

export interface SetupOptions {
	/** The base interpreter that creates the venv (default: python3 on PATH). */
	python?: string;
	/** Default managedVenvDir(). */
	dir?: string;
	/** Optional packages, each installed in its own pip call. */
	extras?: string[];
	/** Default defaultTorchSpec() (by machine, see SETUP_PINS); null leaves torch alone (tests, or a torch the user manages). */
	torchSpec?: string | null;
	/** Try torchvision (default true); it is removed again when it does not import. */
	torchvision?: boolean;
	/**
	 * Extra index for torch and torchvision only, e.g. https://download.pytorch.org/whl/cpu:
	 * on x86_64, PyPI's torch is the CUDA build (GBs of CUDA libraries); this index has
	 * CPU-only wheels. On aarch64 the default pin is already a CPU build (see SETUP_PINS).
	 */
	indexUrl?: string;
	/** Extra arguments for every pip install (e.g. --no-index --find-links DIR). */
	pipArgs?: string[];
	/** pip's output, line by line. */
	onLine?: (line: string) => void;
	signal?: AbortSignal;
}

export interface SetupReport {
	venv: string;
	python: string;
	created: boolean;
	/** torch importable at the end (true when torchSpec was null). */
	ok: boolean;
	torch: string | null;
	installed: Array<{name: string; version: string | null}>;
	/** Already there at a good version and importable: nothing done. */
	skipped: string[];
	failed: Array<{name: string; reason: string}>;
	/** Installed, did not import, uninstalled again. */
	removed: Array<{name: string; reason: string}>;
	/** Things worth saying that are not failures ("torchvision: not retried…"). */
	notes: string[];
	seconds: number;
}

export type SetupErrorCode = 'no-python' | 'venv-failed' | 'not-a-venv' | 'cancelled';

export class SetupError extends GravitonTuneError {
	constructor(
		readonly code: SetupErrorCode,
		message: string,
		hint: string | null = null,
	) {
		super(code === 'cancelled' ? 'interrupted' : 'environment', message, hint);
		this.name = 'SetupError';
	}
}

/**
 * What `setup` installs, by machine. x86_64: torch 2.13.0. aarch64: torch 2.9.1, because
 * PyPI's later aarch64 wheels (2.13.0 among them) are CUDA builds that pull ~3 GB of NVIDIA
 * libraries onto a CPU server, while 2.9.1's is the CPU build with the Arm Compute Library
 * (723 MB in a venv); torchao 0.15 is the release that pairs with it. torchvision follows
 * torch (pip picks the build that pins the installed torch). Change a pin here and the
 * emulated Arm image (scripts/arm-emulation.sh) rebuilds.
 */
export const SETUP_PINS = {
	x64: {torch: 'torch==2.13.0', extras: ['onnx', 'onnxscript', 'onnxruntime', 'openvino', 'nncf', 'transformers', 'torchao']},
	arm64: {torch: 'torch==2.9.1', extras: ['onnx', 'onnxscript', 'onnxruntime', 'openvino', 'nncf', 'transformers', 'torchao==0.15.0']},
};

function pinsFor(arch: string): (typeof SETUP_PINS)['x64'] {
	return arch === 'arm64' ? SETUP_PINS.arm64 : SETUP_PINS.x64;
}

/** torch's pin for this machine (or the one named). */
export function defaultTorchSpec(arch: string = process.arch): string {
	return pinsFor(arch).torch;
}

/** The optional packages for this machine (or the one named), each installed on its own. */
export function defaultExtras(arch: string = process.arch): string[] {
	return pinsFor(arch).extras;
}

/** Written once the venv exists and pip works in it; also remembers what did not work. */
const STAMP_FILE = 'graviton-tune-venv.json';
const CONSTRAINTS_FILE = 'graviton-tune-constraints.txt';

interface Stamp {
	createdAt: string;
	basePython: string;
	/** torchvision did not import with this torch: not retried until torch or the index changes. */
	torchvisionRejected?: {torch: string; indexUrl: string | null; reason: string};
}

export async function readStamp(dir: string): Promise<Stamp | null> {
	try {
		return JSON.parse(await fs.readFile(path.join(dir, STAMP_FILE), 'utf8')) as Stamp;
	} catch {
		return null;
	}
}

async function writeStamp(dir: string, stamp: Stamp): Promise<void> {
	const file = path.join(dir, STAMP_FILE);
	await fs.writeFile(`${file}.tmp`, JSON.stringify(stamp, null, 2) + '\n');
	await fs.rename(`${file}.tmp`, file);
}

async function exists(file: string): Promise<boolean> {
	return fs.stat(file).then(() => true, () => false);
}

/** One step's process: pip, venv, or a check, streamed to onLine, killed as a group on abort. */
async function runStep(file: string, args: string[], context: SetupContext): Promise<{ok: boolean; tail: string}> {
	const echo = (line: string) => {
		if (line.trim()) context.options.onLine?.(line);
	};
	const exit = await runInGroup(file, args, {
		env: context.env,
		signal: context.options.signal,
		onStdoutLine: echo,
		onStderrLine: echo,
		stderrTailChars: 2000,
	});
	if (exit.killedBy === 'abort') throw new SetupError('cancelled', 'setup was cancelled');
	if (exit.spawnError) return {ok: false, tail: exit.spawnError.message};
	return {ok: exit.exitCode === 0, tail: exit.stderrTail};
}

/** The line of pip's stderr that says why, not the whole wall of text. */
function pipReason(tail: string): string {
	const lines = tail.split('\n').map(line => line.trim()).filter(Boolean);
	const error = lines.find(line => line.startsWith('ERROR:'));
	return (error ?? lines[lines.length - 1] ?? 'pip failed').slice(0, 400);
}

interface SetupContext {
	options: SetupOptions;
	env: Record<string, string>;
	venv: string;
	python: string;
	report: SetupReport;
}

/** The directory is a venv whose interpreter runs and whose pip works. */
async function venvWorks(context: SetupContext): Promise<boolean> {
	if (!(await isExecutableFile(context.python))) return false;
	const exit = await runInGroup(context.python, ['-m', 'pip', '--version'], {env: context.env, signal: context.options.signal, timeoutMs: 60_000});
	if (exit.killedBy === 'abort') throw new SetupError('cancelled', 'setup was cancelled');
	return exit.exitCode === 0;
}

async function basePython(options: SetupOptions): Promise<string> {
	const found = options.python ? await findPython({python: options.python}) : await pathPython();
	if (!found.interpreter) throw new SetupError('no-python', found.reason, NO_PYTHON_HINT);
	return found.interpreter;
}

async function pathPython(): Promise<FoundPython> {
	const onPath = (await whichOnPath('python3')) ?? (await whichOnPath('python'));
	return onPath
		? {interpreter: onPath, source: 'path', reason: 'python3 on PATH', tried: [onPath]}
		: {interpreter: null, source: null, reason: 'no python3 on PATH to create the venv with', tried: []};
}

/**
 * Make sure a working venv is at context.venv; true when it was created now.
 * A venv is created in place (venvs are not relocatable), and the stamp is written only
 * once pip works in it. A directory without the stamp is either a venv someone else made
 * (adopted when pip works in it: it may hold their packages) or the remains of an
 * interrupted creation (removed and made again).
 */
async function ensureVenv(context: SetupContext): Promise<boolean> {
	const {venv} = context;
	const stamp = await readStamp(venv);
	if (stamp && (await isExecutableFile(context.python))) return false;
	if (await exists(venv)) {
		const entries = await fs.readdir(venv).catch(() => [] as string[]);
		const looksLikeVenv = entries.includes('pyvenv.cfg');
		if (!looksLikeVenv && entries.length > 0) {
			throw new SetupError('not-a-venv', `${venv} exists and is not a Python virtual environment; refusing to touch it`, 'pass another directory, or move it away');
		}
		if (looksLikeVenv && (await venvWorks(context))) {
			await writeStamp(venv, {createdAt: new Date().toISOString(), basePython: 'unknown (adopted)'});
			context.report.notes.push(`adopted the existing venv at ${venv}`);
			return false;
		}
		if (looksLikeVenv) context.options.onLine?.(`${venv} is an unfinished venv: making it again`);
		await fs.rm(venv, {recursive: true, force: true});
	}
	await createVenv(context);
	return true;
}

async function createVenv(context: SetupContext): Promise<void> {
	const base = await basePython(context.options);
	await fs.mkdir(path.dirname(context.venv), {recursive: true});
	try {
		const made = await runStep(base, ['-m', 'venv', context.venv], context);
		if (!made.ok || !(await venvWorks(context))) {
			const hint = 'apt-get install python3-venv (Debian/Ubuntu), or dnf install python3 (Fedora/Amazon Linux)';
			throw new SetupError('venv-failed', `${base} -m venv failed: ${pipReason(made.tail)}`, hint);
		}
		await writeStamp(context.venv, {createdAt: new Date().toISOString(), basePython: base});
	} catch (error) {
		// Never leave a half-made venv that findPython would pick up.
		await fs.rm(context.venv, {recursive: true, force: true});
		throw error;
	}
}

/** What the venv has for these requirements, in one Python process; null when it cannot tell. */
async function checkRequirements(specs: string[], context: SetupContext): Promise<Map<string, RequirementStatus> | null> {
	const outcome = await runInspect(context.python, ['--require-only', ...specs], {env: context.env, signal: context.options.signal});
	if ('error' in outcome) {
		context.report.notes.push(`could not check packages: ${outcome.error}`);
		return null;
	}
	return new Map((outcome.report.requirements ?? []).map(status => [status.spec, status]));
}

async function pipInstall(specs: string[], extra: string[], context: SetupContext): Promise<{ok: boolean; reason: string}> {
	const args = ['-m', 'pip', 'install', '--progress-bar', 'off', '--disable-pip-version-check', '--no-input', ...extra];
	const constraints = path.join(context.venv, CONSTRAINTS_FILE);
	// torch itself is never constrained: a new torchSpec must be able to replace the pinned build.
	const isTorch = specs.some(spec => nameOf(spec) === 'torch');
	if (!isTorch && (await exists(constraints))) args.push('--constraint', constraints);
	args.push(...(context.options.pipArgs ?? []), ...specs);
	const step = await runStep(context.python, args, context);
	return {ok: step.ok, reason: step.ok ? '' : pipReason(step.tail)};
}

async function pipUninstall(name: string, context: SetupContext): Promise<void> {
	await runStep(context.python, ['-m', 'pip', 'uninstall', '--yes', '--disable-pip-version-check', name], context);
}

function nameOf(spec: string): string {
	return spec.split(/[<>=!~;[\s]/)[0] ?? spec;
}

/**
 * Install one requirement unless it is already good, then prove it imports; a package
 * that installs but does not import is uninstalled again (a broken torchvision breaks
 * transformers' image code, for one). Returns the version now importable, or null.
 */
async function ensurePackage(spec: string, status: RequirementStatus | undefined, extraPip: string[], context: SetupContext): Promise<string | null> {
	const name = status?.name ?? nameOf(spec);
	if (status?.satisfied && status.importable) {
		context.report.skipped.push(name);
		return status.installed;
	}
	// Installed at a good version but broken: reinstall its files, keep its dependencies.
	if (status?.satisfied && !status.importable) await pipInstall([spec], [...extraPip, '--force-reinstall', '--no-deps'], context);
	const install = await pipInstall([spec], extraPip, context);
	if (!install.ok) {
		context.report.failed.push({name, reason: install.reason});
		return null;
	}
	const checked = await checkRequirements([spec], context);
	const after = checked?.get(spec);
	if (checked === null || after?.importable) {
		// Without a check we cannot prove it broken: keep what pip installed.
		context.report.installed.push({name, version: after?.installed ?? null});
		return after?.installed ?? null;
	}
	const reason = `installed but does not import: ${after?.error ?? 'unknown error'}`;
	await pipUninstall(name, context);
	context.report.removed.push({name, reason});
	return null;
}

/** torch first; everything after it is constrained to that exact build so pip never swaps it. */
async function ensureTorch(spec: string, status: RequirementStatus | undefined, context: SetupContext): Promise<void> {
	const index = context.options.indexUrl ? ['--extra-index-url', context.options.indexUrl] : [];
	const version = await ensurePackage(spec, status, index, context);
	context.report.torch = version;
	context.report.ok = version !== null;
}

async function pinTorch(version: string, context: SetupContext): Promise<void> {
	await fs.writeFile(path.join(context.venv, CONSTRAINTS_FILE), `torch==${version}\n`);
}

/**
 * torchvision must be the build that pairs with the installed torch; when none does (a
 * CUDA build against a CPU torch: "operator torchvision::nms does not exist") it is
 * removed, and not retried on the next setup unless torch or the index changed. The
 * probes define their own models, so it is optional.
 */
async function ensureTorchvision(status: RequirementStatus | undefined, context: SetupContext): Promise<void> {
	const stamp = await readStamp(context.venv);
	const rejected = stamp?.torchvisionRejected;
	const indexUrl = context.options.indexUrl ?? null;
	const alreadyGood = status?.importable ?? false;
	if (!alreadyGood && rejected && rejected.torch === context.report.torch && rejected.indexUrl === indexUrl) {
		context.report.notes.push(`torchvision: not retried, it did not import with torch ${rejected.torch}: ${rejected.reason}`);
		return;
	}
	const index = indexUrl ? ['--extra-index-url', indexUrl] : [];
	const version = await ensurePackage('torchvision', status, index, context);
	if (version !== null || alreadyGood || !stamp || context.report.torch === null) return;
	const why = [...context.report.removed, ...context.report.failed].find(entry => entry.name === 'torchvision')?.reason ?? 'unknown';
	await writeStamp(context.venv, {...stamp, torchvisionRejected: {torch: context.report.torch, indexUrl, reason: why}});
}

/**
 * Create (or check) the managed venv and install torch, torchvision and the extras.
 * Safe to run again: what is already there and importable is skipped, so a second run
 * costs one Python process. Throws SetupError for what makes a venv impossible (no base
 * Python, venv module missing, a foreign directory, cancellation); package failures are
 * reported, not thrown.
 */
export async function setupVenv(options: SetupOptions = {}): Promise<SetupReport> {
	const started = Date.now();
	const venv = path.resolve(options.dir ?? managedVenvDir());
	const report: SetupReport = {venv, python: path.join(venv, 'bin', 'python'), created: false, ok: true, torch: null, installed: [], skipped: [], failed: [], removed: [], notes: [], seconds: 0};
	const context: SetupContext = {options, env: isolatedEnv(process.env), venv, python: report.python, report};
	if (options.signal?.aborted) throw new SetupError('cancelled', 'setup was cancelled');

	report.created = await ensureVenv(context);
	const torchSpec = options.torchSpec === undefined ? defaultTorchSpec() : options.torchSpec;
	const extras = options.extras ?? defaultExtras();
	const wantsTorchvision = options.torchvision ?? true;
	const specs = [...(torchSpec ? [torchSpec] : []), ...(wantsTorchvision ? ['torchvision'] : []), ...extras];
	const before = (await checkRequirements(specs, context)) ?? new Map<string, RequirementStatus>();

	if (torchSpec) {
		await ensureTorch(torchSpec, before.get(torchSpec), context);
		if (!report.ok) return finish(report, started);
		await pinTorch(report.torch!, context);
	}
	if (wantsTorchvision && report.torch) await ensureTorchvision(before.get('torchvision'), context);
	for (const extra of extras) await ensurePackage(extra, before.get(extra), [], context);
	return finish(report, started);
}

function finish(report: SetupReport, started: number): SetupReport {
	report.seconds = (Date.now() - started) / 1000;
	return report;
}
