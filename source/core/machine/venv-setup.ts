// How graviton-tune makes its own environment when the user has none: the managed venv,
// created in place and stamped once pip works in it, then torch (pinned: setup-pins.ts),
// torchvision and the optional packages, each installed unless already good and proven to
// import, and uninstalled again when it does not.
import {GravitonTuneError} from '../errors.js';
import fs from 'node:fs/promises';
import path from 'node:path';
import {managedVenvDir} from '../paths.js';
import {runInGroup} from '../walk/process-group.js';
import {findPython, isExecutableFile, NO_PYTHON_HINT, whichOnPath} from './python-env.js';
import type {FoundPython} from './python-env.js';
import {isolatedEnv, runInspect} from './python-survey.js';
import type {RequirementStatus} from './python-survey.js';
import {defaultExtras, defaultTorchSpec} from './setup-pins.js';

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
