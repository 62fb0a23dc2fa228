// The candidate algebra: a configuration (a Candidate: probe options, environment, the
// recipes that made it) built from the baseline by recipes' changes, pure functions only.
// The walk, the plan and the session build every configuration here, and a candidate's
// key says when two are the same.
import {fitToBackend, optionDefaults, plainModelOptions} from '../recipes/contract.js';
import type {Applicability, Candidate, ModelSpec, ProbeConfig, RecipeChanges} from '../types.js';

/** An .onnx file: measured on ONNX Runtime (and OpenVINO), never PyTorch. */
export function isOnnxModel(model: ModelSpec): boolean {
	return Boolean(model.path && /\.onnx$/i.test(model.path));
}

/**
 * fp32 eager PyTorch at batch 1; for an .onnx file, ONNX Runtime's default CPU session
 * (fp32, its own thread count) at batch 1, or at the file's batch when its axis is fixed.
 */
export function baselineCandidate(model: ModelSpec, usableCpus: number, cpuList: number[], fixedBatch: number | null = null): Candidate {
	const onnx = isOnnxModel(model);
	const config: ProbeConfig = {
		model,
		// Every option at its declared default (plain fp32), then what a baseline sets.
		...(optionDefaults() as Omit<ProbeConfig, 'model'>),
		batchSize: fixedBatch ?? 1,
		backend: onnx ? 'onnxruntime' : 'torch',
		workers: 1,
		threadsPerWorker: Math.max(1, usableCpus),
		cpuList,
		budgetSeconds: 5,
		...(onnx ? {sessionOptions: {}} : {}),
	};
	return {config, env: {}, recipes: []};
}

/** How the baseline is named in the log and the decision trail. */
export function baselineWords(candidate: Candidate): string {
	const c = candidate.config;
	if (c.backend === 'onnxruntime') return `ONNX Runtime's default CPU session, fp32, batch ${c.batchSize}`;
	return `fp32, eager, batch ${c.batchSize}`;
}

/** Apply a recipe's changes on top of a candidate (pure). */
export function applyChanges(base: Candidate, changes: RecipeChanges, recipeId: string, changesOf?: (id: string) => RecipeChanges | undefined): Candidate {
	const switching = changes.probe?.backend !== undefined && changes.probe.backend !== base.config.backend;
	// Another runtime starts from plain fp32: torch-side knobs (compile, autocast, PT2E
	// int8) mean nothing there, and the recipe says what it wants on top.
	const start = switching ? {...base.config, ...plainModelOptions} : base.config;
	const config: ProbeConfig = {...start, ...(changes.probe ?? {})};
	// Session options add up step by step.
	if (base.config.sessionOptions && changes.probe?.sessionOptions) config.sessionOptions = {...base.config.sessionOptions, ...changes.probe.sessionOptions};
	// What each option means on which backend is the contract's (backends, carriedBy).
	const fitted = fitToBackend(config);
	// After a switch of runtime, recipes that only set torch-side options no longer apply.
	const kept = switching && changesOf ? base.recipes.filter(id => !changesOf(id)?.probe) : base.recipes;
	const recipes = kept.includes(recipeId) ? kept : [...kept, recipeId];
	return {config: fitted, env: {...base.env, ...(changes.env ?? {})}, recipes};
}

/** A stable key for "the same configuration" (history, resume, de-duplication). */
export function candidateKey(c: Candidate): string {
	const {budgetSeconds: _b, cpuList: _c, ...rest} = c.config;
	const env = Object.keys(c.env).sort().map(k => `${k}=${c.env[k]}`);
	return JSON.stringify({...rest, env});
}

/** The batch sizes the batch step sweeps, smallest first (the batch-size recipe's list). */
export function batchSizesOf(step: Applicability): number[] {
	return [...(step.changes.batchSizes ?? [1, 2, 4, 8, 16, 32])].sort((a, b) => a - b);
}

/** The candidate at another batch size, the batch step's change. */
export function atBatch(candidate: Candidate, batchStep: Applicability, size: number): Candidate {
	const next = applyChanges(candidate, {}, batchStep.recipe.id);
	return {...next, config: {...next.config, batchSize: size}};
}

/** The usable CPUs of each NUMA node (Detection.numaNodes); null, absent or one node: no per-node rule. */
export type NumaNodes = readonly (readonly number[])[] | null | undefined;

/**
 * Each worker's CPUs as the runtime helper pins them (pinning.py's worker_cpus): the CPU
 * list taken node by node (each node's CPUs in order, CPUs in no node last), cut into
 * `workers` contiguous equal slices; CPUs left over stay unused.
 */
export function workerSlices(cpuList: readonly number[], workers: number, nodes: NumaNodes = null): number[][] {
	const nodeOf = new Map<number, number>();
	for (const [index, cpus] of (nodes ?? []).entries()) for (const cpu of cpus) if (!nodeOf.has(cpu)) nodeOf.set(cpu, index);
	const last = nodes?.length ?? 0;
	const ordered = [...cpuList].sort((a, b) => (nodeOf.get(a) ?? last) - (nodeOf.get(b) ?? last) || a - b);
	const size = Math.floor(ordered.length / workers);
	return Array.from({length: workers}, (_, i) => ordered.slice(i * size, (i + 1) * size).sort((a, b) => a - b));
}

/**
 * The worker counts a worker sweep offers: 2 to 16 workers that share the usable CPUs
 * equally. On a machine of several NUMA nodes only multiples of the node count, and only
 * where each worker's slice (workerSlices) lies inside one node: no worker straddles two.
 */
export function workerCounts(usableCpus: number, nodes: NumaNodes = null): number[] {
	const several = nodes && nodes.length > 1 ? nodes : null;
	const perNode = several?.length ?? 1;
	const counts = [1, 2, 4, 8, 16].map(m => m * perNode).filter(n => n >= 2 && n <= 16 && n <= usableCpus && usableCpus % n === 0);
	if (!several) return counts;
	const nodeOf = new Map(several.flatMap((cpus, index) => cpus.map(cpu => [cpu, index] as const)));
	const inOneNode = (slice: number[]) => slice.length > 0 && new Set(slice.map(cpu => nodeOf.get(cpu))).size === 1;
	const aligned = counts.filter(n => workerSlices(several.flat(), n, several).every(inOneNode));
	// Nodes a cpuset left too unequal for any per-node split: the plain counts, as on one node
	// (a worker may then span two nodes), rather than no worker sweep at all.
	return aligned.length > 0 ? aligned : workerCounts(usableCpus);
}

/** The configuration a step makes on top of `best` (a worker sweep: its first worker count). */
export function stepCandidate(best: Candidate, step: Applicability, usableCpus: number, nodes: NumaNodes = null): Candidate {
	const next = applyChanges(best, step.changes, step.recipe.id);
	if (step.changes.workers === 'sweep') {
		const workers = workerCounts(usableCpus, nodes)[0] ?? 1;
		next.config = {...next.config, workers, threadsPerWorker: Math.max(1, Math.floor(usableCpus / workers))};
	}
	return next;
}
