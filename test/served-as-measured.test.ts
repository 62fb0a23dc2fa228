// What was measured is what is served (issue 9): for each kind of winner, the probe measures
// the configuration, the real writer produces graviton-tune.env, launch.sh and the runtime
// helper for it, and launch.sh runs examples/sample_app.py (an app that uses the helper as
// the README says). The app's samples/s must be within 5% of the probe's.
//
// Both figures are the same statistic: batch size over the median time of one call of what
// optimize() returned (summed over workers). A shared 2-CPU machine is noisy, so the probe
// and the app are measured alternately (probe, app, five times each) and the best of each
// is compared: a burst of load from elsewhere lowers one run, not the comparison. (With
// three rounds, a quiet machine still had two of three 1.5 s app runs of PT2E int8 hit:
// 9028, 18400, 16442 against the probe's best 19846.)
// On a machine that other work keeps busy (a load average well above its CPUs) single
// runs still swing by 20% and more; the figures are printed for every run.
//
// A 5% bound on timings is a benchmark's kind of claim, and it flakes on a machine that
// other work (or this suite's other files) keeps busy, so it runs when asked for, alone:
// npm run test:served (GRAVITON_TUNE_SERVED_CHECK=1). Not part of npm test yet.
import {existsSync} from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {execa} from 'execa';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {renderEnvFile, renderLaunchScript, runtimeHelperSource} from '../source/core/report/outputs.js';
import {managedPython} from '../source/core/paths.js';
import {isTuningVariable, runProbe} from '../source/core/walk/probe-runner.js';
import type {Candidate, ProbeConfig, WalkResult} from '../source/core/types.js';
import {detection, walk} from './helpers/report-fixture.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const python = managedPython();
const haveTorch = existsSync(python);
const cpus = os.availableParallelism();
const TOLERANCE = 0.05;
const ROUNDS = 5;
const SECONDS = 1.5;

const base: ProbeConfig = {
	model: {name: 'toy'},
	batchSize: 4,
	channelsLast: false,
	autocast: null,
	fp32Precision: null,
	compile: false,
	quantization: null,
	backend: 'torch',
	workers: 1,
	// One thread per process: OpenMP threads that wait for a descheduled sibling would turn
	// other tenants' load on this shared 2-CPU machine into noise larger than 5%.
	threadsPerWorker: 1,
	budgetSeconds: SECONDS,
	cpuList: Array.from({length: cpus}, (_, i) => i),
};

const winners: Array<{kind: string; config: Partial<ProbeConfig>}> = [
	{kind: 'eager bf16 with channels_last', config: {channelsLast: true, autocast: 'bf16'}},
	{kind: 'torch.compile', config: {compile: true}},
	{kind: 'PT2E int8', config: {quantization: 'int8'}},
	{kind: 'ONNX Runtime', config: {backend: 'onnxruntime'}},
	{kind: 'OpenVINO int8', config: {backend: 'openvino', quantization: 'int8'}},
	{kind: 'two pinned workers', config: {workers: 2}},
];

/** The finished walk the writer gets: the fixture's, with this configuration as the winner. */
function walkWith(candidate: Candidate): WalkResult {
	const w = walk({model: candidate.config.model});
	return {...w, best: {...w.best, candidate}, verification: null};
}

/** The environment a user's shell gives launch.sh: without tuning variables (the env file sets those). */
function cleanEnv(): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !isTuningVariable(k) && k !== 'PYTHONPATH') env[k] = v;
	return env;
}

async function probeRate(config: ProbeConfig): Promise<number> {
	const outcome = await runProbe(config, {python, cwd: repo});
	if (!outcome.ok) throw new Error(`probe failed: ${JSON.stringify(outcome.failure).slice(0, 2000)}`);
	return outcome.result.samplesPerSecond.median;
}

async function appRate(launch: string): Promise<number> {
	const run = await execa('bash', [launch], {cwd: repo, env: cleanEnv(), extendEnv: false, reject: false, all: true, timeout: 600_000});
	if (run.exitCode !== 0) throw new Error(`launch.sh failed (${run.exitCode}): ${run.all?.slice(-3000)}`);
	const line = JSON.parse(run.stdout.trim().split('\n').pop()!) as {medianSamplesPerSecond: number; perWorker: Array<{rank: number; cpus: number[]; medianSamplesPerSecond: number}>};
	// Several workers: each one's figure and CPUs, so an uneven run shows which worker fell behind.
	if (line.perWorker.length > 1) console.log(`    app workers: ${line.perWorker.map(w => `rank ${w.rank} on CPUs ${w.cpus.join(',')}: ${w.medianSamplesPerSecond.toFixed(0)}`).join('; ')}`);
	return line.medianSamplesPerSecond;
}

/**
 * The written files for this configuration as the winner (env file, launch.sh starting `app`,
 * the runtime helper) in `dir`; then the probe and the app alternately, ROUNDS times each, and
 * the best of each compared. `appFigure` reads the app's figure from a launch.sh run.
 */
