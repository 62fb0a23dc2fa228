// The contract (source/core/recipes/contract.ts) is the one declaration of the options: the
// files generated from it are committed and must match it, and what derives from it
// (env file variables, flags, words, the recipe schema) follows it.
import {cp, mkdtemp, readFile, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {execa} from 'execa';
import {describe, expect, it} from 'vitest';
import {contractJson, fitToBackend, OPTIONS, optionDefaults, optionKeys, optionVariables, plainModelOptions} from '../source/core/recipes/contract.js';
import {parseOptionText} from '../source/core/recipes/option-flags.js';
import {contractFiles} from '../source/core/recipes/contract-files.js';
import {recipesDir} from '../source/core/paths.js';
import {describeCandidate} from '../source/core/report/summary.js';
import type {ProbeConfig} from '../source/core/types.js';
import {parseCommand, UsageError} from '../source/options.js';

const root = path.join(import.meta.dirname, '..');

const config = (over: Partial<ProbeConfig> = {}): ProbeConfig => ({
	...(optionDefaults() as ProbeConfig),
	model: {name: 'toy'},
	threadsPerWorker: 2,
	...over,
});

describe('the contract', () => {
	it('the committed generated files are what the declaration generates (run `npm run build` after changing it)', async () => {
		for (const {file, content} of contractFiles()) {
			expect(await readFile(path.join(root, file), 'utf8'), file).toBe(content);
		}
	});

	it('the Python copy names every option once, with its GT_* variable and flag', () => {
		const json = contractJson();
		expect(json.version).toBe(1);
		// The deployable options (those with a GT_* variable), in declaration order, then the served model file.
		const deployable = optionKeys.filter(key => OPTIONS[key].env);
		expect(json.options.map(o => o['key'])).toEqual([...deployable, 'model']);
		expect(deployable).not.toContain('budgetSeconds');
		// What only a probe takes (its --config, probeArguments), declared for the probe's config.py.
		expect(json.probeOptions.map(o => o['key'])).toEqual(optionKeys.filter(key => OPTIONS[key].level === 'probe'));
		expect(json.probeOptions.find(o => o['key'] === 'budgetSeconds')).toMatchObject({python: 'budget_seconds', type: 'float', default: 10, min: 0, exclusiveMin: true});
		const envs = json.options.map(o => o['env']);
		expect(envs.every(Boolean)).toBe(true);
		expect(new Set(envs).size).toBe(envs.length);
		expect(json.options.find(o => o['key'] === 'batchSize')).toMatchObject({env: 'GT_BATCH_SIZE', python: 'batch_size', type: 'int', default: 1, min: 1, flag: '--batch-size', level: 'model'});
		expect(json.options.find(o => o['key'] === 'backend')).toMatchObject({type: 'enum', choices: ['torch', 'onnxruntime', 'openvino'], default: 'torch'});
		// An enum that may be off is spelled as the env file spells it: "none" is a choice and the default.
		expect(json.options.find(o => o['key'] === 'autocast')).toMatchObject({env: 'GT_AUTOCAST', choices: ['none', 'bf16'], default: 'none'});
		// The runtime helper's settings() keys.
		expect(json.options.map(o => o['python'])).toEqual(expect.arrayContaining(['threads', 'ort_options', 'model_path']));
		expect(json.options.find(o => o['key'] === 'model')).toMatchObject({env: 'GT_MODEL', python: 'model_path', type: 'string'});
		for (const o of json.options) expect(['model', 'process'], String(o['key'])).toContain(o['level']);
	});

	it('every recipe file names the schema, so an editor checks it too', async () => {
		const {readdir} = await import('node:fs/promises');
		const files = (await readdir(recipesDir)).filter(name => name.endsWith('.json') && !name.endsWith('.schema.json'));
		expect(files.length).toBeGreaterThan(10);
		for (const name of files) expect(JSON.parse(await readFile(path.join(recipesDir, name), 'utf8')).$schema, name).toBe('./recipe.schema.json');
	});

	it('the env file variables follow the declaration: order, spelling, and what applies to the backend', () => {
		const torch = config({channelsLast: true, autocast: 'bf16', cpuList: [0, 1, 2, 3]});
		const vars = optionVariables(torch);
		// Every deployable option a torch configuration holds, in declaration order (session options are ONNX Runtime's).
		const declared = optionKeys
			.filter(key => torch[key] !== undefined)
			.map(key => OPTIONS[key] as {env: string | null; backends?: readonly string[]})
			.filter(spec => spec.env && (!spec.backends || spec.backends.includes('torch')))
			.map(spec => spec.env);
		expect(vars.map(([key]) => key)).toEqual(declared);
		for (const pair of [['GT_BATCH_SIZE', '1'], ['GT_CHANNELS_LAST', '1'], ['GT_AUTOCAST', 'bf16'], ['GT_FP32_PRECISION', 'none'], ['GT_COMPILE', '0'], ['GT_BACKEND', 'torch'], ['GT_THREADS_PER_WORKER', '2'], ['GT_CPU_LIST', '0-3']]) {
			expect(vars).toContainEqual(pair);
		}
		expect(vars.slice(0, 2)).toEqual([['GT_BATCH_SIZE', '1'], ['GT_CHANNELS_LAST', '1']]);
		// Session options mean something on ONNX Runtime only.
		expect(optionVariables(config({sessionOptions: {}})).map(([k]) => k)).not.toContain('GT_ORT_OPTIONS');
		expect(optionVariables(config({backend: 'onnxruntime', sessionOptions: {}}))).toContainEqual(['GT_ORT_OPTIONS', 'default']);
	});

	it("each backend gets the options that mean something there, and a bf16 request the way it takes one (backends, carriedBy)", () => {
		for (const backend of ['onnxruntime', 'openvino'] as const) {
			const fitted = fitToBackend(config({backend, channelsLast: true, compile: true, autocast: 'bf16', weightQuantization: 'int8', quantization: 'int8', sessionOptions: {}}));
			expect(fitted).toMatchObject({channelsLast: false, compile: false, autocast: null, fp32Precision: 'bf16', quantization: 'int8'});
			expect('weightQuantization' in fitted).toBe(false);
			expect('sessionOptions' in fitted).toBe(backend === 'onnxruntime');
			const written = optionVariables(fitted).map(([key]) => key);
			for (const torchOnly of ['GT_CHANNELS_LAST', 'GT_COMPILE', 'GT_AUTOCAST', 'GT_WEIGHT_QUANTIZATION']) expect(written).not.toContain(torchOnly);
			expect(written).toContain('GT_FP32_PRECISION');
		}
		const torch = config({channelsLast: true, compile: true, autocast: 'bf16', sessionOptions: {}});
		expect(fitToBackend(torch)).toMatchObject({channelsLast: true, compile: true, autocast: 'bf16', fp32Precision: null});
		expect('sessionOptions' in fitToBackend(torch)).toBe(false);
		// A carrier is itself an option.
		for (const spec of Object.values(OPTIONS) as Array<{carriedBy?: string}>) if (spec.carriedBy) expect(optionKeys).toContain(spec.carriedBy);
	});

	it('the words for a configuration come from the declaration', () => {
		const c = config({batchSize: 8, channelsLast: true, compile: true, workers: 2, threadsPerWorker: 1});
		expect(describeCandidate({config: c, env: {LD_PRELOAD: '/usr/lib/libtcmalloc.so.4', OMP_NUM_THREADS: '1'}, recipes: []})).toBe('batch 8, channels_last, compile, 2 workers x 1 thread, libtcmalloc.so.4');
	});

	it('another runtime starts from the declared plain values of the torch-side knobs', () => {
		expect(plainModelOptions).toEqual({channelsLast: false, autocast: null, fp32Precision: null, compile: false, quantization: null, weightQuantization: null});
	});

	it('flags are parsed and checked as declared, with the flag named in the error', () => {
		expect(parseCommand(['probe', '--batch-size', '4', '--autocast', 'bf16', '--threads', '2', '--seconds', '1.5'])).toMatchObject({
			probe: {batchSize: 4, autocast: 'bf16', threadsPerWorker: 2, budgetSeconds: 1.5, backend: 'torch'},
		});
		const usage = (argv: string[]) => {
			try {
				parseCommand(argv);
			} catch (error) {
				expect(error).toBeInstanceOf(UsageError);
				return (error as Error).message;
			}
			return null;
		};
		expect(usage(['probe', '--batch-size', '0'])).toBe('--batch-size 0: expected a positive whole number');
		expect(usage(['probe', '--autocast', 'fp16'])).toBe('--autocast fp16: expected one of bf16');
		expect(usage(['probe', '--seconds', '0'])).toBe('--seconds 0: expected a positive number');
		expect(parseOptionText(OPTIONS.cpuList, '0-2,5')).toEqual([0, 1, 2, 5]);
		expect(parseOptionText(OPTIONS.sessionOptions, 'a=1,b.c=x')).toEqual({a: '1', 'b.c': 'x'});
	});
});

describe('a recipe file that breaks the schema', () => {
	it('stops the CLI with one line naming the file and the field, exit 3, no stack trace', async () => {
		// A copy of the built package, one recipe edited by hand: autocast is not an option value.
		const pkg = await mkdtemp(path.join(tmpdir(), 'gt-contract-'));
		for (const part of ['dist', 'recipes', 'probes', 'package.json']) await cp(path.join(root, part), path.join(pkg, part), {recursive: true});
		await symlink(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));
		const file = path.join(pkg, 'recipes', 'bf16-autocast.json');
		const recipe = JSON.parse(await readFile(file, 'utf8'));
		recipe.changes.probe.autocast = 'fp16';
		await writeFile(file, JSON.stringify(recipe, null, '\t'));
		const r = await execa('node', [path.join(pkg, 'dist', 'cli.js'), 'detect', '--root', path.join(root, 'test', 'fixtures', 'trees', 'graviton3')], {reject: false, stdin: 'ignore'});
		expect(r.exitCode).toBe(3);
		expect(r.stderr).toContain('recipes/bf16-autocast.json: field "changes.probe.autocast" must be one of bf16, null');
		expect(r.stderr).toContain('fix: correct the file(s) named above');
		expect(r.stderr).not.toMatch(/^\s+at /m);
		expect(r.stderr).not.toMatch(/internal error/);
	});
});
