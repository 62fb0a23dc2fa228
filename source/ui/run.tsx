// Entry of the interactive face (loaded lazily by cli.tsx): render the app with the
// real core functions, wait for it to finish, return its exit code.
import {render} from 'ink';
import process from 'node:process';
import {commitDelivery, outputProblem, planDelivery} from '../core/report/index.js';
import {HardwareError} from '../core/machine/index.js';
import {RecipeError} from '../core/recipes/index.js';
import {inputKind, prepare, runSession} from '../core/walk/index.js';
import {openSettings} from '../core/settings.js';
import {installSystemLibraries} from '../core/machine/index.js';
import {exitCodes} from '../core/errors.js';
import type {TuneOptions} from '../core/walk/index.js';
import {App} from './app.js';
import type {UiDeps} from './deps.js';

/** Preferences are a convenience: an unusable config directory must not stop tuning. */
export async function runInteractive(tune: TuneOptions, controller: AbortController): Promise<number> {
	if (!process.stdin.isTTY) {
		// Never prompt without a terminal: name the flag that does the same headless.
		process.stderr.write('graviton-tune: stdin is not a terminal, so there is nobody to ask.\nPass --auto to run headless: graviton-tune --auto --budget 10m\n');
		return exitCodes.usage;
	}
	// A typo in --launch-script or --out should not cost a whole walk.
	const problem = await outputProblem(tune);
	if (problem) {
		process.stderr.write(`graviton-tune: ${problem}\n`);
		return exitCodes.usage;
	}
	const settings = openSettings();
	const deps: UiDeps = {
		prepare,
		runSession,
		planDelivery,
		commitDelivery,
		...(settings ? {settings} : {}),
		inputKind,
		installSystem: installSystemLibraries,
		isEnvironmentError: error => error instanceof HardwareError || error instanceof RecipeError,
	};
	let code: number = exitCodes.internal;
	const instance = render(<App tune={tune} controller={controller} deps={deps} onExit={c => (code = c)} />, {
		exitOnCtrlC: false,
		// Over SSH a calm screen matters more than a fast one: at most 10 frames a second.
		maxFps: 10,
	});
	await instance.waitUntilExit();
	return code;
}
