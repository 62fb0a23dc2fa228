// `setup --system` running, asked for on the machine screen: what it runs, as it runs.
import {Box, Text} from 'ink';

export function InstallingScreen({lines, stopping}: {lines: string[]; stopping: boolean}) {
	return (
		<Box flexDirection="column">
			<Text bold>{stopping ? 'Stopping the install…' : 'Installing tcmalloc and jemalloc (graviton-tune setup --system)…'}</Text>
			{lines.slice(-8).map((line, i) => (
				<Text key={i} dimColor wrap="truncate-end">
					{'  '}{line}
				</Text>
			))}
		</Box>
	);
}
