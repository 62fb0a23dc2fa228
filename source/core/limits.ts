// The distance to the limit: what share of this CPU's large-matmul rate (in the precision
// a configuration computes in) the baseline and the winner reach, and what that implies.
// The one place the figure is computed; every face (Ink summary, headless text, env file,
// report.md/html/json) reads limitsNote(). The rates come from
// probes/graviton_tune_probe/limits.py, measured once per machine and kept in the history;
// the model's operations per sample come from the model check (torch's flop counter).
import {createHash} from 'node:crypto';
import {headlineFigures} from './headline.js';
import type {HeadlineSource} from './headline.js';
import {buildProbeEnv} from './probe-runner.js';
import {runInGroup} from './process-group.js';
import type {MatmulRates, Settings} from './settings.js';
import type {Detection, ProbeConfig, PythonEnv} from './types.js';

/** The precisions whose matmul rate is measured, in the order they are described. */
export const PRECISIONS = ['fp32', 'bf16', 'int8'] as const;
export type Precision = typeof PRECISIONS[number];

/** What the limit figure rests on: the machine's rates and the model's operations per sample. */
export interface LimitsInput {
	rates: MatmulRates;
	flopsPerSample: number;
}

export interface LimitShare {
	precision: Precision;
	/** The rate compared with (GFLOP/s; int8: GOP/s). */
	rate: number;
	/** Which precision's rate that is (int8 without a fast kernel here is compared with fp32's). */
	ratePrecision: Precision;
	/** Achieved operations per second / the rate. */
	share: number;
}

export interface LimitsNote {
	baseline: LimitShare;
	best: LimitShare;
	/** "further gains need int8", "memory bound: batch or fuse", … */
	implication: string;
	/**
	 * A figure beyond the rate of its own precision: the rate kept for this machine reads low
	 * (measured in a busy moment), so the session forgets it and the next run measures it again.
	 */
	rateReadsLow: boolean;
	/** One line each for the baseline and the winner, then the implication: every face prints these. */
	lines: string[];
}

/** The precision a configuration's matmuls run in. */
export function precisionOf(config: Pick<ProbeConfig, 'quantization' | 'autocast' | 'fp32Precision'>): Precision {
	if (config.quantization === 'int8') return 'int8';
	if (config.autocast === 'bf16' || config.fp32Precision === 'bf16') return 'bf16';
	return 'fp32';
}

export function limitShare(samplesPerSecond: number, flopsPerSample: number, rates: MatmulRates, precision: Precision): LimitShare | null {
	const fp32 = rates.fp32 ?? null;
	let ratePrecision: Precision = precision;
	let rate = rates[precision] ?? null;
	// No native rate in this precision (bf16 emulated, int8 without fast kernels): the
	// fastest rate this CPU has is the honest ceiling.
	if (rate === null || (fp32 !== null && rate < fp32)) {
		rate = fp32;
		ratePrecision = 'fp32';
	}
	if (rate === null || !(rate > 0) || !(flopsPerSample > 0)) return null;
	return {precision, rate, ratePrecision, share: (samplesPerSecond * flopsPerSample) / (rate * 1e9)};
}

/** The precision with the highest rate here, beyond the given one, when it is markedly faster. */
function fasterPrecision(rates: MatmulRates, than: number): Precision | null {
	const options = (['int8', 'bf16'] as const).filter(p => (rates[p] ?? 0) > 1.3 * than);
	return options.sort((a, b) => (rates[b] ?? 0) - (rates[a] ?? 0))[0] ?? null;
}

export function implication(best: LimitShare, rates: MatmulRates): string {
	const faster = fasterPrecision(rates, best.rate);
	// Beyond a ceiling borrowed from another precision: this precision's kernels (a
	// runtime's own, say) outrun what torch's matmul in it measured, so its ceiling is unknown.
	if (best.share > 1 && best.ratePrecision !== best.precision) {
		return `beyond this CPU's ${best.ratePrecision} matmul rate: the ${best.precision} kernels used outrun torch's ${best.precision} matmul here (${rates[best.precision] ? rateText(rates[best.precision]!, best.precision) : 'not measured'}), so the ${best.precision} ceiling is not known on this machine`;
	}
	if (best.share >= 0.6) {
		return faster ? `close to this CPU's ${best.ratePrecision} matmul rate: further gains need ${faster}` : `close to this CPU's ${best.ratePrecision} matmul rate, and it has no faster precision: little more to gain on this machine`;
	}
	if (best.share < 0.25) {
		return `far from the matmul rate: the time goes to memory traffic and per-operator overhead, not arithmetic (memory bound: batch or fuse${faster ? `, then ${faster}` : ''})`;
	}
	return faster ? `half-way to the ${best.ratePrecision} matmul rate: batching or fusing may still help, and ${faster} has a higher ceiling here` : `half-way to the ${best.ratePrecision} matmul rate: batching or fusing may still help`;
}

