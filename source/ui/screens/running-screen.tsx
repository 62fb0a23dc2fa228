// The live area while probes run: the current step, its phase and live throughput,
// time spent against the budget, and best-so-far against the baseline. Finished steps
// are above it, in <Static>; this part stays a handful of lines.
import {Box, Text} from 'ink';
import {describeCandidate, rateUnit} from '../../core/report/index.js';
import {formatDuration} from '../../core/report/index.js';
import {useNow} from '../hooks/use-now.js';
import {bestSoFar, elapsedSeconds} from '../run-log.js';
import type {LiveStep, RunState} from '../run-log.js';
import {bar, rate, times} from '../text.js';

const BAR = 24;

function phaseLine(live: LiveStep, now: number): string {
	// The clock ticks on its own: it can read a moment before the step began.
	const since = formatDuration(Math.max(0, now - live.startedAt) / 1000);
	if (live.samplesPerSecond === null) return `${live.phase ?? 'starting'}… ${since}`;
	const ci = live.relativeCi === null ? '' : ` · ±${(live.relativeCi * 100).toFixed(1)}%`;
	return `${live.phase ?? 'measure'} · ${rate(live.samplesPerSecond)} ${rateUnit(live.candidate.config.model)} · ${live.iterations ?? 0} iterations${ci} · ${since}`;
}

/** "label     ████░░░░ text": label and bar keep their width, the text is cut at the edge. */
function BarRow({label, fraction, text, color}: {label: string; fraction: number; text: string; color?: string}) {
	return (
		<Box>
			<Box width={10} flexShrink={0}><Text dimColor>{label}</Text></Box>
			<Box flexShrink={0}><Text color={color}>{bar(fraction, BAR)}</Text></Box>
			<Box flexGrow={1} flexShrink={1} paddingLeft={1}><Text wrap="truncate-end">{text}</Text></Box>
		</Box>
	);
}

function Comparison({run, live}: {run: RunState; live: LiveStep | null}) {
	const {baseline, best, title} = bestSoFar(run);
	if (baseline === null || best === null) return null;
	const top = Math.max(baseline, best, live?.samplesPerSecond ?? 0);
	const unit = rateUnit(run.model);
	return (
		<Box flexDirection="column">
			<BarRow label="baseline" color="blue" fraction={baseline / top} text={`${rate(baseline)} ${unit}`} />
			<BarRow label="best" color="green" fraction={best / top} text={`${rate(best)} ${unit} ${times(best / baseline)}${title && best !== baseline ? ` · ${title}` : ''}`} />
		</Box>
	);
}

export function RunningScreen({run, stopping}: {run: RunState; stopping: boolean}) {
	const now = useNow(1000);
	const {live} = run;
	const elapsed = elapsedSeconds(run, now);
	return (
		<Box flexDirection="column" marginTop={1}>
			{live ? (
				<>
					<Text bold wrap="truncate-end">▸ [{live.index}] {live.title}</Text>
					<Box paddingLeft={2}><Text dimColor wrap="truncate-end">{describeCandidate(live.candidate)}</Text></Box>
					<Box paddingLeft={2}><Text wrap="truncate-end">{phaseLine(live, now)}</Text></Box>
				</>
			) : (
				<Text dimColor>{run.startedAt === null ? 'Starting the walk…' : 'Deciding the next step…'}</Text>
			)}
			<BarRow label="elapsed" fraction={elapsed / run.budgetSeconds} text={`${formatDuration(elapsed)} of ${formatDuration(run.budgetSeconds)}`} />
			<Comparison run={run} live={live} />
			{stopping ? (
				<Text color="yellow">Stopping probes… (Ctrl+C again to quit at once)</Text>
			) : (
				<Text dimColor>Ctrl+C stops the probes and quits without writing</Text>
			)}
		</Box>
	);
}
