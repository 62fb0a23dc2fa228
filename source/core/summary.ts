// How a configuration and a throughput read to a person. One wording for the stderr
// log, the Ink screen, the env-file header and the reports, so they tell one story.
import path from 'node:path';
import {describeOptions} from './contract.js';
import {headlineFigures} from './headline.js';
import type {Candidate, ProbeConfig, WalkResult} from './types.js';

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

/** Changes numerics: bf16 (autocast, fp32 math as bf16) or int8 (any backend). */
export function isLossy(config: ProbeConfig): boolean {
	return config.autocast !== null || config.fp32Precision !== null || config.quantization !== null;
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
	const checkedOn = data === 'samples' ? `; output check on ${rows ?? '?'} real samples` : '';
	if (!lossy) return {...base, text: `exact fp32 numerics (no lossy step)${checkedOn}${scored ? `; ${scored}` : ''}`};
	if (data === 'samples') return {...base, text: `accuracy checked on ${rows ?? '?'} real samples against fp32 eager${scored ? `; ${scored}` : ''}`};
	if (scored) return {...base, text: `accuracy checked with your evaluate(): ${scored.replace('your evaluate() gives ', '')}`};
	return {...base, text: `accuracy not checked on real data: the output check ran on ${rows ?? 'a few'} seeded random inputs (give --samples FILE, or an evaluate(model) in the model file)`};
}
