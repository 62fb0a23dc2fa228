// The answer: baseline against best (verified back to back when it could be), the
// speedup, and what got there.
import {Box, Text} from 'ink';
import type {ReactNode} from 'react';
import {describeCost} from '../../core/report/index.js';
import type {Verdict} from '../../core/report/index.js';
import type {WalkResult} from '../../core/types.js';
import {describeCandidate, describeGeneration, intervalWords, latencyWhat, rateUnit, speedupText, verdict, describeKernels} from '../../core/report/index.js';
import {rate} from '../text.js';

function Row({label, children, wrap = 'truncate-end'}: {label: string; children: ReactNode; wrap?: 'wrap' | 'truncate-end'}) {
	return (
		<Box>
			<Box width={11} flexShrink={0}><Text dimColor>{label}</Text></Box>
			<Text wrap={wrap}>{children}</Text>
		</Box>
	);
}

/** Titles of the kept steps, one per recipe: a batch sweep that kept 2, 4 and 8 reads "Batch size 8". */
export function keptTitles(result: WalkResult): string[] {
	const last = new Map<string, string>();
	for (const d of result.decisions) if (d.outcome === 'kept') last.set(d.recipeId ?? d.stepId, d.title);
	return [...last.values()];
}

/** `said`: the walk's verdict (with its cost where the price is known); computed here without one. */
export function ResultSummary({result, said = verdict(result)}: {result: WalkResult; said?: Verdict}) {
	const kept = keptTitles(result);
	const h = said.headline;
	const cost = said.cost;
	const best = h.best;
	const busy = said.contendedNote;
	const limits = said.limits;
	const unit = rateUnit(best);
	return (
		<Box flexDirection="column" marginTop={1}>
			<Text bold>Result{h.verified ? ' — verified back to back' : ' — from the walk (not re-verified)'}</Text>
			<Row label="baseline">{rate(h.baseline.samplesPerSecond.median)} {unit} · {describeCandidate(result.baseline.candidate)}</Row>
			<Row label="best">{rate(best.samplesPerSecond.median)} {unit} · {describeCandidate(result.best.candidate)}</Row>
			<Row label="speedup"><Text color={h.speedup > 1.01 ? 'green' : undefined} bold>{speedupText(h)}</Text>{intervalWords(h) ? <Text dimColor> {intervalWords(h)}</Text> : null}</Row>
			<Row label="latency">p99 {best.latencyMs.p99.toFixed(1)} ms {latencyWhat(best)}</Row>
			{best.generation ? <Row label="tokens" wrap="wrap">{describeGeneration(best.generation)}</Row> : null}
			{cost ? <Row label="cost" wrap="wrap">{describeCost(cost, {source: false})}</Row> : null}
			<Row label="kept" wrap="wrap">{kept.length ? kept.join(', ') : 'nothing beat the baseline'}</Row>
			<Row label="accuracy" wrap="wrap">{said.accuracy.text}</Row>
			{limits ? <Row label="limit" wrap="wrap">{limits.lines.join('; ')}</Row> : null}
			{said.kernels ? <Row label="kernels" wrap="wrap">{describeKernels(said.kernels)}</Row> : null}
			{busy ? <Text color="yellow" wrap="wrap">warning: the machine was busy. {busy}</Text> : null}
		</Box>
	);
}
