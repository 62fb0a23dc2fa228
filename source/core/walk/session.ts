// A tuning session: detect the machine, find Python, decide which recipes apply, run
// the walk with real probes, and emit one typed event stream. Both faces (Ink and
// headless) consume only these events and the returned values.
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {headlineFigures} from '../report/headline.js';
import {BusyMachineError, DEFAULT_QUIET_WAIT_SECONDS, describeContention, measureLoad, pct, waitForQuiet} from '../machine/contention.js';
import type {QuietWait} from '../machine/contention.js';
import {cpuClass} from '../recipes/expected.js';
import {detectHardware} from '../machine/hardware.js';
import {describeRates, limitsNote, matmulKey, matmulRatesFor} from '../machine/limits.js';
import {pairedCompare} from './paired.js';
import {candidateKey, isOnnxModel} from './candidates.js';
import {Walk} from './planner.js';
import type {Measure, PairedMeasure, WalkOptions} from './walk-inputs.js';
import {inspectModel, withTask} from './model-check.js';
import type {ModelCheck} from './model-check.js';
import {runProbe} from './probe-runner.js';
import {findPython} from '../machine/python-env.js';
import {inspectPython} from '../machine/python-survey.js';
import {advisories} from '../recipes/advisories.js';
import {applicability} from '../recipes/applicability.js';
import type {ModelFacts} from '../recipes/applicability.js';
import {loadRecipes} from '../recipes/recipes.js';
import {fingerprint} from '../settings.js';
import type {MatmulRates, Settings} from '../settings.js';
import {defaultCheckThresholds, defaultCompareOptions} from './stats.js';
import type {CheckThresholds} from './stats.js';
import type {Advice, Applicability, Candidate, Detection, ModelSpec, ProbeRecord, PythonEnv, SessionEvent, WalkResult} from '../types.js';

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

/** What recipes are judged against: the model's format and, for an .onnx file, a fixed batch axis. */
export function modelFacts(spec: ModelSpec, check?: ModelCheck | null): ModelFacts {
	return {format: isOnnxModel(spec) ? 'onnx' : 'torch', fixedBatch: check?.ok ? check.info.fixedBatch ?? null : null, task: withTask(spec, check).task ?? 'forward'};
}

export async function prepare(opts: PrepareOptions): Promise<Prepared> {
	const detection = await detectHardware(opts.root ? {root: opts.root} : {});
	const found = await findPython({python: opts.python});
	const python = await inspectPython(found, {signal: opts.signal});
	const recipes = await loadRecipes();
	const model = python.interpreter && python.torch ? await inspectModel(python.interpreter, opts.model, {signal: opts.signal}) : null;
	const kind = model?.ok ? model.info.inputKind : inputKind(opts.model);
	return {
		detection,
		python,
		applicability: applicability(recipes, detection, python, {inputKind: kind, model: modelFacts(opts.model, model)}),
		advice: advisories(recipes, detection, python),
		model,
	};
}

export interface SessionOptions {
	model: ModelSpec;
	budgetSeconds: number;
	/**
	 * When the budget started (ms since the epoch): --auto counts it from the command's start,
	 * so the model check and the matmul rates come out of it and the answer is in on time.
	 * Absent, it starts with the walk (the interactive screen, where a person reads first).
	 */
	startedAt?: number;
	maxLatencyMs: number | null;
	/** A generating model: the largest p99 time to the first token (--max-ttft-ms). */
	maxTtftMs?: number | null;
	/** Only these recipe ids (batch size and the baseline always run). */
	recipes?: string[];
	resume: boolean;
	thresholds?: CheckThresholds;
	minGain?: number;
	signal?: AbortSignal;
	settings?: Settings;
	/** Longest wait for a quiet machine before a contended probe is measured again (default 120 s). */
	quietWaitSeconds?: number;
	/** When the machine stays busy that long: give up (--auto: BusyMachineError) or go on with figures marked contended. */
	onBusy?: 'give-up' | 'go-on';
	/** Tests inject readings; default: the machine's load over one second on the usable CPUs. */
	waitQuiet?: (maxSeconds: number) => Promise<QuietWait>;
}

/** How many times a contended probe is measured again before its figures are kept, marked. */
export const MAX_REMEASURES = 2;

/**
 * A probe whose CPUs went partly to other processes is not trusted: wait for quiet, then
 * measure it again (at most MAX_REMEASURES times). When quiet never comes within the
 * wait, give up (BusyMachineError) or keep the figures, marked contended, as told.
 */
