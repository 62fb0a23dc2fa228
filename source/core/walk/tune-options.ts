// What a tuning run was asked for (flags, or the interactive screens' choices): the
// shape the CLI parses into and the session, delivery and faces read. Declared in core
// so that core never imports the CLI.
import type {ModelSpec} from '../types.js';

export interface TuneOptions {
	model: ModelSpec;
	budgetSeconds: number;
	out: string;
	json: boolean;
	maxLatencyMs: number | null;
	/** A generating model: the largest p99 time to the first token, in ms (--max-ttft-ms). */
	maxTtftMs?: number | null;
	recipes?: string[];
	python?: string;
	app: string[];
	launchScript?: string;
	resume: boolean;
	minCosine: number;
	minTop1: number;
	/** Largest relative drop of evaluate()'s score from fp32 eager for a lossy step (0.01 = 1%). */
	maxAccuracyDrop: number;
	yes: boolean;
	/** The instance's hourly price, for cost per million inferences; null: look it up by instance type. */
	pricePerHour: number | null;
	/** Longest wait for a quiet machine before a contended probe is measured again. */
	quietWaitSeconds: number;
}
