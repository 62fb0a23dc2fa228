// The verdict of a finished walk: everything a face says about the result, computed once.
// The headline (the verified pairs when there are some, with the ratio's interval; never
// the walk's winner against the verified ratio), the accuracy, the cost where the price is known, the distance to the
// CPU's limits, the kernels the winner ran (and whether they are what its name promises), and the busy-machine warning. The summary (Ink), the headless text, the
// --json line and report.json/md/html render this; none of them computes its own.
import {contendedSummary} from '../machine/contention.js';
import {limitsNote} from '../machine/limits.js';
import type {LimitsNote} from '../machine/limits.js';
import {promisedPrecisions} from '../recipes/contract.js';
import {runCost} from './cost.js';
import type {PriceLookup, RunCost} from './cost.js';
import {headlineFigures} from './headline.js';
import type {Headline} from './headline.js';
import {firstShortfall, kernelSummary} from './kernels.js';
import type {Shortfall} from './kernels.js';
import {accuracyNote} from './summary.js';
import type {AccuracyNote} from './summary.js';
import type {KernelAccount, WalkResult} from '../types.js';

/** What the winner's compute ran on, from its probe's kernel account. */
export interface KernelsNote {
	/** kernelSummary(): per family, precision and kernel. */
	text: string;
	/** Where it came from and how it was collected. */
	source: string;
	/** The winner's name promises a precision its kernels did not mostly run in. */
	shortfall: Shortfall | null;
	warnings: string[];
}

export interface Verdict {
	headline: Headline;
	accuracy: AccuracyNote;
	/** Null when no price was looked up (a face that shows no cost). */
	cost: RunCost | null;
	limits: LimitsNote | null;
	/** Null where the winner's probe carried no kernel account (reports from before, a runtime without one). */
	kernels: KernelsNote | null;
	/** The busy-machine warning, when probes shared their CPUs. */
	contendedNote: string | null;
}

/** What a finished walk says; `price`: the instance's price, looked up (cost.ts findPrice), for the cost. */
export function verdict(result: WalkResult, price: PriceLookup | null = null): Verdict {
	const headline = headlineFigures(result);
	return {
		headline,
		accuracy: accuracyNote(result),
		cost: price ? runCost(headline, price) : null,
		limits: limitsNote(result, result.limits),
		kernels: kernelsNote(headline.best.kernels ?? result.best.result.kernels, result),
		contendedNote: contendedSummary(result),
	};
}

/** "convolutions: 20 of 20 int8 (brg_conv_fwd:avx512_core_vnni) — below its name: 38% of compute ran int8, the rest fp16". */
export function describeKernels(note: KernelsNote): string {
	return `${note.text}${note.shortfall ? ` — below its name: ${note.shortfall.words}` : ''}`;
}

function kernelsNote(account: KernelAccount | undefined, result: WalkResult): KernelsNote | null {
	if (!account) return null;
	const promised = promisedPrecisions(result.baseline.candidate.config, result.best.candidate.config);
	return {text: kernelSummary(account), source: `${account.source}, ${account.pass}`, shortfall: firstShortfall(account, promised), warnings: account.warnings};
}