async function servedAgainstMeasured(kind: string, config: ProbeConfig, dir: string, app: string[], model: string, appFigure: (launch: string) => Promise<number>) {
	await fs.mkdir(dir);
	const candidate: Candidate = {config, env: {}, recipes: []};
	await fs.writeFile(path.join(dir, 'graviton-tune.env'), renderEnvFile({result: walkWith(candidate), detection: detection(), model, date: new Date()}));
	await fs.writeFile(path.join(dir, 'launch.sh'), renderLaunchScript({best: candidate, app, envFileName: 'graviton-tune.env'}), {mode: 0o755});
	await fs.writeFile(path.join(dir, 'graviton_tune_runtime.py'), await runtimeHelperSource());
	const measured: number[] = [];
	const served: number[] = [];
	for (let round = 0; round < ROUNDS; round++) {
		measured.push(await probeRate(config));
		served.push(await appFigure(path.join(dir, 'launch.sh')));
	}
	const probe = Math.max(...measured);
	const appBest = Math.max(...served);
	const ratio = appBest / probe;
	const line = `  ${kind}: probe ${measured.map((r) => r.toFixed(0)).join(', ')}; app ${served.map((r) => r.toFixed(0)).join(', ')}; best app/probe ${ratio.toFixed(3)}; load average ${os.loadavg()[0]!.toFixed(1)}`;
	console.log(line);
	return {line, ratio, probe, appBest};
}

const asked = process.env['GRAVITON_TUNE_SERVED_CHECK'] === '1';

describe.skipIf(!asked || !haveTorch || cpus < 2)('the files reproduce the figure the probe measured', () => {
	let out: string;
	const figures: string[] = [];
	beforeAll(async () => {
		out = await fs.mkdtemp(path.join(os.tmpdir(), 'gt-served-'));
	});
	afterAll(async () => {
		console.log(['served (app through launch.sh) against measured (probe), samples/s, best of ' + ROUNDS + ' alternated runs:', ...figures].join('\n'));
		await fs.rm(out, {recursive: true, force: true});
	});

	it.each(winners)('$kind', async ({kind, config: over}) => {
		const config: ProbeConfig = {...base, ...over};
		const dir = path.join(out, kind.replace(/\W+/g, '-'));
		const app = [python, path.join(repo, 'examples', 'sample_app.py'), '--runtime-dir', dir, '--model', 'toy', '--input-shape', '3,64,64', '--seconds', String(SECONDS)];
		const {line, ratio, probe, appBest} = await servedAgainstMeasured(kind, config, dir, app, 'toy', appRate);
		figures.push(line);
		expect(Math.abs(ratio - 1), `${kind}: app ${appBest.toFixed(1)} against probe ${probe.toFixed(1)} samples/s`).toBeLessThanOrEqual(TOLERANCE);
	}, 900_000);
});

// A generating winner: a Llama-style folder served by examples/generate_app.py through
// launch.sh, its median decode tokens/s against the probe's (the same statistic).
const generators: Array<{kind: string; config: Partial<ProbeConfig>}> = [
	{kind: 'generation, fp32 eager, 2 sequences', config: {}},
	{kind: 'generation, int8 weights', config: {weightQuantization: 'int8'}},
	{kind: 'generation, two pinned workers', config: {workers: 2}},
];

async function appTokens(launch: string): Promise<number> {
	const run = await execa('bash', [launch], {cwd: repo, env: cleanEnv(), extendEnv: false, reject: false, all: true, timeout: 600_000});
	if (run.exitCode !== 0) throw new Error(`launch.sh failed (${run.exitCode}): ${run.all?.slice(-3000)}`);
	return (JSON.parse(run.stdout.trim().split('\n').pop()!) as {medianDecodeTokensPerSecond: number}).medianDecodeTokensPerSecond;
}

describe.skipIf(!asked || !haveTorch || cpus < 2)('a generating winner serves the tokens/s the probe measured', () => {
	let out: string;
	let folder: string;
	const figures: string[] = [];
	beforeAll(async () => {
		out = await fs.mkdtemp(path.join(os.tmpdir(), 'gt-served-gen-'));
		folder = path.join(out, 'tiny-llama');
		await execa(python, ['-c', `import torch; from transformers import LlamaConfig, LlamaForCausalLM; torch.manual_seed(0); LlamaForCausalLM(LlamaConfig(vocab_size=1000, hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=256)).save_pretrained(${JSON.stringify(folder)})`]);
	}, 300_000);
	afterAll(async () => {
		console.log(['served (generate_app.py through launch.sh) against measured (probe), decode tokens/s, best of ' + ROUNDS + ' alternated runs:', ...figures].join('\n'));
		await fs.rm(out, {recursive: true, force: true});
	});

	it.each(generators)('$kind', async ({kind, config: over}) => {
		const config: ProbeConfig = {...base, model: {path: folder, task: 'generate', promptLen: 32, newTokens: 16}, batchSize: 2, ...over};
		const dir = path.join(out, kind.replace(/\W+/g, '-'));
		const app = [python, path.join(repo, 'examples', 'generate_app.py'), '--runtime-dir', dir, '--model', folder, '--prompt-len', '32', '--new-tokens', '16', '--seconds', String(SECONDS)];
		const {line, ratio, probe, appBest} = await servedAgainstMeasured(kind, config, dir, app, 'tiny-llama', appTokens);
		figures.push(line);
		expect(Math.abs(ratio - 1), `${kind}: app ${appBest.toFixed(1)} against probe ${probe.toFixed(1)} decode tokens/s`).toBeLessThanOrEqual(TOLERANCE);
	}, 900_000);
});
