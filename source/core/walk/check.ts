// `graviton-tune check`: is the deployed configuration still the winner, on this machine,
// with this stack? A torch, ONNX Runtime or OpenVINO upgrade, a new image or another
// instance type can turn a winner into a loser. The check reads the folder a walk wrote
// (report.json: the baseline, the recorded ratio with its interval, the winner's kernels
// and output check; graviton-tune.env: the configuration as deployed, edits included),
// measures baseline and deployed configuration in alternating pairs of fresh processes,
// and passes when the deployed one still wins within the recorded interval, ran the same
// kernels, and gives the same outputs; otherwise it says which of these failed, and how.
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import {GravitonTuneError} from '../errors.js';
import {OPTIONS, fitToBackend, optionKeys} from '../recipes/contract.js';
import {parseOptionText} from '../recipes/option-flags.js';
import type {OptionSpec} from '../recipes/contract.js';
import {loadReport} from '../report/compare.js';
import {kernelSummary} from '../report/kernels.js';
import {times} from '../report/headline.js';
import {ENV_FILE_NAME} from '../report/outputs/names.js';
import type {Report} from '../report/outputs/report.js';
import {VERIFY_PAIRS} from './budget.js';
import {runProbe} from './probe-runner.js';
import {pairedInterval} from './stats.js';
import type {Candidate, KernelAccount, ProbeConfig, ProbeEvent, ProbeResult} from '../types.js';

/** Pairs of fresh processes the check measures (as the walk's final verification). */
export const CHECK_PAIRS = 3;
/** Outputs drifted: the deployed configuration's cosine fell by more than this from the recorded one. */
export const COSINE_DRIFT = 0.01;
/**
 * Without a recorded interval (a walk whose verification had room for fewer than three pairs), the
 * deployed ratio may fall this far below the recorded one: a single pair of fresh
 * processes varies by up to ±20% on a shared host, so it cannot settle a ratio closer.
 */
export const RATIO_TOLERANCE = 0.25;

export class CheckInputError extends GravitonTuneError {
	constructor(message: string, fix: string) {
		super('usage', message, fix);
	}
}

/** The configuration the env file deploys: its GT_* lines as options (a line left out is the runtime helper's default), the other lines as the environment. */
export function deployedFromEnvFile(text: string, report: Report): Candidate {
	const byEnv = new Map<string, [string, OptionSpec]>();
	for (const key of optionKeys) {
		const spec = OPTIONS[key] as OptionSpec;
		if (spec.env) byEnv.set(spec.env, [key, spec]);
	}
	const options: Record<string, unknown> = {};
	const env: Record<string, string> = {};
	for (const raw of text.split('\n')) {
		const line = raw.trim();
		if (!line || line.startsWith('#')) continue;
		const eq = line.indexOf('=');
		if (eq <= 0) throw new CheckInputError(`${ENV_FILE_NAME}: "${line}" is not a KEY=VALUE line`, 'restore the file graviton-tune wrote, or run the tuning again');
		const name = line.slice(0, eq);
		const value = line.slice(eq + 1);
		const option = byEnv.get(name);
		if (option) options[option[0]] = parseOptionText(option[1], value, `${ENV_FILE_NAME}: ${name}`);
		else if (name !== 'GT_MODEL') env[name] = value;
	}
	// Deployment options the file leaves out take the runtime helper's defaults, not the walk's values.
	const config: Record<string, unknown> = {...report.best.config};
	for (const [, [key, spec]] of byEnv) if (!(key in options) && spec.level !== 'probe') delete config[key];
	const defaults = Object.fromEntries(optionKeys.filter(k => (OPTIONS[k] as OptionSpec).env && !(OPTIONS[k] as OptionSpec).optional).map(k => [k, (OPTIONS[k] as OptionSpec).default]));
	return {config: fitToBackend({...defaults, ...config, ...options} as ProbeConfig), env, recipes: report.best.recipes};
}

export interface CheckOptions {
	outDir: string;
	python: string;
	pairs?: number;
	signal?: AbortSignal;
	/** Each probe as it starts ("baseline" or "deployed", pair number from 1). */
	onProbe?: (side: 'baseline' | 'deployed', pair: number) => void;
	onEvent?: (event: ProbeEvent) => void;
}

export interface CheckResult {
	ok: boolean;
	/** Why it failed, in words (empty when it passed). */
	reasons: string[];
	measured: {ratio: number; low: number; high: number; ratios: number[]};
	recorded: {ratio: number; low: number | null; high: number | null};
	/** The kernel accounts, recorded and now (null where either has none). */
	kernels: {recorded: string | null; now: string | null; changed: boolean};
	check: {recorded: number | null; now: number | null};
	deployed: Candidate;
}

function signature(account: KernelAccount | undefined): string[] | null {
	if (!account) return null;
	return [...new Set(account.groups.map(g => `${g.family} ${g.precision} ${g.kernel}`))].sort();
}

