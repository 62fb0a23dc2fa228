#!/usr/bin/env node
// Entry point: parse flags, decide the mode once (interactive or headless), and load
// Ink only for interactive runs. One AbortController is the cancellation signal for
// everything: Ctrl+C aborts the session, probes' process groups are killed, then exit.
import process from 'node:process';
import {exitCodeOf, GravitonTuneError} from './core/errors.js';
import {exitCodes, helpText, parseCommand, UsageError} from './options.js';
import type {Command} from './options.js';

async function main(argv: string[]): Promise<number> {
	let command: Command;
	try {
		command = parseCommand(argv);
	} catch (error) {
		if (error instanceof UsageError) {
			process.stderr.write(`graviton-tune: ${error.message}\nTry: graviton-tune --help\n`);
			return exitCodeOf(error);
		}
		throw error;
	}

	// conf → atomically → when-exit hooks SIGINT/SIGTERM/SIGHUP as it loads and re-raises
	// the signal at once, which would end us before the probes are stopped and the
	// user told. Load it now and take those hooks off: one exit point, ours. (when-exit
	// still runs its temp-file cleanup from its 'exit' hook.)
	await import('conf');
	for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);

	const controller = new AbortController();
	let interrupts = 0;
	const onSignal = (signal: NodeJS.Signals) => {
		interrupts += 1;
		if (interrupts > 1) {
			process.stderr.write('\ngraviton-tune: stopping now\n');
			process.exit(exitCodes.interrupted);
		}
		process.stderr.write(`\ngraviton-tune: ${signal}: stopping probes (Ctrl+C again to force)…\n`);
		controller.abort();
	};
	process.on('SIGINT', onSignal);
	process.on('SIGTERM', onSignal);
	// An SSH disconnect sends SIGHUP: without a handler Node dies and probes (in their own
	// process groups, on purpose) would run on.
	process.on('SIGHUP', onSignal);
	// A reader that leaves (`graviton-tune detect | head -1`) is no error of ours: stop the
	// probes (the exit hook of every process group takes their trees down) and go quietly.
	process.stdout.on('error', (error: NodeJS.ErrnoException) => {
		if (error.code !== 'EPIPE') throw error;
		controller.abort();
		process.exit(0);
	});

	try {
		return await runCommand(command, controller);
	} catch (error) {
		// Cancelled work surfaces as an error wherever it was (inspecting Python, say):
		// after Ctrl+C that is an interruption, not a bug.
		if (controller.signal.aborted) {
			process.stderr.write('graviton-tune: interrupted.\n');
			return exitCodes.interrupted;
		}
		throw error;
	}
}

async function runCommand(command: Command, controller: AbortController): Promise<number> {
	switch (command.kind) {
		case 'help':
			process.stdout.write(helpText);
			return exitCodes.ok;
		case 'version': {
			const {toolVersion} = await import('./core/version.js');
			process.stdout.write(`${toolVersion}\n`);
			return exitCodes.ok;
		}
		case 'detect': {
			const {runDetect} = await import('./headless/commands.js');
			return runDetect(command, controller.signal);
		}
		case 'setup': {
			const {runSetup} = await import('./headless/commands.js');
			return runSetup(command, controller.signal);
		}
		case 'probe': {
			const {runProbeCommand} = await import('./headless/commands.js');
			return runProbeCommand(command, controller.signal);
		}
		case 'compare': {
			const {runCompare} = await import('./headless/compare.js');
			return runCompare(command);
		}
		case 'check': {
			const {runCheck} = await import('./headless/check.js');
			return runCheck(command, controller.signal);
		}
		case 'tune': {
			// The same CI test Ink uses: where it says CI, Ink draws no live frames.
			const {default: isInCi} = await import('is-in-ci');
			const interactive = !command.auto && process.stdin.isTTY && process.stdout.isTTY && !isInCi;
			if (!command.auto && !interactive) {
				process.stderr.write('graviton-tune: no interactive terminal here (stdin/stdout is not a TTY, or CI is set).\nPass --auto to run headless: graviton-tune --auto --budget 10m\n');
				return exitCodes.usage;
			}
			if (interactive) {
				// Ink reads Ctrl+C as a key in raw mode (exitOnCtrlC is off) and aborts the same
				// controller; the handler stays for a SIGINT from elsewhere, or before Ink is up.
				const {runInteractive} = await import('./ui/run.js');
				return runInteractive(command.tune, controller);
			}
			const {runAuto} = await import('./headless/auto.js');
			return runAuto(command.tune, controller.signal);
		}
	}
}

main(process.argv.slice(2)).then(
	code => {
		process.exitCode = code;
	},
	(error: unknown) => {
		// An error the tool expects (a recipe file someone edited, an unreadable machine, a
		// full disk…) is said with its fix and its kind's exit code, never a stack trace.
		if (error instanceof GravitonTuneError) {
			process.stderr.write(`graviton-tune: ${error.message}\n${error.hint ? `fix: ${error.hint}\n` : ''}`);
			process.exitCode = exitCodeOf(error);
			return;
		}
		process.stderr.write(`graviton-tune: internal error: ${error instanceof Error ? error.stack ?? error.message : String(error)}\n`);
		process.exitCode = exitCodes.internal;
	},
);
