// `graviton-tune setup --system`: the allocator libraries (allocators.ts), installed system-wide
// with the distribution's package manager. One implementation, scripts/setup-system.sh, told
// which libraries and packages by allocators.ts (npm test runs it through `setup --system` too); here it runs in its own process group like every child of ours, so
// Ctrl+C leaves no package manager running. Only ever called when the user asked.
import path from 'node:path';
import {packageRoot} from '../paths.js';
import {runInGroup} from '../walk/process-group.js';
import {setupSystemArgs} from './allocators.js';

export const SETUP_SYSTEM_SCRIPT = path.join(packageRoot, 'scripts', 'setup-system.sh');

export interface SystemInstall {
	ok: boolean;
	/** Every line the script printed (what it ran, or the command to run by hand). */
	lines: string[];
	exitCode: number | null;
	cancelled: boolean;
}

export async function installSystemLibraries(opts: {onLine?: (line: string) => void; signal?: AbortSignal; env?: NodeJS.ProcessEnv} = {}): Promise<SystemInstall> {
	const lines: string[] = [];
	const take = (line: string) => {
		if (line.trim() === '') return;
		lines.push(line);
		opts.onLine?.(line);
	};
	const env: Record<string, string> = {};
	for (const [k, v] of Object.entries(opts.env ?? process.env)) if (v !== undefined) env[k] = v;
	const exit = await runInGroup('bash', [SETUP_SYSTEM_SCRIPT, ...setupSystemArgs()], {env, signal: opts.signal, onStdoutLine: take, onStderrLine: take});
	if (exit.spawnError) take(`could not start bash: ${exit.spawnError.message}`);
	return {ok: exit.exitCode === 0, lines, exitCode: exit.exitCode, cancelled: exit.killedBy === 'abort'};
}
