// Finished work, written once above the live area and never redrawn (Ink <Static>):
// the machine, the choices, every decided step, the result. Derived from the state,
// append-only as the session moves forward.
import {Box, Static, Text} from 'ink';
import {findPrice, verdict} from '../../core/report/index.js';
import type {Verdict} from '../../core/report/index.js';
import type {Prepared} from '../../core/walk/index.js';
import type {WalkResult} from '../../core/types.js';
import {formatDuration} from '../../core/report/index.js';
import {useColumns} from '../hooks/use-columns.js';
import type {LogEntry} from '../run-log.js';
import type {State} from '../state.js';
import {LogLine} from './log-line.js';
import {MachineSummary} from './machine-summary.js';
import {ResultSummary} from './result-summary.js';

export type HistoryItem =
	| {key: string; kind: 'machine'; prepared: Prepared}
	| {key: string; kind: 'choices'; text: string}
	| {key: string; kind: 'log'; entry: LogEntry}
	| {key: string; kind: 'result'; result: WalkResult; said: Verdict};

const started = new Set(['running', 'planning', 'confirm', 'writing']);

export function historyItems(state: State): HistoryItem[] {
	const items: HistoryItem[] = [];
	if (state.prepared) items.push({key: 'machine', kind: 'machine', prepared: state.prepared});
	if (started.has(state.screen) && state.model) {
		const model = state.model.name ?? state.model.path ?? 'model';
		const recipes = state.selected.length ? state.selected.join(', ') : 'none (baseline and batch size only)';
		items.push({key: 'choices', kind: 'choices', text: `Tuning ${model} for ${formatDuration(state.budgetSeconds)} · recipes: ${recipes}`});
	}
	for (const entry of state.run.log) items.push({key: entry.key, kind: 'log', entry});
	if (state.result) {
		const price = state.prepared ? findPrice(state.prepared.detection.cloud, state.options.pricePerHour) : null;
		items.push({key: 'result', kind: 'result', result: state.result, said: verdict(state.result, price)});
	}
	return items;
}

export function History({state}: {state: State}) {
	// Static items are laid out on their own: give them the terminal's width so long lines truncate.
	const columns = useColumns();
	return (
		<Static items={historyItems(state)}>
			{item => (
				<Box key={item.key} flexDirection="column" width={columns}>
					{item.kind === 'machine' ? <MachineSummary prepared={item.prepared} /> : null}
					{item.kind === 'choices' ? <Box marginBottom={1}><Text wrap="wrap">{item.text}</Text></Box> : null}
					{item.kind === 'log' ? <LogLine entry={item.entry} /> : null}
					{item.kind === 'result' ? <ResultSummary result={item.result} said={item.said} /> : null}
				</Box>
			)}
		</Static>
	);
}
