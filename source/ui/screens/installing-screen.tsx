// `setup --system` running, asked for on the machine screen: what it runs, as it runs.
import {Box, Text} from 'ink';
import {libraryList} from '../../core/machine/index.js';

export function InstallingScreen({lines, stopping}: {lines: string[]; stopping: boolean}) {
	return (
		<Box flexDirection="column">
			<Text bold>{stopping ? 'Stopping the install…' : `Installing ${libraryList()} (graviton-tune setup --system)…`}</Text>
			{lines.slice(-8).map((line, i) => (
				<Text key={i} dimColor wrap="truncate-end">
					{'  '}{line}
				</Text>
			))}
		</Box>
	);
}
