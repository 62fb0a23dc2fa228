// graviton-tune.env: KEY=VALUE lines that read the same under bash `source`, systemd
// EnvironmentFile= and docker --env-file. The process environment of the winner, then
// its model-level choices as GT_* variables (derived from the contract).
import {optionVariables} from '../../recipes/contract.js';
import {contendedProbes} from '../../machine/contention.js';
import {formatRate, latencyWhat, rateUnit} from '../summary.js';
import {intervalWords, speedupText} from '../headline.js';
import {verdict} from '../verdict.js';
import type {Candidate, Detection, ProbeConfig, WalkResult} from '../../types.js';
import {ENV_FILE_NAME} from './names.js';

// docker --env-file keeps quotes literally while `source` and systemd strip them, so
// the only spelling all three read identically is a bare value made of characters
// that none of them treats specially (no blanks, quotes, $, \, #, ~, globs, ;&|<>()).
const SAFE_VALUE = /^[A-Za-z0-9_./:,@+={}-]*$/;
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

/** The model-level choices, as the runtime helper reads them (GT_*): derived from the contract. */
export function modelVariables(config: ProbeConfig): Array<[string, string]> {
	return optionVariables(config);
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
export function commentLine(text: string): string {
	return `# ${text}`.replace(/[\r\n]+/g, ' ').trimEnd();
}

export function describeMachine(detection: Detection): string {
	const cpu = detection.cpu;
	const name = cpu.platform ?? cpu.modelName ?? cpu.core ?? 'unknown CPU';
	const parts = [cpu.core && cpu.core !== name ? `${name} (${cpu.core})` : name, cpu.arch, `${detection.usableCpus} usable CPUs`];
	if (detection.cloud.instanceType) parts.push(detection.cloud.instanceType);
	return parts.join(', ');
}

export function fmtRatio(value: number): string {
	return `${value.toFixed(2)}x`;
}

/** One line of figures: baseline → winner, speedup, and the back-to-back check. */
export function describeFigures(result: WalkResult): string[] {
	// The back-to-back verification is the figure to quote; the walk's own when there is none.
	const h = verdict(result).headline;
	const best = h.best;
	const lines = [
		`baseline ${formatRate(h.baseline.samplesPerSecond.median)} -> winner ${formatRate(best.samplesPerSecond.median)} ${rateUnit(best)} (${speedupText(h, {ascii: true})}); winner p99 ${best.latencyMs.p99.toFixed(1)} ms ${latencyWhat(best)}`,
	];
	lines.push(h.verified ? `measured back to back at the end of the walk${intervalWords(h, {ascii: true}) ? ` (${intervalWords(h, {ascii: true})})` : ''}` : 'the walk\'s own figures (not measured again at the end)');
	if (result.interrupted) lines.push('the walk was interrupted: best configuration measured so far');
	const busy = contendedProbes(result).length;
	if (busy > 0) lines.push(`WARNING: ${busy} probe${busy === 1 ? ' was' : 's were'} measured while other processes used these CPUs; see report.md`);
	return lines;
}

export function renderEnvFile(input: {result: WalkResult; detection: Detection; model: string; date: Date}): string {
	const best = input.result.best.candidate;
	const said = verdict(input.result);
	const {runtime, model} = envVariables(best);
	const header = [
		'graviton-tune: the fastest configuration measured on this machine.',
		`Machine: ${describeMachine(input.detection)}`,
		`Model:   ${input.model}`,
		...describeFigures(input.result).map((line, i) => `${i === 0 ? 'Figures:' : '        '} ${line}`),
		`Recipes: ${best.recipes.length > 0 ? best.recipes.join(', ') : '(none: the baseline won)'}`,
		`Accuracy: ${said.accuracy.text}`,
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
