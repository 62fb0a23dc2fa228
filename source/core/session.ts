// A tuning session: detect the machine, find Python, decide which recipes apply, run
// the walk with real probes, and emit one typed event stream. Both faces (Ink and
// headless) consume only these events and the returned values.
import {detectHardware} from './hardware.js';
import {candidateKey, Walk} from './planner.js';
import type {Measure} from './planner.js';
import {inspectModel, recipeInputKind} from './model-check.js';
import type {ModelCheck} from './model-check.js';
import {runProbe} from './probe-runner.js';
import {findPython, inspectPython} from './python-env.js';
import {advisories, applicability, loadRecipes} from './recipes.js';
import {fingerprint, Settings} from './settings.js';
import {defaultCheckThresholds, defaultCompareOptions} from './stats.js';
import type {CheckThresholds} from './stats.js';
import type {Advice, Applicability, Candidate, Detection, ModelSpec, ProbeRecord, PythonEnv, SessionEvent, WalkResult} from './types.js';

export interface PrepareOptions {
	python?: string;
	root?: string;
	model: ModelSpec;
	signal?: AbortSignal;
}

export interface Prepared {
	detection: Detection;
	python: PythonEnv;
	applicability: Applicability[];
	advice: Advice[];
	/** The model looked at once before any probe (null without a usable Python). */
	model?: ModelCheck | null;
}

/** Input kind of a model, for recipes that only make sense for images or tokens. */
export function inputKind(model: ModelSpec): 'image' | 'tokens' {
	if (model.inputDtype === 'int64') return 'tokens';
	if (model.name && /bert/i.test(model.name)) return 'tokens';
	if (model.inputShape && model.inputShape.length !== 3) return 'tokens';
	return 'image';
}

export async function prepare(opts: PrepareOptions): Promise<Prepared> {
	const detection = await detectHardware(opts.root ? {root: opts.root} : {});
	const found = await findPython({python: opts.python});
	const python = await inspectPython(found, {signal: opts.signal});
	const recipes = await loadRecipes();
	const model = python.interpreter && python.torch ? await inspectModel(python.interpreter, opts.model, {signal: opts.signal}) : null;
	const kind = model?.ok ? recipeInputKind(model.info) : inputKind(opts.model);
	return {
		detection,
		python,
		applicability: applicability(recipes, detection, python, {inputKind: kind}),
		advice: advisories(recipes, detection, python),
		model,
	};
}

export interface SessionOptions {
	model: ModelSpec;
	budgetSeconds: number;
	maxLatencyMs: number | null;
	/** Only these recipe ids (batch size and the baseline always run). */
	recipes?: string[];
	resume: boolean;
	thresholds?: CheckThresholds;
	minGain?: number;
	signal?: AbortSignal;
	settings?: Settings;
}

/** Time a probe may take beyond its measurement before it is called hung (seconds). */
export function probeTimeoutSeconds(c: Candidate): number {
	let seconds = c.config.budgetSeconds * 2 + 180;
	if (c.config.compile || c.config.quantization) seconds += 600;
	if (c.config.backend !== 'torch') seconds += 300;
	return seconds;
}

export function selectSteps(list: Applicability[], only?: string[]): Applicability[] {
	const applicable = list.filter(a => a.status === 'applicable' && a.recipe.stage !== 'advisory');
	if (!only || only.length === 0) return applicable;
	return applicable.filter(a => only.includes(a.recipe.id) || a.recipe.stage === 'batch');
}

