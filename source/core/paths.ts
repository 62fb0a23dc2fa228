// Where things live: the installed package (probes/, recipes/) and the tool's own
// state directory (managed venv, settings). Nothing here touches the disk.
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

/** The package root: dist/core/paths.js → ../.. (also right for source/ under vitest). */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export const probesDir = path.join(packageRoot, 'probes');
export const recipesDir = path.join(packageRoot, 'recipes');

/**
 * The tool's home: GRAVITON_TUNE_HOME, else $XDG_CACHE_HOME/graviton-tune, else ~/.cache/graviton-tune.
 * Holds the managed virtual environment and the kept surveys of Python environments.
 */
export function toolHome(env: NodeJS.ProcessEnv = process.env): string {
	if (env['GRAVITON_TUNE_HOME']) return path.resolve(env['GRAVITON_TUNE_HOME']);
	const cache = env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
	return path.join(cache, 'graviton-tune');
}

/** inspect_env.py's kept surveys of Python environments (one small JSON file per environment). */
export function surveyCacheDir(env: NodeJS.ProcessEnv = process.env): string {
	return path.join(toolHome(env), 'python-survey');
}

/**
 * inductor's own caches (TORCHINDUCTOR_CACHE_DIR: compiled graphs, kernels, autotuning),
 * per machine and kept between walks, so a compiled configuration probed again (a re-check,
 * the verification's pairs, the next walk) reads its compilation back. Removing it is safe.
 */
export function inductorCacheDir(env: NodeJS.ProcessEnv = process.env): string {
	return path.join(toolHome(env), 'inductor');
}

export function managedVenvDir(env: NodeJS.ProcessEnv = process.env): string {
	return path.join(toolHome(env), 'venv');
}

export function managedPython(env: NodeJS.ProcessEnv = process.env): string {
	return path.join(managedVenvDir(env), 'bin', 'python');
}