/** The verdict on the measured pairs against the record (pure). */
export function judge(report: Report, measured: CheckResult['measured'], now: ProbeResult): Omit<CheckResult, 'deployed' | 'measured'> {
	const v = report.verification;
	// An interval from fewer than three pairs says little about the spread (a t-interval of two pairs is nine times their gap): the headline does not quote one, nor does the check use one.
	const interval = v?.interval && v.interval.ratios.length >= VERIFY_PAIRS ? v.interval : null;
	const recorded = {ratio: v?.speedup ?? report.best.speedup, low: interval?.low ?? null, high: interval?.high ?? null};
	const reasons: string[] = [];
	const floor = recorded.low ?? recorded.ratio * (1 - RATIO_TOLERANCE);
	const said = `${times(measured.ratio)} [${times(measured.low)}–${times(measured.high)}] the baseline`;
	const was = `${times(recorded.ratio)}${recorded.low !== null ? ` [${times(recorded.low)}–${times(recorded.high!)}]` : ` (fewer than ${VERIFY_PAIRS} pairs, no interval: ${Math.round(RATIO_TOLERANCE * 100)}% allowed)`}`;
	if (measured.high < 1) reasons.push(`no longer faster than the baseline: ${said} (recorded ${was})`);
	else if (measured.high < floor) reasons.push(`slower by ${Math.round((1 - measured.ratio / recorded.ratio) * 100)}%: ${said}, below the recorded ${was}`);
	const before = v?.best.kernels ?? report.best.result.kernels;
	const [a, b] = [signature(before), signature(now.kernels)];
	const changed = a !== null && b !== null && a.join('|') !== b.join('|');
	if (changed) reasons.push(`kernels changed from "${kernelSummary(before!)}" to "${kernelSummary(now.kernels!)}"`);
	const cosine = {recorded: report.best.result.check?.cosine ?? null, now: now.check?.cosine ?? null};
	if (cosine.recorded !== null && cosine.now !== null && cosine.now < cosine.recorded - COSINE_DRIFT) {
		reasons.push(`outputs drifted: cosine ${cosine.now.toFixed(4)} against fp32, recorded ${cosine.recorded.toFixed(4)}`);
	}
	return {ok: reasons.length === 0, reasons, recorded, kernels: {recorded: before ? kernelSummary(before) : null, now: now.kernels ? kernelSummary(now.kernels) : null, changed}, check: cosine};
}

/** Baseline and the deployed configuration in alternating pairs of fresh processes, judged against report.json. */
export async function checkDeployed(opts: CheckOptions): Promise<CheckResult> {
	const loaded = await loadReport(opts.outDir);
	if (!loaded.ok) throw new CheckInputError(`${opts.outDir}: ${loaded.reason}`, 'give --out the folder a finished graviton-tune run wrote (report.json and graviton-tune.env)');
	const report = loaded.report;
	const envPath = path.join(path.dirname(loaded.file), ENV_FILE_NAME);
	let text: string;
	try {
		text = await readFile(envPath, 'utf8');
	} catch {
		throw new CheckInputError(`no ${ENV_FILE_NAME} beside ${loaded.file}`, 'the check measures the env file as deployed: put it back (or run the tuning again)');
	}
	const deployed = deployedFromEnvFile(text, report);
	const baseline: Candidate = {config: report.baseline.config, env: report.baseline.env, recipes: []};
	const ratios: number[] = [];
	let now: ProbeResult | null = null;
	const pairs = opts.pairs ?? CHECK_PAIRS;
	for (let pair = 1; pair <= pairs; pair++) {
		// Alternating which side goes first, so a steady drift of the machine cancels.
		const order = pair % 2 === 1 ? (['baseline', 'deployed'] as const) : (['deployed', 'baseline'] as const);
		const figures: Partial<Record<'baseline' | 'deployed', ProbeResult>> = {};
		for (const side of order) {
			opts.onProbe?.(side, pair);
			const candidate = side === 'baseline' ? baseline : deployed;
			const outcome = await runProbe(candidate.config, {python: opts.python, env: candidate.env, signal: opts.signal, onEvent: opts.onEvent});
			if (!outcome.ok) {
				if (outcome.failure.kind === 'cancelled') throw new GravitonTuneError('interrupted', 'check interrupted', 'run it again');
				throw new GravitonTuneError('probes-failed', `the ${side} configuration failed here: ${outcome.failure.message}`, outcome.failure.hint ?? 'run graviton-tune probe with the same settings to see why');
			}
			figures[side] = outcome.result;
		}
		ratios.push(figures.deployed!.samplesPerSecond.median / figures.baseline!.samplesPerSecond.median);
		now = figures.deployed!;
	}
	const interval = pairedInterval(ratios);
	const measured = {ratio: interval.ratio, low: interval.low, high: interval.high, ratios};
	return {...judge(report, measured, now!), measured, deployed};
}
