// What will be written, shown before anything is: the files in the output directory
// and, for a patched launch script, the diff. y/enter writes, n quits without writing.
import {Box, Text, useInput, useStdout} from 'ink';
import process from 'node:process';
import type {DeliveryPlan} from '../../core/report/index.js';
import {displayPath} from '../text.js';

function DiffLines({diff, max}: {diff: string; max: number}) {
	const lines = diff.split('\n').filter(l => l !== '');
	const shown = lines.slice(0, max);
	return (
		<Box flexDirection="column" paddingLeft={2}>
			{shown.map((line, i) => (
				<Text key={i} wrap="truncate-end" color={line.startsWith('+') && !line.startsWith('+++') ? 'green' : line.startsWith('-') && !line.startsWith('---') ? 'red' : undefined}>
					{line}
				</Text>
			))}
			{lines.length > max ? <Text dimColor>… {lines.length - max} more lines (see report.md after writing)</Text> : null}
		</Box>
	);
}

export function ConfirmScreen({plan, isActive, onAnswer}: {plan: DeliveryPlan; isActive: boolean; onAnswer: (write: boolean) => void}) {
	const {stdout} = useStdout();
	useInput(
		(input, key) => {
			if (input === 'y' || input === 'Y' || key.return) onAnswer(true);
			else if (input === 'n' || input === 'N' || input === 'q' || key.escape) onAnswer(false);
		},
		{isActive},
	);
	const cwd = process.cwd();
	const {patch} = plan;
	const diffRows = Math.max(4, (stdout.rows || 24) - 10);
	return (
		<Box flexDirection="column" marginTop={1}>
			<Text bold wrap="truncate-middle">Files to write in {displayPath(plan.dir, cwd)}</Text>
			<Box paddingLeft={2}><Text wrap="wrap">{plan.files.map(f => f.name).join('  ')}</Text></Box>
			{patch ? (
				<Box flexDirection="column">
					<Text wrap="truncate-middle">{patch.changed ? `Patch ${displayPath(patch.path, cwd)} (a backup is kept):` : `${displayPath(patch.path, cwd)} is already up to date`}</Text>
					{patch.changed ? <DiffLines diff={patch.diff} max={diffRows} /> : null}
					{patch.notes.map((n, i) => <Box key={i} paddingLeft={2}><Text color="yellow" wrap="wrap">note: {n}</Text></Box>)}
				</Box>
			) : null}
			<Text>Write these files? <Text bold>[Y/n]</Text></Text>
		</Box>
	);
}
