// What a Python interpreter can do: probes/inspect_env.py run in it (its version, torch and
// the optional packages, what fails to import), and the problem that stops a walk, with
// the fix to say. The survey is cached by inspect_env.py while the environment is unchanged.
import path from 'node:path';
import {managedPython, probesDir, surveyCacheDir} from '../paths.js';
import {runInGroup} from '../walk/process-group.js';
import type {PythonEnv} from '../types.js';
import {isExecutableFile, NO_PYTHON_HINT} from './python-env.js';
import type {FoundPython} from './python-env.js';

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
export function isolatedEnv(base: NodeJS.ProcessEnv): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [name, value] of Object.entries(base)) {
		if (value !== undefined && !['PYTHONPATH', 'PYTHONHOME', 'PIP_USER', 'PIP_TARGET', 'PIP_PREFIX'].includes(name)) env[name] = value;
	}
	env['PYTHONNOUSERSITE'] = '1';
	return env;
}

/** Run inspect_env.py; a report, or why there is none. */
export async function runInspect(
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