export async function runSession(prepared: Prepared, opts: SessionOptions, emit: (e: SessionEvent) => void): Promise<WalkResult | null> {
	const {detection, python} = prepared;
	if (!python.interpreter || !python.torch) throw new Error(python.problem?.message ?? 'no usable Python with torch');
	const interpreter = python.interpreter;
	const settings = opts.settings;
	const print = fingerprint(detection, python, opts.model);

	emit({type: 'session-start', model: opts.model, budgetSeconds: opts.budgetSeconds, usableCpus: detection.usableCpus});
	const previous = settings?.machine(print.key)?.best;
	if (previous) {
		emit({type: 'note', level: 'info', message: `Last time on this machine (${previous.at.slice(0, 10)}): best ${previous.samplesPerSecond.toFixed(1)} samples/s, ${previous.speedup.toFixed(2)}× the baseline (${previous.recipes.join(', ') || 'baseline'}).`});
	}

	let index = 0;
	const measure: Measure = async (stepId, title, candidate, deadlineSeconds, fresh) => {
		index += 1;
		const key = candidateKey(candidate);
		const cached = opts.resume && !fresh ? settings?.lookup(print.key, key) : undefined;
		emit({type: 'step-start', stepId, title, candidate, budgetSeconds: candidate.config.budgetSeconds, index});
		const startedAt = new Date().toISOString();
		if (cached) {
			const record: ProbeRecord = {stepId, title, candidate, result: cached.result, failure: null, startedAt, durationMs: 0};
			emit({type: 'note', level: 'info', message: `${title}: measured on ${cached.at.slice(0, 10)}, reused (--resume)`});
			emit({type: 'step-end', stepId, record, decision: null});
			return record;
		}
		// Stopped at whichever comes first: the time the walk's budget leaves for this
		// probe, or the limit after which a probe is called hung.
		const hung = probeTimeoutSeconds(candidate);
		const budgetBound = deadlineSeconds !== null && deadlineSeconds < hung;
		const limit = budgetBound ? deadlineSeconds : hung;
		let outcome = await runProbe(candidate.config, {
			python: interpreter,
			env: candidate.env,
			signal: opts.signal,
			timeoutMs: Math.round(limit * 1000),
			onEvent: event => emit({type: 'probe', stepId, event}),
		});
		if (!outcome.ok && outcome.failure.kind === 'timeout' && budgetBound) {
			outcome = {...outcome, failure: {...outcome.failure, code: 'budget', message: `stopped after ${Math.round(limit)} s: the time budget had no more room for it`, hint: 'a larger --budget gives slow steps (compile, int8, other runtimes) time to finish'}};
		}
		const record: ProbeRecord = outcome.ok
			? {stepId, title, candidate, result: outcome.result, failure: null, startedAt, durationMs: outcome.durationMs}
			: {stepId, title, candidate, result: null, failure: outcome.failure, startedAt, durationMs: outcome.durationMs};
		if (outcome.ok) settings?.record(print.key, print.label, key, outcome.result);
		emit({type: 'step-end', stepId, record, decision: null});
		return record;
	};

	const walk = new Walk(
		{
			model: opts.model,
			budgetSeconds: opts.budgetSeconds,
			usableCpuList: detection.usableCpuList,
			usableCpus: detection.usableCpus,
			steps: selectSteps(prepared.applicability, opts.recipes),
			maxLatencyMs: opts.maxLatencyMs,
			thresholds: opts.thresholds ?? defaultCheckThresholds,
			compare: {...defaultCompareOptions, ...(opts.minGain === undefined ? {} : {minGain: opts.minGain})},
			signal: opts.signal,
		},
		measure,
		emit,
	);
	const result = await walk.run();
	if (result && !result.interrupted) {
		settings?.recordBest(print.key, print.label, {
			at: new Date().toISOString(),
			samplesPerSecond: (result.verification?.best ?? result.best.result).samplesPerSecond.median,
			speedup: result.best.speedup,
			recipes: result.best.candidate.recipes,
		});
	}
	if (settings?.writeError) emit({type: 'note', level: 'warning', message: `The history could not be saved (${settings.writeError}); --resume will not find this run.`});
	const error = result || opts.signal?.aborted ? null : 'the baseline probe failed: nothing to compare with';
	emit({type: 'session-end', result, error});
	return result;
}
