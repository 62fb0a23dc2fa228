// A language model measured generating: the flags, which recipes apply to it and why,
// the greedy-token check as a bound on lossy steps, and the figures in tokens on every
// page (the summary line, report.md, report.html, the --json result).
import {execa} from 'execa';
import {existsSync, mkdtempSync, readFileSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {managedPython} from '../source/core/paths.js';
import {describeRates, limitsNote, measureMatmulRates} from '../source/core/machine/limits.js';
import {resultLine} from '../source/headless/auto.js';
import {applicability} from '../source/core/recipes/applicability.js';
import {loadRecipes} from '../source/core/recipes/recipes.js';
import {buildReport, renderReportMarkdown} from '../source/core/report/outputs.js';
import {renderReportHtml} from '../source/core/report/report-html.js';
import {withTask} from '../source/core/walk/model-check.js';
import {checkFailure, latencyFailure} from '../source/core/walk/stats.js';
import {formatResult} from '../source/core/report/text.js';
import {parseCommand, UsageError} from '../source/options.js';
import type {GenerationFigures, ModelSpec, ProbeResult, Recipe, WalkResult} from '../source/core/types.js';
import {detection, python, result, walk} from './helpers/report-fixture.js';

const llama: ModelSpec = {path: '/models/tiny-llama', task: 'generate', promptLen: 32, newTokens: 16};

function generation(total: number): GenerationFigures {
	return {
		promptTokens: 32,
		newTokens: 16,
		sequences: 4,
		ttftMs: {p50: 41.5, p99: 60.2},
		interTokenMs: {p50: 9.5, p99: 14.1},
		decodeTokensPerSecond: {perSequence: total / 4, total},
		endToEndTokensPerSecond: total * 0.8,
	};
}

/** A result of a generating probe: samplesPerSecond is decode tokens/s, with its token figures and check. */
function generated(total: number, identical = 4): ProbeResult {
	return {
		...result(total, 14.1, 4),
		generation: generation(total),
		check: {cosine: 0.9999, maxAbsError: 0.01, top1Agreement: 1, tokens: {compared: 16, sequences: 4, identical, firstDivergence: identical === 4 ? null : 11}},
	};
}

/** The fixture walk with every result replaced by a generating one (same ratios). */
function generatingWalk(): WalkResult {
	const base = walk({model: llama});
	const swap = (r: ProbeResult | null) => (r ? generated(r.samplesPerSecond.median * 10) : null);
	return {
		...base,
		baseline: {...base.baseline, result: swap(base.baseline.result)!},
		best: {...base.best, result: swap(base.best.result)!},
		verification: base.verification ? {...base.verification, baseline: swap(base.verification.baseline)!, best: swap(base.verification.best)!} : null,
		probes: base.probes.map(p => ({...p, result: swap(p.result)})),
	};
}

describe('the generation flags', () => {
	it('take the task, the prompt and the new tokens into the model spec', () => {
		const command = parseCommand(['--auto', '--model', './tiny-llama', '--task', 'generate', '--prompt-len', '32', '--new-tokens', '16']);
		expect(command.kind).toBe('tune');
		expect(command.kind === 'tune' && command.tune.model).toEqual({path: './tiny-llama', task: 'generate', promptLen: 32, newTokens: 16});
	});

	it('refuse what cannot be measured, naming the flag', () => {
		expect(() => parseCommand(['--task', 'chat'])).toThrow(UsageError);
		expect(() => parseCommand(['--task', 'chat'])).toThrow(/--task chat: expected one of forward, generate/);
		expect(() => parseCommand(['--new-tokens', '0'])).toThrow(/--new-tokens 0: expected a positive whole number/);
		expect(() => parseCommand(['--model', './t5', '--task', 'forward', '--new-tokens', '8'])).toThrow(/with --task forward give --seq-len/);
	});

	it('leave the task to the model check unless it is given', () => {
		const check = {ok: true as const, info: {label: 'x', kind: 'huggingface', inputKind: 'tokens' as const, inputs: [], evaluate: false, samples: null, task: 'generate' as const}, notes: []};
		expect(withTask({path: './llama'}, check).task).toBe('generate');
		expect(withTask({path: './llama', task: 'forward'}, check).task).toBe('forward');
		expect(withTask({path: './llama'}, null).task).toBeUndefined();
	});
});

describe('recipes for a generating model', () => {
	let recipes: Recipe[];
	beforeAll(async () => {
		recipes = await loadRecipes();
	});

	it('say which steps do not reach generate(), and keep the ones that do', () => {
		const list = applicability(recipes, detection(), {...python, packages: {onnxruntime: '1.23', onnx: '1.19', onnxscript: '0.5', openvino: '2025.3', nncf: '2.18', torchao: '0.15'}}, {inputKind: 'tokens', model: {format: 'torch', fixedBatch: null, task: 'generate'}});
		const status = (id: string) => list.find(a => a.recipe.id === id)!;
		for (const id of ['torch-compile', 'int8-pt2e', 'onnxruntime', 'openvino', 'openvino-int8']) {
			expect(status(id).status, id).toBe('not-applicable');
			expect(status(id).reason, id).toMatch(/not for generation yet.*generate\(\)/);
		}
		for (const id of ['batch-size', 'bf16-autocast', 'tcmalloc', 'workers']) expect(status(id).status, id).not.toBe('not-applicable');
		// The same machine and packages, one forward pass: compile is on offer again.
		const forward = applicability(recipes, detection(), python, {inputKind: 'tokens', model: {format: 'torch', fixedBatch: null, task: 'forward'}});
		expect(forward.find(a => a.recipe.id === 'torch-compile')!.status).toBe('applicable');
	});
});

describe('the greedy-token check', () => {
	it('rejects a lossy step whose tokens leave fp32 eager, within the top-1 bound', () => {
		expect(checkFailure(generated(100).check)).toBeNull();
		expect(checkFailure(generated(100, 3).check)).toBe('output check failed: 3 of 4 sequences identical to fp32 eager\'s greedy tokens over the first 16; the first difference at token 12 (needs 99%)');
		expect(checkFailure(generated(100, 3).check, {minCosine: 0.99, minTop1: 0.75, maxAccuracyDrop: 0.01})).toBeNull();
	});

	it('bounds the time between tokens with --max-latency-ms, and the first token with --max-ttft-ms', () => {
		expect(latencyFailure(generated(100), {maxLatencyMs: 20})).toBeNull();
		expect(latencyFailure(generated(100), {maxLatencyMs: 10})).toBe('p99 time between tokens 14.1 ms exceeds --max-latency-ms 10');
		expect(latencyFailure(generated(100), {maxLatencyMs: null, maxTtftMs: 70})).toBeNull();
		expect(latencyFailure(generated(100), {maxLatencyMs: 20, maxTtftMs: 50})).toBe('p99 time to first token 60.2 ms exceeds --max-ttft-ms 50');
		expect(parseCommand(['--auto', '--max-ttft-ms', '250']).kind === 'tune' && (parseCommand(['--auto', '--max-ttft-ms', '250']) as {tune: {maxTtftMs: number}}).tune.maxTtftMs).toBe(250);
	});
});

describe('the figures in tokens', () => {
	it('read as tokens/s with the first token on the probe line', () => {
		const line = formatResult(generated(240));
		expect(line).toMatch(/^240\.0 tokens\/s ±3\.0%, first token 41\.5 ms, p99 14\.1 ms between tokens, cosine 0\.9999, top-1 100%, tokens 4\/4 identical over 16$/);
		expect(formatResult(result(20, 60))).toMatch(/^20\.0 samples\/s/);
	});

	it('fill report.md, report.html and the --json result', () => {
		const r = buildReport({result: generatingWalk(), detection: detection(), python, model: llama, options: {minCosine: 0.99, minTop1: 0.99}, startedAt: new Date('2026-01-01T00:00:00Z'), generatedAt: new Date('2026-01-01T00:02:00Z'), pricePerHour: null});
		const md = renderReportMarkdown(r);
		expect(md).toContain('measured generating (greedy): prompts of 32 tokens, 16 new tokens per sequence, tokens/s');
		expect(md).toMatch(/\*\*330 tokens\/s\*\* against a baseline of 195 \(1\.69x\), p99 14\.1 ms between tokens\./);
		expect(md).toContain('Generation (greedy): first token 41.5 ms (p99 60.2), decode 82.5 tokens/s per sequence (330 in total, 4 sequences)');
		expect(md).toContain('| tokens/s median [95% CI] |');
		expect(md).toContain('4 of 4 sequences identical to fp32 eager\'s greedy tokens over the first 16');
		expect(md).toContain('model.generate(**tokenizer(prompts, return_tensors="pt"), **greedy_settings(model, 16))');
		const html = renderReportHtml(r);
		expect(html).toContain('<small>tokens/s</small>');
		expect(html).toContain('time to first token (p99 60.2 ms)');
		expect(html).toContain('Every probe: tokens/s against time to first token');
		const json = resultLine(generatingWalk(), null);
		expect(json.unit).toBe('tokens/s');
		expect(json.best.generation?.ttftMs.p50).toBe(41.5);
		expect(json.best.check?.tokens?.identical).toBe(4);
	});
});

// The real thing, as a new user runs it: the built CLI, a Llama-style save_pretrained folder
// made from a config (random weights), real probes generating.
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const venvPython = managedPython();

describe.skipIf(!existsSync(venvPython))('graviton-tune --auto on a causal LM folder', () => {
	const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-generate-'));
	const folder = path.join(tmp, 'tiny-llama');
	const out = path.join(tmp, 'out');
	let run: Awaited<ReturnType<typeof execa>>;

	beforeAll(async () => {
		if (!existsSync(cli)) await execa('npm', ['run', 'build'], {cwd: root});
		await execa(venvPython, ['-c', `import torch; from transformers import LlamaConfig, LlamaForCausalLM; torch.manual_seed(0); LlamaForCausalLM(LlamaConfig(vocab_size=500, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=128)).save_pretrained(${JSON.stringify(folder)})`]);
		run = await execa('node', [cli, '--auto', '--model', folder, '--prompt-len', '16', '--new-tokens', '8', '--budget', '90s', '--recipes', 'weight-int4', '--out', out, '--json'], {
			stdin: 'ignore',
			reject: false,
			timeout: 240_000,
			env: {GRAVITON_TUNE_CONFIG_DIR: path.join(tmp, 'config'), GRAVITON_TUNE_BUSY_THRESHOLD: '1'},
		});
	}, 300_000);

	afterAll(() => {
		rmSync(tmp, {recursive: true, force: true});
	});

	it('is measured generating, in tokens, and the files say so', () => {
		expect(run.exitCode, String(run.stderr)).toBe(0);
		const stderr = String(run.stderr);
		expect(stderr).toMatch(/Model: .*tiny-llama \(huggingface, LlamaForCausalLM\)/);
		expect(stderr).toContain('measured generating (greedy): prompts of 16 tokens, 8 new tokens per sequence, tokens/s');
		expect(stderr).toMatch(/skip torch-compile: not for generation yet/);
		const lines = String(run.stdout).trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
		const result = lines.at(-1) as {type: string; unit: string; best: {samplesPerSecond: number; generation: GenerationFigures | null; check: {tokens: {identical: number; sequences: number}} | null}};
		expect(result.type).toBe('result');
		expect(result.unit).toBe('tokens/s');
		const g = result.best.generation!;
		expect(g.promptTokens).toBe(16);
		expect(g.newTokens).toBe(8);
		expect(g.ttftMs.p50).toBeGreaterThan(0);
		expect(g.decodeTokensPerSecond.total).toBe(result.best.samplesPerSecond);
		// The winner is exact here (int4 flips the random model's nearly tied tokens): all its sequences match fp32 eager.
		expect(result.best.check!.tokens.identical).toBe(result.best.check!.tokens.sequences);
		const md = readFileSync(path.join(out, 'report.md'), 'utf8');
		expect(md).toMatch(/\*\*[\d.]+ tokens\/s\*\* against a baseline/);
		expect(md).toContain('Generation (greedy): first token');
		const report = JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8')) as {model: {task: string}; best: {result: {generation: GenerationFigures}}};
		expect(report.model.task).toBe('generate');
		expect(report.best.result.generation.sequences).toBeGreaterThanOrEqual(1);
	});

	it('drops the lossy step whose greedy tokens leave fp32 eager', () => {
		const lines = String(run.stdout).trim().split('\n').map(line => JSON.parse(line) as Record<string, unknown>);
		const decisions = (lines.at(-1) as {decisions: Array<{recipeId: string | null; outcome: string; reason: string}>}).decisions;
		const int4 = decisions.find(d => d.recipeId === 'weight-int4');
		expect(int4, JSON.stringify(decisions)).toBeDefined();
		expect(int4!.outcome).toBe('dropped');
		expect(int4!.reason).toMatch(/^output check failed: /);
	});
});

describe('the bandwidth limit of decode', () => {
	it('is the sequences × bandwidth ÷ (weights + sequences × KV) per step, on every page', () => {
		const w = generatingWalk();
		const withBytes = (r: ProbeResult): ProbeResult => ({...r, generation: {...r.generation!, bytesPerStep: {weights: 100e6, kvPerSequence: 5e6}}});
		const run = {...w, verification: {...w.verification!, baseline: withBytes(w.verification!.baseline), best: withBytes(w.verification!.best)}, limits: {rates: {at: 'x', threads: 2, fp32: 100, bandwidth: 20}, flopsPerSample: null}};
		const note = limitsNote(run, run.limits)!;
		// 4 sequences: 4 × 20 GB/s ÷ (100 MB + 4 × 5 MB) = 666.7 tokens/s; the winner reads 330.
		expect(note.best.bound).toBe('bandwidth');
		expect(note.best.share).toBeCloseTo(330 / (4 * 20e9 / 120e6), 6);
		expect(note.lines[1]).toBe('best: 50% of this machine\'s memory-bandwidth limit for decode (20.0 GB/s ÷ 100 MB of weights + 4 × 5.0 MB of KV cache per step)');
		expect(note.lines[2]).toMatch(/^so: half-way to the bandwidth limit/);
		// The prefill against the matmul rate: 32 prompt tokens × 4 sequences × 20 MFLOP per token in 41.5 ms = 61.7 GFLOP/s against 100.
		const prefill = {...run, verification: {...run.verification, best: {...run.verification.best, generation: {...run.verification.best.generation!, bytesPerStep: {weights: 100e6, kvPerSequence: 5e6, flopsPerToken: 2e7}}}}};
		expect(limitsNote(prefill, prefill.limits)!.lines[3]).toBe('prefill (the winner\'s first token): 62% of this CPU\'s fp32 matmul rate (100 GFLOP/s)');
		// Without the bandwidth there is nothing to say (no matmul share for a generating model).
		expect(limitsNote(run, {rates: {at: 'x', threads: 2, fp32: 100}, flopsPerSample: null})).toBeNull();
	});

	it('measures the bandwidth once with the matmul rates (real torch)', async () => {
		if (!existsSync(venvPython)) return;
		const rates = await measureMatmulRates(venvPython, 1, {seconds: 0.3, bandwidth: true});
		expect(rates!.bandwidth).toBeGreaterThan(0.1);
		expect(describeRates(rates!)).toMatch(/memory bandwidth [\d.]+ GB\/s$/);
	}, 120_000);
});
