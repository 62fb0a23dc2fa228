// Which Python the probes run in. The probes measure inside the user's PyTorch
// environment, so the interpreter is found the way the user would expect (explicit flag,
// then the active virtualenv), and the managed venv is a fallback we can create
// (venv-setup.ts). What the interpreter can do is python-survey.ts's question.
import {constants as fsConstants} from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {managedPython, managedVenvDir} from '../paths.js';
import type {PythonSource} from '../types.js';

export interface FoundPython {
	interpreter: string | null;
	source: PythonSource | null;
	reason: string;
	/** Every candidate looked at, in order; skipped ones say why. */
	tried: string[];
}

export async function isExecutableFile(file: string): Promise<boolean> {
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

export const NO_PYTHON_HINT = 'install Python 3.9+ (e.g. apt-get install python3 python3-venv) or pass --python PATH';