export async function measureUntilUncontended(
	title: string,
	runOnce: () => Promise<ProbeRecord>,
	opts: {waitQuiet: (maxSeconds: number) => Promise<QuietWait>; quietWaitSeconds: number; onBusy: 'give-up' | 'go-on'; emit: (e: SessionEvent) => void; signal?: AbortSignal},
): Promise<ProbeRecord> {
	let record = await runOnce();
	for (let again = 0; ; again++) {
		const contention = record.result?.contention;
		if (!contention?.contended || opts.signal?.aborted) return record;
		if (again >= MAX_REMEASURES) {
			opts.emit({type: 'note', level: 'warning', message: `${title}: still contended after ${again + 1} measurements (${describeContention(contention)}); its figures are kept, marked as contended.`});
			return record;
		}
		opts.emit({type: 'note', level: 'warning', message: `${title}: ${describeContention(contention)} while it measured, so its figures are not trusted. Waiting up to ${Math.round(opts.quietWaitSeconds)} s for the machine to be quiet, then measuring it again.`});
		const wait = await opts.waitQuiet(opts.quietWaitSeconds);
		if (opts.signal?.aborted) return record;
		if (!wait.quiet) {
			const busy = `the machine stayed busy for ${Math.round(wait.waitedSeconds)} s${wait.lastShare === null ? '' : ` (${pct(wait.lastShare)} of the CPUs went to other processes at the last look)`}`;
			if (opts.onBusy === 'give-up') throw new BusyMachineError(`${busy}: no figure measured now could be trusted`, wait.lastShare);
			opts.emit({type: 'note', level: 'warning', message: `${title}: ${busy}; its figures are kept, marked as contended.`});
			return record;
		}
		opts.emit({type: 'note', level: 'info', message: `${title}: the machine is quiet again (after ${Math.round(wait.waitedSeconds)} s); measuring it again.`});
		record = await runOnce();
	}
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
	// Opt-in steps (a speed-only ISA requirement is missing) run only when named.
	if (!only || only.length === 0) return applicable.filter(a => !a.optIn);
	return applicable.filter(a => only.includes(a.recipe.id) || a.recipe.stage === 'batch');
}

/** What the measuring closures share: the session's options, the machine's key, and the walk's folder for conversions. */
interface ProbeContext {
	interpreter: string;
	/** The CPUs a busy machine is watched on. */
	usableCpuList: number[];
	opts: SessionOptions;
	print: ReturnType<typeof fingerprint>;
	emit: (e: SessionEvent) => void;
	/**
	 * The walk's folder for converted models: a configuration probed again (a re-check, the
	 * final verification, a paired comparison) reads its conversion back. Made when the walk
	 * starts, removed when it ends.
	 */
	cacheDir: () => string | undefined;
}

/**
 * One probe for the walk: reused from the history under --resume, else a fresh process
 * stopped at the budget's deadline or when called hung, measured again while the
 * machine was busy, and remembered when its figures can be trusted.
 */
function probeMeasure(ctx: ProbeContext): Measure {
	const {opts, print, emit} = ctx;
	const settings = opts.settings;
	const quietWaitSeconds = opts.quietWaitSeconds ?? DEFAULT_QUIET_WAIT_SECONDS;
	const usable = ctx.usableCpuList;
	const waitQuiet = opts.waitQuiet ?? ((maxSeconds: number) => waitForQuiet({maxSeconds, reading: () => measureLoad(usable, 1, opts.signal), signal: opts.signal}));
	let index = 0;
	return async (stepId, title, candidate, deadlineSeconds, fresh) => {
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
		const runOnce = async (): Promise<ProbeRecord> => {
			const cacheDir = ctx.cacheDir();
			let outcome = await runProbe(candidate.config, {
				python: ctx.interpreter,
				env: candidate.env,
				signal: opts.signal,
				timeoutMs: Math.round(limit * 1000),
				onEvent: event => emit({type: 'probe', stepId, event}),
				...(cacheDir ? {cacheDir} : {}),
			});
			if (!outcome.ok && outcome.failure.kind === 'timeout' && budgetBound) {
				outcome = {...outcome, failure: {...outcome.failure, code: 'budget', message: `stopped after ${Math.round(limit)} s: the time budget had no more room for it`, hint: 'a larger --budget gives slow steps (compile, int8, other runtimes) time to finish'}};
			}
			return outcome.ok
				? {stepId, title, candidate, result: outcome.result, failure: null, startedAt, durationMs: outcome.durationMs}
				: {stepId, title, candidate, result: null, failure: outcome.failure, startedAt, durationMs: outcome.durationMs};
		};
		const record = await measureUntilUncontended(title, runOnce, {waitQuiet, quietWaitSeconds, onBusy: opts.onBusy ?? 'go-on', emit, signal: opts.signal});
		// Contended figures are not remembered: --resume must not reuse them on a quiet day.
		if (record.result && !record.result.contention?.contended) settings?.record(print.key, print.label, key, record.result);
		emit({type: 'step-end', stepId, record, decision: null});
		return record;
	};
}

