// The final verification, run: baseline and winner measured back to back in fresh
// processes, alternating, for as many pairs as the budget holds and the interval needs.
// The walk (planner.ts) calls it last; the figures from its pairs are verification.ts's.
import {VERIFY_MAX_PAIRS, VERIFY_PAIRS, VERIFY_TARGET, maxProbeSeconds, minProbeSeconds} from './budget.js';
import type {BudgetClock} from './budget.js';
import {candidateKey} from './candidates.js';
import {pairedInterval} from './stats.js';
import {verificationOf, walkAgainstVerified} from './verification.js';
import type {Candidate, ProbeRecord, ProbeResult, SessionEvent, Verification} from '../types.js';

/** What the verification uses of the walk: its clock, its probes so far, a probe, its events, whether it was stopped. */
export interface VerifyHost {
	clock: BudgetClock;
	/** The walk's probes (read once the pairs are in, to set the walk's own ratio against the verified one). */
	probes: ProbeRecord[];
	probe: (stepId: string, title: string, candidate: Candidate, budgetSeconds: number, fresh: boolean, deadlineSeconds: number | null) => Promise<ProbeRecord>;
	emit: (e: SessionEvent) => void;
	aborted: () => boolean;
}

/** One side of the verification as the walk measured it. */
interface Side {
	candidate: Candidate;
	result: ProbeResult;
}

type Pair = {a: ProbeResult; b: ProbeResult};

/**
 * Baseline and winner measured back to back, in fresh processes, alternating (A B, then
 * B A, so a steady drift cancels): the figure the user is told. The walk keeps room for
 * the pairs the clock planned (verifyPairs: three, or one on a budget too short for
 * three); further pairs run while the budget has room for one,
 * at least VERIFY_PAIRS in all or until the ratio's 95% interval is within
 * ±VERIFY_TARGET, at most VERIFY_MAX_PAIRS. The ratio is the pairs' geometric mean, its
 * interval a t-interval over them (one pair: none); a fresh process varies by ±15–20%
 * on a busy 2-CPU host, so one pair cannot settle a ratio.
 */
export async function verifyBackToBack(host: VerifyHost, baseline: Side, best: Side): Promise<Verification | null> {
	if (candidateKey(best.candidate) === candidateKey(baseline.candidate) || host.aborted()) return null;
	const {clock} = host;
	const sides = [baseline.candidate, best.candidate];
	const overheads = (again: boolean) => sides.reduce((sum, c) => sum + (again ? clock.againOf(c) : clock.overheadOf(c)), 0);
	// Each probe's measuring: what is left shared by the pairs planned (the first pair pays the full start-ups).
	const planned = clock.verifyPairs(best.candidate);
	const startups = overheads(false) + (planned - 1) * overheads(true);
	const budget = Math.min(maxProbeSeconds, Math.max(minProbeSeconds, (clock.remainingSeconds() - startups - clock.startupMargin()) / (2 * planned)));
	const pairs: Pair[] = [];
	for (let n = 1; n <= VERIFY_MAX_PAIRS && !host.aborted(); n++) {
		if (n > 1) {
			const {ratio, low, high} = pairedInterval(pairs.map(p => p.b.samplesPerSecond.median / p.a.samplesPerSecond.median));
			if (n > VERIFY_PAIRS && high / ratio - 1 <= VERIFY_TARGET && 1 - low / ratio <= VERIFY_TARGET) break;
			// Only what the budget still holds: the walk kept room for the first pair alone.
			const room = (clock.remainingSeconds() - overheads(true) - clock.startupMargin()) / 2;
			if (room < minProbeSeconds) break;
			const pair = await verifyPair(host, sides, Math.min(budget, room), n);
			if (!pair) break;
			pairs.push(pair);
			continue;
		}
		const first = await verifyPair(host, sides, budget, n);
		if (!first) {
			host.emit({type: 'note', level: 'warning', message: 'The final back-to-back verification did not complete; figures come from the walk.'});
			return null;
		}
		pairs.push(first);
	}
	const verification = verificationOf(pairs);
	const disagreement = walkAgainstVerified(baseline.result, best.result, verification, host.probes);
	if (disagreement) host.emit({type: 'note', level: 'warning', message: disagreement});
	return disagreement ? {...verification, note: disagreement} : verification;
}

/** One pair of the verification: baseline then winner (odd pairs), winner then baseline (even). */
async function verifyPair(host: VerifyHost, sides: Candidate[], budget: number, n: number): Promise<Pair | null> {
	const suffix = n === 1 ? '' : `-${n}`;
	const of = n === 1 ? '' : ` (pair ${n})`;
	const run = (i: number) => (i === 0
		? host.probe(`verify-baseline${suffix}`, `Verify: baseline${of}`, sides[0]!, budget, true, null)
		: host.probe(`verify-best${suffix}`, `Verify: best configuration${of}`, sides[1]!, budget, true, null));
	const order = n % 2 === 1 ? [0, 1] : [1, 0];
	const results: Array<ProbeResult | null> = [null, null];
	for (const i of order) {
		const record = await run(i);
		if (!record.result) return null;
		results[i] = record.result;
	}
	return {a: results[0]!, b: results[1]!};
}
