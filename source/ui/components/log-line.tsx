// One line of finished work in the running log: a decided step or a note.
import {Box, Text} from 'ink';
import type {Decision, ProbeRecord, StepOutcome} from '../../core/types.js';
import {describeContention} from '../../core/machine/index.js';
import {describeCandidate, kernelSummary, rateUnit} from '../../core/report/index.js';
import {formatFailure} from '../../core/report/index.js';
import type {LogEntry} from '../run-log.js';
import {plusMinus, rate, times} from '../text.js';

const marks: Record<StepOutcome | 'measured', {mark: string; color?: string}> = {
	baseline: {mark: '●', color: 'blue'},
	kept: {mark: '✔', color: 'green'},
	dropped: {mark: '✗', color: 'gray'},
	failed: {mark: '!', color: 'red'},
	skipped: {mark: '–', color: 'gray'},
	measured: {mark: '·'},
};

/** "80.0 samples/s ±1.0%" ("240 tokens/s ±3.0% · first token 42 ms"): the figure that decided (the last re-measurement of a close call). */
function throughput(record: ProbeRecord | undefined, decision: Decision | null): string {
	const r = record?.result;
	const unit = rateUnit(r ?? record?.candidate.config.model);
	const firstToken = r?.generation ? ` · first token ${r.generation.ttftMs.p50.toFixed(0)} ms` : '';
	if (r) return `${rate(decision?.samplesPerSecond ?? r.samplesPerSecond.median)} ${unit} ${plusMinus(r.samplesPerSecond)}${firstToken}`;
	if (decision?.samplesPerSecond != null) return `${rate(decision.samplesPerSecond)} ${unit}`;
	return '';
}

export function LogLine({entry}: {entry: LogEntry}) {
	if (entry.kind === 'note') {
		return (
			<Box paddingLeft={2}>
				<Text color={entry.level === 'warning' ? 'yellow' : undefined} dimColor={entry.level === 'info'} wrap="wrap">
					{entry.level === 'warning' ? 'warning: ' : 'note: '}{entry.message}
				</Text>
			</Box>
		);
	}
	const {decision, records, title} = entry;
	// A close call is re-measured: the figure that decided is the last record's.
	const record = records[records.length - 1];
	const outcome = decision?.outcome ?? 'measured';
	const {mark, color} = marks[outcome];
	const failure = records.find(r => r.failure)?.failure ?? null;
	const why = decision ? (decision.outcome === 'baseline' ? null : decision.reason) : failure ? formatFailure(failure) : null;
	return (
		<Box flexDirection="column">
			<Box>
				<Box flexShrink={0}><Text color={color}>{mark} {outcome.padEnd(9)}</Text></Box>
				<Box flexGrow={1} flexShrink={1}><Text wrap="truncate-end">{title}</Text></Box>
				<Box width={24} flexShrink={0} justifyContent="flex-end"><Text>{throughput(record, decision)}</Text></Box>
				<Box width={8} flexShrink={0} justifyContent="flex-end"><Text color={color}>{decision?.ratio != null && decision.outcome !== 'baseline' ? times(decision.ratio) : ''}</Text></Box>
			</Box>
			{record ? <Box paddingLeft={11}><Text dimColor wrap="truncate-end">{describeCandidate(record.candidate)}{records.length > 1 ? ` · measured ${records.length}× (close call)` : ''}</Text></Box> : null}
			{record?.result?.kernels ? <Box paddingLeft={11}><Text dimColor wrap="wrap">kernels: {kernelSummary(record.result.kernels)}</Text></Box> : null}
			{record?.result?.kernels?.warnings.map(w => <Box key={w} paddingLeft={11}><Text color="yellow" wrap="wrap">{w}</Text></Box>)}
			{record?.result?.contention?.contended ? <Box paddingLeft={11}><Text color="yellow" wrap="wrap">contended: {describeContention(record.result.contention)}</Text></Box> : null}
			{why ? <Box paddingLeft={11}><Text dimColor={outcome !== 'failed'} color={outcome === 'failed' ? 'red' : undefined} wrap="wrap">{why}</Text></Box> : null}
		</Box>
	);
}