/** Close calls: both sides in two warm processes, alternating windows in the same minutes. */
function pairedMeasure(ctx: ProbeContext): PairedMeasure {
	const {opts, emit} = ctx;
	return async (_stepId, title, incumbent, candidate, seconds) => {
		emit({type: 'note', level: 'info', message: `${title}: a close call, measured paired (two warm processes, alternating windows, ${Math.round(seconds)} s).`});
		const cacheDir = ctx.cacheDir();
		const outcome = await pairedCompare(incumbent, candidate, {python: ctx.interpreter, seconds, signal: opts.signal, onNote: message => emit({type: 'note', level: 'warning', message}), ...(cacheDir ? {cacheDir} : {})});
		if (outcome && outcome.candidate.contention?.contended) return null;
		return outcome;
	};
}

/**
 * The distance to the limit: this CPU's matmul rates (a generating model: its memory
 * bandwidth, since decode reads every weight per token), measured once per machine and
 * kept in the history. Like the model check, a one-off calibration before the walk's
 * budget starts (a few seconds, said in a note), not a part of the walk.
 */
async function limitsInput(prepared: Prepared, opts: SessionOptions, emit: (e: SessionEvent) => void): Promise<{rates: MatmulRates | null; flopsPerSample: number | null}> {
	const flopsPerSample = prepared.model?.ok ? prepared.model.info.flopsPerSample ?? null : null;
	const started = Date.now();
	const generating = opts.model.task === 'generate';
	const rates = flopsPerSample || generating ? await matmulRatesFor(prepared.detection, prepared.python, opts.settings, {signal: opts.signal, bandwidth: generating}) : null;
	const seconds = (Date.now() - started) / 1000;
	if (seconds > 1) emit({type: 'note', level: 'info', message: `Measured this CPU's matmul rates once (${Math.round(seconds)} s, ${opts.startedAt === undefined ? "before the walk's budget starts" : 'within the budget'}; kept for later runs): ${rates ? describeRates(rates) : 'the measurement failed'}.`});
	return {rates, flopsPerSample};
}

/** What the history keeps of a finished walk: the gains observed per recipe and the best, for the next run. */
function remember(result: WalkResult, prepared: Prepared, settings: Settings | undefined, print: ReturnType<typeof fingerprint>): void {
	if (result.interrupted) return;
	settings?.recordObserved(print.key, print.label, observedFigures(result, prepared.applicability));
	const h = headlineFigures(result);
	settings?.recordBest(print.key, print.label, {at: new Date().toISOString(), samplesPerSecond: h.best.samplesPerSecond.median, speedup: h.speedup, recipes: result.best.candidate.recipes});
}

export async function runSession(prepared: Prepared, opts: SessionOptions, emit: (e: SessionEvent) => void): Promise<WalkResult | null> {
	const {detection, python} = prepared;
	if (!python.interpreter || !python.torch) throw new Error(python.problem?.message ?? 'no usable Python with torch');
	const settings = opts.settings;
	// Every probe measures the same way: the task the model check settled (generate for a language model).
	opts = {...opts, model: withTask(opts.model, prepared.model)};
	const print = fingerprint(detection, python, opts.model);

	emit({type: 'session-start', model: opts.model, budgetSeconds: opts.budgetSeconds, usableCpus: detection.usableCpus});
	sayHistory(settings, print, emit);
	const cache: {dir: string | undefined} = {dir: undefined};
	const ctx: ProbeContext = {interpreter: python.interpreter, usableCpuList: detection.usableCpuList, opts, print, emit, cacheDir: () => cache.dir};
	const {rates, flopsPerSample} = await limitsInput(prepared, opts, emit);
	const walkSeconds = walkSecondsLeft(opts, emit);
	const observed = settings?.machine(print.key)?.observed;
	const walk = new Walk(walkOptions(prepared, opts, walkSeconds, {observed, paired: pairedMeasure(ctx)}), probeMeasure(ctx), emit);
	const result = await walkWithCache(walk, cache, emit);
	if (result && rates && (flopsPerSample || rates.bandwidth)) {
		result.limits = {rates, flopsPerSample};
		// A walk that outran a kept rate shows the rate was measured in a busy moment: forgotten, measured again next run.
		if (limitsNote(result, result.limits)?.rateReadsLow) settings?.forgetMatmulRates(matmulKey(detection, python));
	}
	if (result) remember(result, prepared, settings, print);
	if (settings?.writeError) emit({type: 'note', level: 'warning', message: `The history could not be saved (${settings.writeError}); --resume will not find this run.`});
	const error = result || opts.signal?.aborted ? null : 'the baseline probe failed: nothing to compare with';
	emit({type: 'session-end', result, error});
	return result;
}

