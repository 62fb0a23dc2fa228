// Headless tuning (--auto): no TTY, no prompts. Human progress on stderr; with --json
// one JSON object per line on stdout (the session's events), the last being the result.
import process from 'node:process';
import {describeCost, findPrice, verdict} from '../core/report/index.js';
import type {RunCost} from '../core/report/index.js';
import {BusyMachineError, contendedProbes} from '../core/machine/index.js';
import {commitDelivery, outputProblem, planDelivery} from '../core/report/index.js';
import {withTask} from '../core/walk/index.js';
import {rateUnit} from '../core/report/index.js';
import {describeWorkload} from '../core/report/index.js';
import {HardwareError} from '../core/machine/index.js';
import {prepare, runSession} from '../core/walk/index.js';
import type {Prepared} from '../core/walk/index.js';
import {openSettings} from '../core/settings.js';
import type {SessionEvent, WalkResult} from '../core/types.js';
import {exitCodes} from '../options.js';
import type {TuneFlags} from '../options.js';
import {createTextRenderer} from './text.js';

const err = (line: string) => process.stderr.write(`${line}\n`);

function jsonLine(value: unknown): void {
	process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** The last line of --json output: what a provisioning script needs to know. */
export function resultLine(result: WalkResult, files: Record<string, string> | null, cost: RunCost | null = null) {
	const said = verdict(result);
	const h = said.headline;
	const {best, baseline} = h;
	return {
		type: 'result',
		baseline: {samplesPerSecond: baseline.samplesPerSecond.median, config: result.baseline.candidate.config, env: result.baseline.candidate.env},
		best: {
			samplesPerSecond: best.samplesPerSecond.median,
			speedup: h.speedup,
			/** The verified ratio's 95% interval over pairs of fresh processes (null: no interval). */
			speedupInterval: h.interval ? {low: h.interval.low, high: h.interval.high, pairs: h.interval.ratios.length} : null,
			/** Each verification pair's own ratio (fresh processes, alternating). */
			verificationPairs: h.pairs,
			config: result.best.candidate.config,
			env: result.best.candidate.env,
			recipes: result.best.candidate.recipes,
			latencyMs: best.latencyMs,
			/** Generation: samplesPerSecond is decode tokens/s in total and latencyMs the gaps between tokens; these are its token figures (null for a forward pass). */
			generation: best.generation ?? null,
			check: best.check ?? null,
		},
		/** What a figure counts: samples/s (one forward pass per batch) or tokens/s (generation). */
		unit: rateUnit(best),
		verified: h.verified,
		/** Share of this CPU's matmul rate, baseline and winner, and what it implies (source/core/machine/limits.ts); null when unknown. */
		limits: said.limits,
		/** What the winner's compute ran on and whether it kept its name's promise (verdict.ts); null without an account. */
		kernels: said.kernels,
		probes: result.probes.map(p => ({
			stepId: p.stepId,
			title: p.title,
			config: p.candidate.config,
			env: p.candidate.env,
			samplesPerSecond: p.result?.samplesPerSecond ?? null,
			contention: p.result?.contention ?? null,
			latencyMs: p.result?.latencyMs ?? null,
			check: p.result?.check ?? null,
			generation: p.result?.generation ?? null,
			kernels: p.result?.kernels ?? null,
			failure: p.failure ? {code: p.failure.code, message: p.failure.message} : null,
		})),
		decisions: result.decisions,
		cost,
		// Probes that shared their CPUs with other processes even after re-measuring: the
		// decisions resting on them may be wrong (null note when there are none).
		contended: contendedProbes(result).map(p => ({stepId: p.stepId, title: p.title, contention: p.result!.contention})),
		contendedNote: said.contendedNote,
		files,
	};
}

async function prepareOrExplain(tune: TuneFlags, signal: AbortSignal): Promise<Prepared | number> {
	// A typo in --model, --out or --launch-script should not cost a whole walk, nor even the Python check.
	const problem = await outputProblem(tune);
	if (problem) {
		err(`graviton-tune: ${problem}`);
		return exitCodes.usage;
	}
	let prepared: Prepared;
	try {
		prepared = await prepare({python: tune.python, model: tune.model, signal});
	} catch (error) {
		if (error instanceof HardwareError) {
			err(`graviton-tune: ${error.message}`);
			return exitCodes.environment;
		}
		throw error;
	}
	const {python} = prepared;
	if (!python.interpreter || !python.torch) {
		err(`graviton-tune: ${python.problem?.message ?? 'no usable Python with torch'}`);
		err(`  fix: ${python.problem?.hint ?? 'graviton-tune setup'}`);
		return exitCodes.environment;
	}
	if (prepared.model && !prepared.model.ok && prepared.model.code !== 'cancelled') {
		err(`graviton-tune: ${prepared.model.message}`);
		if (prepared.model.hint) err(`  fix: ${prepared.model.hint}`);
		return exitCodes.usage;
	}
	const known = new Set(prepared.applicability.map(a => a.recipe.id));
	const unknown = (tune.recipes ?? []).filter(id => !known.has(id));
	if (unknown.length > 0) {
		err(`graviton-tune: --recipes: unknown recipe id ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
		return exitCodes.usage;
	}
	return prepared;
}


export async function runAuto(tune: TuneFlags, signal: AbortSignal): Promise<number> {
	const startedAt = new Date();
	const prepared = await prepareOrExplain(tune, signal);
	if (typeof prepared === 'number') return prepared;
	describePrepared(tune, prepared);
	const result = await walk(tune, prepared, startedAt, signal);
	if (typeof result === 'number') return result;
	return deliver(tune, prepared, result, startedAt, signal);
}

/** What the walk starts from: the machine, Python, the recipes left out and why, the advice, the model. */
function describePrepared(tune: TuneFlags, prepared: Prepared): void {
	const {detection, python} = prepared;
	err(`Machine: ${detection.cpu.platform ?? detection.cpu.modelName ?? detection.cpu.arch}, ${detection.usableCpus} usable CPUs`);
	err(`Python: ${python.interpreter} (${python.reason}), torch ${python.torch!.version}`);
	for (const a of prepared.applicability) {
		if (a.status !== 'applicable' && a.recipe.stage !== 'advisory') err(`  skip ${a.recipe.id}: ${a.reason}${a.install ? ` — ${a.install}` : ''}`);
	}
	for (const a of prepared.advice) err(`advice: ${a.title}: ${a.message}${a.command ? ` (${a.command})` : ''}`);
	if (prepared.model?.ok) {
		const {info, notes} = prepared.model;
		err(`Model: ${info.label} (${[info.kind, info.modelClass].filter(Boolean).join(', ')}), inputs ${info.inputs.map(i => `${i.name} [${i.shape.join(', ')}] ${i.dtype}`).join(', ')}${info.fixedBatch ? `; the file fixes its batch axis at ${info.fixedBatch}, so it is measured at that batch and batch sizes are not swept` : ''}`);
		err(`  measured ${describeWorkload(withTask(tune.model, prepared.model))}${info.generation ? ' (--task forward: one forward pass instead)' : ''}`);
		for (const note of notes) err(`  ${note}`);
		err(info.samples !== null ? `  real samples: ${info.samples} rows (int8 calibration and the output check use them)` : '  no --samples: the output check and int8 calibration use seeded random inputs');
		if (info.evaluate) err('  evaluate(model) found: lossy steps must keep its score (see --max-accuracy-drop)');
	}
}

/** The walk, its events on stderr (and on stdout with --json): its result, or the exit code when there is none to deliver. */
async function walk(tune: TuneFlags, prepared: Prepared, startedAt: Date, signal: AbortSignal): Promise<WalkResult | number> {
	const text = createTextRenderer(err);
	const emit = (e: SessionEvent) => {
		text(e);
		if (tune.json) jsonLine(e);
	};
	const settings = openSettings();
	if (!settings) err('note: the settings file cannot be opened; this run is not remembered');
	let result: WalkResult | null;
	try {
		result = await runSession(prepared, {
			model: tune.model,
			budgetSeconds: tune.budgetSeconds,
			startedAt: startedAt.getTime(),
			maxLatencyMs: tune.maxLatencyMs,
			maxTtftMs: tune.maxTtftMs ?? null,
			recipes: tune.recipes,
			resume: tune.resume,
			thresholds: {minCosine: tune.minCosine, minTop1: tune.minTop1, maxAccuracyDrop: tune.maxAccuracyDrop},
			signal,
			settings,
			// Nobody is watching: figures from a busy machine would pick a wrong winner.
			quietWaitSeconds: tune.quietWaitSeconds,
			onBusy: 'give-up',
		}, emit);
	} catch (error) {
		if (!(error instanceof BusyMachineError)) throw error;
		err(`graviton-tune: gave up: ${error.message}. No files written.`);
		err('  fix: run it when nothing else uses these CPUs (see `graviton-tune detect` for the current load), or give --quiet-wait more time');
		return exitCodes.busy;
	}

	if (signal.aborted || result?.interrupted) {
		err('graviton-tune: interrupted; no files written.');
		return exitCodes.interrupted;
	}
	if (!result) {
		err('graviton-tune: the baseline probe failed, so nothing could be compared. See the failure above.');
		return exitCodes.probesFailed;
	}
	return result;
}

/** The cost, the files written (and the last --json line); the exit code. */
async function deliver(tune: TuneFlags, prepared: Prepared, result: WalkResult, startedAt: Date, signal: AbortSignal): Promise<number> {
	const cost = verdict(result, findPrice(prepared.detection.cloud, tune.pricePerHour)).cost!;
	err(`Cost: ${describeCost(cost)}`);
	let files: Record<string, string> | null = null;
	try {
		const plan = await planDelivery({result, prepared, tune, startedAt});
		if (plan.patch) {
			err(plan.patch.changed ? `Patching ${plan.patch.path}:\n${plan.patch.diff}` : `${plan.patch.path} is already up to date`);
			for (const note of plan.patch.notes) err(`note: ${note}`);
		}
		const delivered = await commitDelivery(plan);
		files = delivered.files;
		err(`Wrote ${delivered.written.length ? delivered.written.join(', ') : 'nothing new (files unchanged)'}`);
		for (const b of delivered.backups) err(`  backup: ${b}`);
		err(`Deploy: source ${delivered.files.env} in your service, or run ${delivered.files.launch}`);
		err(`Report: ${delivered.files.reportHtml} (open in a browser; report.md and report.json beside it)`);
	} catch (error) {
		err(`graviton-tune: could not write the output files: ${(error as Error).message}`);
		if (tune.json) jsonLine(resultLine(result, null, cost));
		return exitCodes.outputFailed;
	}
	if (tune.json) jsonLine(resultLine(result, files, cost));
	// A signal that came while writing: the writes finished (each file is whole: renamed into place), then we stop.
	if (signal.aborted) {
		err('graviton-tune: interrupted while writing; the files listed above are complete.');
		return exitCodes.interrupted;
	}
	return exitCodes.ok;
}
