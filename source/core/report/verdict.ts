// The verdict of a finished walk: everything a face says about the result, computed once.
// The headline (the verified pairs when there are some, with the ratio's interval; never
// the walk's winner against the verified ratio), the accuracy, the cost where the price is known, the distance to the
// CPU's limits, and the busy-machine warning. The summary (Ink), the headless text, the
// --json line and report.json/md/html render this; none of them computes its own.
import {contendedSummary} from '../machine/contention.js';
import {limitsNote} from '../machine/limits.js';
import type {LimitsNote} from '../machine/limits.js';
import {runCost} from './cost.js';
import type {PriceLookup, RunCost} from './cost.js';
import {headlineFigures} from './headline.js';
import type {Headline} from './headline.js';
import {accuracyNote} from './summary.js';
import type {AccuracyNote} from './summary.js';
import type {WalkResult} from '../types.js';

export interface Verdict {
	headline: Headline;
	accuracy: AccuracyNote;
	/** Null when no price was looked up (a face that shows no cost). */
	cost: RunCost | null;
	limits: LimitsNote | null;
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
		contendedNote: contendedSummary(result),
	};
}