/** What the history says before the walk: that it was damaged, and the best found here last time. */
function sayHistory(settings: Settings | undefined, print: ReturnType<typeof fingerprint>, emit: (e: SessionEvent) => void): void {
	const damaged = settings?.damageNote();
	if (damaged) emit({type: 'note', level: 'warning', message: damaged});
	const previous = settings?.machine(print.key)?.best;
	if (previous) {
		emit({type: 'note', level: 'info', message: `Last time on this machine (${previous.at.slice(0, 10)}): best ${previous.samplesPerSecond.toFixed(1)} samples/s, ${previous.speedup.toFixed(2)}× the baseline (${previous.recipes.join(', ') || 'baseline'}).`});
	}
}

/** What the budget has left for the walk once the checks before it are done (said when they took a second or more). */
function walkSecondsLeft(opts: SessionOptions, emit: (e: SessionEvent) => void): number {
	const spent = opts.startedAt === undefined ? 0 : Math.max(0, (Date.now() - opts.startedAt) / 1000);
	const walkSeconds = Math.max(0, opts.budgetSeconds - spent);
	if (spent >= 1) emit({type: 'note', level: 'info', message: `${Math.round(spent)} s of the ${opts.budgetSeconds} s budget went to detection and the model check: the walk has ${Math.round(walkSeconds)} s.`});
	return walkSeconds;
}

/** The walk's options: the session's, the steps chosen, this machine's history, and the paired measure for close calls. */
function walkOptions(prepared: Prepared, opts: SessionOptions, walkSeconds: number, extra: {observed: WalkOptions['observed']; paired: PairedMeasure}): WalkOptions {
	const {detection} = prepared;
	return {
		cpuClass: cpuClass(detection.cpu),
		...(extra.observed ? {observed: extra.observed} : {}),
		paired: extra.paired,
		conversionCache: true,
		model: opts.model,
		budgetSeconds: walkSeconds,
		usableCpuList: detection.usableCpuList,
		usableCpus: detection.usableCpus,
		numaNodes: detection.numaNodes,
		fixedBatch: prepared.model?.ok ? prepared.model.info.fixedBatch ?? null : null,
		steps: selectSteps(prepared.applicability, opts.recipes),
		maxLatencyMs: opts.maxLatencyMs,
		maxTtftMs: opts.maxTtftMs ?? null,
		thresholds: opts.thresholds ?? defaultCheckThresholds,
		compare: {...defaultCompareOptions, ...(opts.minGain === undefined ? {} : {minGain: opts.minGain})},
		signal: opts.signal,
	};
}

/** The walk run with a folder for its conversions, made as it starts and removed when it ends. */
async function walkWithCache(walk: Walk, cache: {dir: string | undefined}, emit: (e: SessionEvent) => void): Promise<WalkResult | null> {
	cache.dir = mkdtempSync(path.join(os.tmpdir(), 'graviton-tune-cache-'));
	try {
		return await walk.run();
	} catch (error) {
		if (error instanceof BusyMachineError) emit({type: 'session-end', result: null, error: error.message});
		throw error;
	} finally {
		rmSync(cache.dir, {recursive: true, force: true});
	}
}

/** Per recipe: the ratio its (last) step measured over the incumbent and what its probe cost; batch steps are left out. */
export function observedFigures(result: WalkResult, list: Applicability[]): Record<string, {ratio: number; costSeconds: number}> {
	const figures: Record<string, {ratio: number; costSeconds: number}> = {};
	for (const d of result.decisions) {
		const stage = list.find(a => a.recipe.id === d.recipeId)?.recipe.stage;
		if (!d.recipeId || stage === 'batch' || d.ratio === null || !(d.ratio > 0) || (d.outcome !== 'kept' && d.outcome !== 'dropped')) continue;
		const probe = result.probes.find(p => p.stepId === d.stepId);
		if (!probe || probe.durationMs <= 0) continue;
		figures[d.recipeId] = {ratio: d.ratio, costSeconds: probe.durationMs / 1000};
	}
	return figures;
}
