// The distance to the limit: what share of this CPU's large-matmul rate (in the precision
// a configuration computes in) the baseline and the winner reach, and what that implies.
// The one place the figure is computed; every face (Ink summary, headless text, env file,
// report.md/html/json) reads limitsNote(). The rates come from
// probes/graviton_tune_probe/limits.py, measured once per machine and kept in the history;
// the model's operations per sample come from the model check (torch's flop counter).
import {createHash} from 'node:crypto';
import {headlineFigures} from '../report/headline.js';
import type {HeadlineSource} from '../report/headline.js';
import {buildProbeEnv} from '../walk/probe-runner.js';
import {runInGroup} from '../walk/process-group.js';
import type {MatmulRates, Settings} from '../settings.js';
import type {Detection, ProbeConfig, ProbeResult, PythonEnv} from '../types.js';

/** The precisions whose matmul rate is measured, in the order they are described. */
export const PRECISIONS = ['fp32', 'bf16', 'int8'] as const;
export type Precision = typeof PRECISIONS[number];

/** What the limit figure rests on: the machine's rates and the model's operations per sample. */
export interface LimitsInput {
	rates: MatmulRates;
	/** Null for a generating model: its limit is the bandwidth (rates.bandwidth ÷ the bytes a decode step reads). */
	flopsPerSample: number | null;
}

