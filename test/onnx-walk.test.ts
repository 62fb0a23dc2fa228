// The walk for an .onnx file: which steps apply, and why, on captured machines; and the
// baseline the planner starts from. (The probe side is in probes/tests/test_onnx_model.py.)
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {beforeAll, describe, expect, it} from 'vitest';
import {detectHardware} from '../source/core/machine/hardware.js';
import {modelVariables} from '../source/core/report/outputs.js';
import {applyChanges, baselineCandidate, baselineWords} from '../source/core/walk/candidates.js';
import {applicability} from '../source/core/recipes/applicability.js';
import {loadRecipes} from '../source/core/recipes/recipes.js';
import type {Applicability, Candidate, PythonEnv, Recipe} from '../source/core/types.js';

const outputsEnvLines = (c: Candidate) => modelVariables(c.config).map(([k, v]) => `${k}=${v}`);

const trees = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'trees');
const all = ['onnxruntime', 'onnx', 'onnxscript', 'openvino', 'nncf', 'torchao'];
const python: PythonEnv = {
	interpreter: '/opt/venv/bin/python', source: 'virtualenv', reason: 'VIRTUAL_ENV is set', pythonVersion: '3.12.3',
	torch: {version: '2.6.0', cpuCapability: 'DEFAULT', numThreads: 4, mkldnn: true},
	packages: Object.fromEntries(all.map(p => [p, '1.0'])), importErrors: {}, problem: null,
};

let recipes: Recipe[];
beforeAll(async () => {
	recipes = await loadRecipes();
});

async function judged(tree: string, fixedBatch: number | null = null): Promise<Map<string, Applicability>> {
	const detection = await detectHardware({root: path.join(trees, tree)});
	const list = applicability(recipes, detection, python, {inputKind: 'image', model: {format: 'onnx', fixedBatch}});
	return new Map(list.map(a => [a.recipe.id, a]));
}

describe('recipes for an ONNX model', () => {
	it('offers ORT int8, OpenVINO bf16 and NNCF int8 where the ISA allows (Sapphire Rapids)', async () => {
		const list = await judged('sapphire-rapids');
		for (const id of ['onnxruntime-int8', 'openvino', 'openvino-bf16', 'openvino-int8', 'onnxruntime-threads', 'onnxruntime-graph', 'batch-size', 'workers']) {
			expect(list.get(id)?.status, id).toBe('applicable');
		}
		expect(list.get('onnxruntime-bf16')?.reason).toMatch(/only for aarch64/);
	});

	it('offers the arm64 bf16 GEMM fast math on Graviton3, not on Graviton2', async () => {
		expect((await judged('graviton3')).get('onnxruntime-bf16')?.status).toBe('applicable');
		// OpenVINO's Arm CPU plugin has f16, not bf16 (the emulated Graviton3 refused it).
		expect((await judged('graviton3')).get('openvino-bf16')?.reason).toMatch(/only for x86_64/);
		expect((await judged('graviton2')).get('onnxruntime-bf16')?.status).toBe('not-applicable');
		expect((await judged('graviton2')).get('onnxruntime-int8')?.status).toBe('applicable'); // asimddp
	});

	it('says torch-only recipes do not apply to an ONNX model, rather than dropping them', async () => {
		const list = await judged('sapphire-rapids');
		for (const id of ['channels-last', 'bf16-autocast', 'torch-compile', 'int8-pt2e', 'thp', 'lru-cache', 'onnxruntime']) {
			expect(list.get(id)?.status, id).toBe('not-applicable');
			expect(list.get(id)?.reason, id).toMatch(/not applicable to an ONNX model/);
		}
	});

	it('a fixed batch axis rules the batch sweep out, with the reason', async () => {
		const batch = (await judged('zen4', 4)).get('batch-size');
		expect(batch?.status).toBe('not-applicable');
		expect(batch?.reason).toMatch(/fixes its batch axis at 4/);
	});

	it('the ORT session recipes are for ONNX files only', async () => {
		const detection = await detectHardware({root: path.join(trees, 'zen4')});
		const list = applicability(recipes, detection, python, {model: {format: 'torch', fixedBatch: null}});
		expect(list.find(a => a.recipe.id === 'onnxruntime-threads')?.status).toBe('not-applicable');
		expect(list.find(a => a.recipe.id === 'onnxruntime')?.status).toBe('applicable');
	});
});

describe('the ONNX baseline', () => {
	const model = {path: 'net.onnx'};
	it("is ONNX Runtime's default session at batch 1, or at the file's fixed batch", () => {
		const dynamic = baselineCandidate(model, 2, [0, 1]);
		expect(dynamic.config).toMatchObject({backend: 'onnxruntime', batchSize: 1, sessionOptions: {}});
		expect(baselineWords(dynamic)).toBe("ONNX Runtime's default CPU session, fp32, batch 1");
		expect(baselineCandidate(model, 2, [0, 1], 8).config.batchSize).toBe(8);
		expect(baselineCandidate({name: 'resnet50'}, 2, [0, 1]).config.backend).toBe('torch');
	});

	it('session options add up step by step and leave with ONNX Runtime', () => {
		const base = baselineCandidate(model, 2, [0, 1]);
		const threads = applyChanges(base, {probe: {sessionOptions: {intra_op_num_threads: 'threads'}}}, 'onnxruntime-threads');
		const graph = applyChanges(threads, {probe: {sessionOptions: {graph_optimization_level: 'extended'}}}, 'onnxruntime-graph');
		expect(graph.config.sessionOptions).toEqual({intra_op_num_threads: 'threads', graph_optimization_level: 'extended'});
		const openvino = applyChanges(graph, {probe: {backend: 'openvino'}}, 'openvino', () => ({probe: {}}));
		expect(openvino.config.sessionOptions).toBeUndefined();
		expect(openvino.recipes).toEqual(['openvino']);
		expect(outputsEnvLines(graph)).toContain('GT_ORT_OPTIONS=intra_op_num_threads=threads,graph_optimization_level=extended');
		expect(outputsEnvLines(base)).toContain('GT_ORT_OPTIONS=default');
		expect(outputsEnvLines(base).some(line => line.startsWith('GT_MODEL=/') && line.endsWith('/net.onnx'))).toBe(true);
	});
});
