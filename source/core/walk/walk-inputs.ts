// What the walk (planner.ts) is given: its options, and the two ways of measuring the
// session injects (one candidate in a fresh process; a close call paired in two warm
// processes), so that the walk's decisions are unit-testable with scripted results.
import type {CpuClass, Observed} from '../recipes/expected.js';
import type {CheckThresholds, CompareOptions} from './stats.js';
import type {Applicability, Candidate, ModelSpec, ProbeRecord, ProbeResult} from '../types.js';

export interface WalkOptions {
	model: ModelSpec;
	budgetSeconds: number;
	/** Usable CPU ids (online ∩ cpuset); quota-floored count in usableCpus. */
	usableCpuList: number[];
	usableCpus: number;
	/** The usable CPUs of each NUMA node (Detection.numaNodes): a worker sweep keeps each worker on one. */
	numaNodes?: number[][] | null;
	/** Applicable recipes only, in catalogue order. */
	steps: Applicability[];
	maxLatencyMs: number | null;
	/** A generating model: the largest p99 time to the first token (--max-ttft-ms). */
	maxTtftMs?: number | null;
	thresholds: CheckThresholds;
	compare: CompareOptions;
	signal?: AbortSignal;
	/** Clock in milliseconds (injectable for tests). */
	now?: () => number;
	/** An .onnx file whose batch axis is fixed: the batch it runs at (baseline and every step). */
	fixedBatch?: number | null;
	/** The CPU class the recipes' expected figures are read for (default: 'default'). */
	cpuClass?: CpuClass;
	/** What this machine measured per recipe id for this model before (the history). */
	observed?: Record<string, Observed>;
	/**
	 * Close calls measured alternately in two warm processes (the session's paired
	 * comparison); absent: re-measured in fresh processes, pooled.
	 */
	paired?: PairedMeasure;
	/**
	 * The measure gives its probes a folder shared by the walk where conversions are kept
	 * (the session's cache): a configuration on a cachedRuntimes runtime probed again reads
	 * its conversion back, so the final verification of such a winner is planned as cheap.
	 */
	conversionCache?: boolean;
}

/** A paired comparison's outcome: the ratio candidate / incumbent and its 95% interval, pair by pair. */
export interface PairedOutcome {
	ratio: number;
	low: number;
	high: number;
	pairs: number;
	/** The candidate's and the incumbent's pooled figures, for the trail. */
	candidate: ProbeResult;
	incumbent: ProbeResult;
}

/** Two warm processes measured in alternating windows within `seconds`; null when it could not run. */
export type PairedMeasure = (stepId: string, title: string, incumbent: Candidate, candidate: Candidate, seconds: number) => Promise<PairedOutcome | null>;

/**
 * Measures one candidate in a fresh process; never throws for probe failures.
 * `deadlineSeconds`: wall time the probe may take, start to end, before it is stopped
 * because the walk's budget has no more room (null: no such limit); a probe stopped so
 * fails with code 'budget'. `fresh`: a figure remembered from an earlier run will not do
 * (repeats, re-checks, verification exist to measure again).
 */
export type Measure = (stepId: string, title: string, candidate: Candidate, deadlineSeconds: number | null, fresh: boolean) => Promise<ProbeRecord>;