export interface LimitShare {
	/** What bounds it: the matmul rate (a forward pass), or the memory bandwidth (a decode step). Absent: matmul. */
	bound?: 'matmul' | 'bandwidth';
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

/**
 * A decode step's share of the bandwidth limit: it reads the weights once for all sequences and
 * each sequence's KV cache, so the limit in tokens/s is sequences × bandwidth ÷ (weights +
 * sequences × KV per sequence). Null without the bytes (a probe from before they were counted).
 */
export function bandwidthShare(result: ProbeResult, config: Pick<ProbeConfig, 'quantization' | 'autocast' | 'fp32Precision'>, bandwidth: number): LimitShare | null {
	const g = result.generation;
	const bytes = g?.bytesPerStep;
	if (!g || !bytes || !(bandwidth > 0) || !(bytes.weights > 0)) return null;
	const perStep = bytes.weights + g.sequences * (bytes.kvPerSequence ?? 0);
	const limit = (g.sequences * bandwidth * 1e9) / perStep;
	return {bound: 'bandwidth', precision: precisionOf(config), rate: bandwidth, ratePrecision: precisionOf(config), share: result.samplesPerSecond.median / limit};
}

function bandwidthLine(label: string, s: LimitShare, result: ProbeResult): string {
	const bytes = result.generation!.bytesPerStep!;
	const mb = (n: number) => (n / 1e6 >= 10 ? (n / 1e6).toFixed(0) : (n / 1e6).toFixed(1));
	const kv = bytes.kvPerSequence === null ? ', KV cache not counted' : ` + ${result.generation!.sequences} × ${mb(bytes.kvPerSequence)} MB of KV cache`;
	return `${label}: ${pct(s.share)} of this machine's memory-bandwidth limit for decode (${s.rate.toFixed(1)} GB/s ÷ ${mb(bytes.weights)} MB of weights${kv} per step)`;
}

/**
 * The prefill against the matmul rate: the Linear layers' operations for every prompt token of
 * every sequence, over the time to the first token (p50). Null without the count or a rate.
 */
export function prefillLine(result: ProbeResult, config: Pick<ProbeConfig, 'quantization' | 'autocast' | 'fp32Precision'>, rates: MatmulRates): string | null {
	const g = result.generation;
	const perToken = g?.bytesPerStep?.flopsPerToken;
	if (!g || !perToken || !(g.ttftMs.p50 > 0)) return null;
	// One prefill of every sequence's prompt per time to the first token.
	const share = limitShare(1000 / g.ttftMs.p50, g.promptTokens * g.sequences * perToken, rates, precisionOf(config));
	return share ? `prefill (the winner's first token): ${pct(share.share)} of this CPU's ${share.ratePrecision} matmul rate (${rateText(share.rate, share.ratePrecision)})` : null;
}

function generationNote(h: ReturnType<typeof headlineFigures>, run: {baseline: {candidate: {config: ProbeConfig}}; best: {candidate: {config: ProbeConfig}}}, rates: MatmulRates): LimitsNote | null {
	const bandwidth = rates.bandwidth ?? 0;
	const baseline = bandwidthShare(h.baseline, run.baseline.candidate.config, bandwidth);
	const best = bandwidthShare(h.best, run.best.candidate.config, bandwidth);
	if (!baseline || !best) return null;
	const prefill = prefillLine(h.best, run.best.candidate.config, rates);
	const implied = best.share >= 0.6
		? 'close to the bandwidth limit: fewer bytes per token (int8 or int4 weights) or more sequences per step are what is left'
		: best.share < 0.25
			? 'far from the bandwidth limit: the time goes to per-step overhead, not to reading the weights (compile the step, or generate more sequences at once)'
			: 'half-way to the bandwidth limit: more sequences per step or fewer bytes per weight may still help';
	return {baseline, best, implication: implied, rateReadsLow: false, lines: [bandwidthLine('baseline', baseline, h.baseline), bandwidthLine('best', best, h.best), `so: ${implied}`, ...(prefill ? [prefill] : [])]};
}

/** The note for a finished walk (or a report.json), from the headline figures; null without rates or a count. */
export function limitsNote(run: HeadlineSource & {baseline: {candidate: {config: ProbeConfig}}; best: {candidate: {config: ProbeConfig}}}, input: LimitsInput | null | undefined): LimitsNote | null {
	if (!input) return null;
	const h = headlineFigures(run);
	if (h.best.generation) return input.rates.bandwidth ? generationNote(h, run, input.rates) : null;
	if (!input.flopsPerSample) return null;
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
	const matmul = PRECISIONS.map(p => `${p} ${rates[p] ? rateText(rates[p]!, p) : 'not native here'}`).join(', ');
	return rates.bandwidth ? `${matmul}; memory bandwidth ${rates.bandwidth.toFixed(1)} GB/s` : matmul;
}

/** A key for this machine's rates: the CPU, its flags, the usable CPUs and torch, not the model. */
export function matmulKey(detection: Detection, python: PythonEnv): string {
	const parts = [detection.cpu.arch, detection.cpu.modelName ?? detection.cpu.core, [...detection.cpu.features].sort().join(' '), detection.usableCpus, python.torch?.version ?? null];
	return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}

/** Runs limits.py once: a few seconds per precision on all usable threads. Null when it fails. */
export async function measureMatmulRates(python: string, threads: number, options: {signal?: AbortSignal; seconds?: number; bandwidth?: boolean} = {}): Promise<MatmulRates | null> {
	let line: Record<string, unknown> | null = null;
	let bandwidth: number | undefined;
	const config = {model: {}, threadsPerWorker: threads} as ProbeConfig;
	await runInGroup(python, ['-m', 'graviton_tune_probe.limits', '--threads', String(threads), '--seconds', String(options.seconds ?? 2), ...(options.bandwidth ? ['--bandwidth'] : [])], {
		env: buildProbeEnv(config),
		signal: options.signal,
		timeoutMs: 180_000,
		onStdoutLine: text => {
			try {
				const value = JSON.parse(text) as Record<string, unknown>;
				if (value['type'] === 'matmul') line = value;
				if (value['type'] === 'bandwidth' && typeof value['gbPerSecond'] === 'number' && value['gbPerSecond'] > 0) bandwidth = value['gbPerSecond'];
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
	if (bandwidth !== undefined) rates.bandwidth = bandwidth;
	return rates.fp32 ? rates : null;
}

/** This machine's rates: from the history, else measured now and kept there. */
export async function matmulRatesFor(detection: Detection, python: PythonEnv, settings: Settings | undefined, options: {signal?: AbortSignal; bandwidth?: boolean} = {}): Promise<MatmulRates | null> {
	if (!python.interpreter || !python.torch) return null;
	const key = matmulKey(detection, python);
	const known = settings?.matmulRates(key);
	// Kept rates without the bandwidth a generating model needs are measured again, with it.
	if (known && (!options.bandwidth || known.bandwidth)) return known;
	const rates = await measureMatmulRates(python.interpreter, Math.max(1, detection.usableCpus), {seconds: 0.5, ...options});
	if (rates) settings?.recordMatmulRates(key, `${detection.cpu.modelName ?? detection.cpu.arch}, ${detection.usableCpus} CPUs, torch ${python.torch.version}: matmul rates`, rates);
	return rates;
}
