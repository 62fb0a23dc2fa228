// How a configuration and a throughput read to a person. One wording for the stderr
// log, the Ink screen, the env-file header and the reports, so they tell one story.
import path from 'node:path';
import {describeOptions} from '../recipes/contract.js';
import {headlineFigures} from './headline.js';
import {describeTokenCheck} from '../walk/stats.js';
import type {Candidate, GenerationFigures, ModelSpec, ProbeConfig, ProbeResult, WalkResult} from '../types.js';

/** Resident memory in MiB for a person: "1,950". */
export function formatMiB(bytes: number): string {
	return Math.round(bytes / 2 ** 20).toLocaleString('en-US');
}

/** A probe's peak resident memory (its processes' ru_maxrss) in MiB, or "—" where not measured. */
export function peakRssText(r: ProbeResult | null | undefined): string {
	return r?.peakRssBytes ? formatMiB(r.peakRssBytes) : '—';
}

/** "batch 8, channels_last, bf16 autocast, compile, 2 workers x 1 thread, libtcmalloc.so.4": the contract's words, then the environment. */
export function describeCandidate(candidate: Candidate): string {
	const parts = describeOptions(candidate.config);
	for (const [key, value] of Object.entries(candidate.env)) {
		if (key === 'OMP_NUM_THREADS') continue;
		parts.push(key === 'LD_PRELOAD' ? value.split(':').map((lib) => path.basename(lib)).join('+') : `${key}=${value}`);
	}
	return parts.join(', ');
}

/** "96.3" for throughput; more digits for small figures so they do not read as 0. */
export function formatRate(samplesPerSecond: number): string {
	return samplesPerSecond >= 100 ? samplesPerSecond.toFixed(0) : samplesPerSecond >= 10 ? samplesPerSecond.toFixed(1) : samplesPerSecond.toFixed(2);
}

/**
 * The unit of a result's samplesPerSecond: tokens/s for a generating probe (decode tokens
 * over all sequences), else samples/s. A model spec says it before any result exists.
 */
export function rateUnit(of: ProbeResult | ModelSpec | null | undefined): 'tokens/s' | 'samples/s' {
	if (!of) return 'samples/s';
	return ('generation' in of && of.generation) || ('task' in of && of.task === 'generate') ? 'tokens/s' : 'samples/s';
}

/** What one p99 latency figure is of: a batch, or the gap between two tokens. */
export function latencyWhat(r: ProbeResult): string {
	return r.generation ? 'between tokens' : `per batch of ${r.batchSize}`;
}

/** "first token 33 ms (p99 126), decode 77 tokens/s per sequence (154 in total, 2 sequences), 9.8 ms between tokens (p99 89), 134 tokens/s end to end; prompts of 64 tokens, 32 new". */
export function describeGeneration(g: GenerationFigures): string {
	const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
	return `first token ${ms(g.ttftMs.p50)} ms (p99 ${ms(g.ttftMs.p99)}), decode ${formatRate(g.decodeTokensPerSecond.perSequence)} tokens/s per sequence (${formatRate(g.decodeTokensPerSecond.total)} in total, ${g.sequences} sequence${g.sequences === 1 ? '' : 's'}), ${ms(g.interTokenMs.p50)} ms between tokens (p99 ${ms(g.interTokenMs.p99)}), ${formatRate(g.endToEndTokensPerSecond)} tokens/s end to end; prompts of ${g.promptTokens} tokens, ${g.newTokens} new`;
}

/** Changes numerics: bf16 (autocast, fp32 math as bf16), int8 (any backend) or quantized weights. */
export function isLossy(config: ProbeConfig): boolean {
	return config.autocast !== null || config.fp32Precision !== null || config.quantization !== null || (config.weightQuantization ?? null) !== null;
}

export interface AccuracyNote {
	/** The winner changes numerics. */
	lossy: boolean;
	/** What its output check ran on, and how many rows. */
	data: 'samples' | 'random' | null;
	rows: number | null;
	/** Its evaluate() score, and the fp32 baseline's, when the model has evaluate(). */
	score: number | null;
	baselineScore: number | null;
	/** One sentence; for a lossy winner checked only on random inputs it says "accuracy not checked on real data". */
	text: string;
}

/** How the winner's accuracy was checked, in one sentence for every face and file. */
export function accuracyNote(result: WalkResult): AccuracyNote {
	const best = headlineFigures(result).best;
	const check = best.check ?? result.best.result.check;
	const lossy = isLossy(result.best.candidate.config);
	const data = check?.data ?? null;
	const rows = check?.rows ?? null;
	const score = best.score ?? result.best.result.score ?? null;
	const baselineScore = result.baseline.result.score ?? null;
	const base = {lossy, data, rows, score, baselineScore};
	const scored = score !== null && baselineScore !== null ? `your evaluate() gives ${score.toPrecision(4)} (fp32 eager: ${baselineScore.toPrecision(4)})` : null;
	const checkedOn = (data === 'samples' ? `; output check on ${rows ?? '?'} real samples` : '') + (check?.tokens ? `; ${describeTokenCheck(check.tokens)}` : '');
	if (!lossy) return {...base, text: `exact fp32 numerics (no lossy step)${checkedOn}${scored ? `; ${scored}` : ''}`};
	if (data === 'samples') return {...base, text: `accuracy checked on ${rows ?? '?'} real samples against fp32 eager${scored ? `; ${scored}` : ''}`};
	if (scored) return {...base, text: `accuracy checked with your evaluate(): ${scored.replace('your evaluate() gives ', '')}`};
	const tokens = check?.tokens ? ` (${describeTokenCheck(check.tokens)})` : '';
	return {...base, text: `accuracy not checked on real data: the output check ran on ${rows ?? 'a few'} seeded random inputs${tokens} (give --samples FILE, or an evaluate(model) in the model file)`};
}