/** A matmul rate in its own unit: GOP/s for int8, GFLOP/s otherwise. */
export function rateText(rate: number, precision: Precision): string {
	return `${rate.toFixed(0)} G${precision === 'int8' ? 'OP' : 'FLOP'}/s`;
}

const pct = (share: number) => `${share >= 0.095 ? Math.round(share * 100) : (share * 100).toFixed(1)}%`;

function shareLine(label: string, s: LimitShare): string {
	const of = s.ratePrecision === s.precision ? `this CPU's ${s.precision} matmul rate` : `this CPU's ${s.ratePrecision} matmul rate (${s.precision} has no faster matmul here)`;
	return `${label}: ${pct(s.share)} of ${of} (${rateText(s.rate, s.ratePrecision)})`;
}

/** The note for a finished walk (or a report.json), from the headline figures; null without rates or a count. */
export function limitsNote(run: HeadlineSource & {baseline: {candidate: {config: ProbeConfig}}; best: {candidate: {config: ProbeConfig}}}, input: LimitsInput | null | undefined): LimitsNote | null {
	if (!input) return null;
	const h = headlineFigures(run);
	const baseline = limitShare(h.baseline.samplesPerSecond.median, input.flopsPerSample, input.rates, precisionOf(run.baseline.candidate.config));
	const best = limitShare(h.best.samplesPerSecond.median, input.flopsPerSample, input.rates, precisionOf(run.best.candidate.config));
	if (!baseline || !best) return null;
	const outran = [...new Set([baseline, best].filter(s => s.share > 1 && s.ratePrecision === s.precision).map(s => s.precision))];
	const implied = outran.length
		? `not known: this walk outran the ${outran.join(' and ')} matmul rate${outran.length > 1 ? 's' : ''} kept for this machine, so ${outran.length > 1 ? 'they were' : 'that rate was'} measured in a busy moment and read${outran.length > 1 ? '' : 's'} low; measured again on the next run`
		: implication(best, input.rates);
	return {baseline, best, implication: implied, rateReadsLow: outran.length > 0, lines: [shareLine('baseline', baseline), shareLine('best', best), `so: ${implied}`]};
}

export function describeRates(rates: MatmulRates): string {
	return PRECISIONS.map(p => `${p} ${rates[p] ? rateText(rates[p]!, p) : 'not native here'}`).join(', ');
}

/** A key for this machine's rates: the CPU, its flags, the usable CPUs and torch, not the model. */
export function matmulKey(detection: Detection, python: PythonEnv): string {
	const parts = [detection.cpu.arch, detection.cpu.modelName ?? detection.cpu.core, [...detection.cpu.features].sort().join(' '), detection.usableCpus, python.torch?.version ?? null];
	return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** Runs limits.py once: a few seconds per precision on all usable threads. Null when it fails. */
export async function measureMatmulRates(python: string, threads: number, options: {signal?: AbortSignal; seconds?: number} = {}): Promise<MatmulRates | null> {
	let line: Record<string, unknown> | null = null;
	const config = {threadsPerWorker: threads} as ProbeConfig;
	await runInGroup(python, ['-m', 'graviton_tune_probe.limits', '--threads', String(threads), '--seconds', String(options.seconds ?? 2)], {
		env: buildProbeEnv(config),
		signal: options.signal,
		timeoutMs: 180_000,
		onStdoutLine: text => {
			try {
				const value = JSON.parse(text) as Record<string, unknown>;
				if (value['type'] === 'matmul') line = value;
			} catch {
				// not ours
			}
		},
	});
	if (!line) return null;
	const got = line as Record<string, unknown>;
	const num = (v: unknown) => (typeof v === 'number' && v > 0 ? v : undefined);
	const rates: MatmulRates = {at: new Date().toISOString(), threads: Number(got['threads']) || threads};
	for (const p of PRECISIONS) {
		const v = num(got[p]);
		if (v !== undefined) rates[p] = v;
	}
	return rates.fp32 ? rates : null;
}

/** This machine's rates: from the history, else measured now and kept there. */
export async function matmulRatesFor(detection: Detection, python: PythonEnv, settings: Settings | undefined, options: {signal?: AbortSignal} = {}): Promise<MatmulRates | null> {
	if (!python.interpreter || !python.torch) return null;
	const key = matmulKey(detection, python);
	const known = settings?.matmulRates(key);
	if (known) return known;
	const rates = await measureMatmulRates(python.interpreter, Math.max(1, detection.usableCpus), {seconds: 0.5, ...options});
	if (rates) settings?.recordMatmulRates(key, `${detection.cpu.modelName ?? detection.cpu.arch}, ${detection.usableCpus} CPUs, torch ${python.torch.version}: matmul rates`, rates);
	return rates;
}
