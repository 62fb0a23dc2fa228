// The last frame: what happened, and what to do next. It stays on the terminal after exit.
import {Box, Text} from 'ink';
import path from 'node:path';
import process from 'node:process';
import type {Delivered} from '../../core/report/index.js';
import type {Ending} from '../state.js';
import {displayPath} from '../text.js';

function Written({delivered}: {delivered: Delivered}) {
	const cwd = process.cwd();
	const show = (p: string) => displayPath(p, cwd);
	const dir = path.dirname(delivered.files.env);
	const inDir = delivered.written.filter(p => path.dirname(p) === dir).map(p => path.basename(p));
	const elsewhere = delivered.written.filter(p => path.dirname(p) !== dir);
	// Commands are never truncated: people copy them.
	return (
		<Box flexDirection="column" marginTop={1}>
			{delivered.written.length === 0 ? <Text>Nothing new to write: the files are already up to date.</Text> : null}
			{inDir.length ? <Text color="green" wrap="wrap">Wrote {inDir.join(', ')} in {show(dir)}</Text> : null}
			{elsewhere.map(p => <Text key={p} color="green" wrap="wrap">Wrote {show(p)}</Text>)}
			{delivered.patched ? <Text wrap="wrap">Patched {show(delivered.patched)}</Text> : null}
			{delivered.backups.map(b => <Text key={b} dimColor wrap="wrap">backup: {show(b)}</Text>)}
			<Box marginTop={1}><Text bold>Deploy</Text></Box>
			<Box paddingLeft={2} flexDirection="column">
				<Text wrap="wrap">source {show(delivered.files.env)}</Text>
				<Box paddingLeft={4}><Text dimColor wrap="wrap">in a shell; or EnvironmentFile= in a systemd unit, --env-file for docker</Text></Box>
				<Text wrap="wrap">{show(delivered.files.launch)}</Text>
				<Box paddingLeft={4}><Text dimColor wrap="wrap">starts your app with these settings</Text></Box>
				<Text wrap="wrap">report: {show(delivered.files.reportHtml)}</Text>
				<Box paddingLeft={4}><Text dimColor wrap="wrap">charts of the walk; open in a browser ({path.basename(delivered.files.reportMarkdown)} and {path.basename(delivered.files.report)} beside it)</Text></Box>
			</Box>
		</Box>
	);
}

export function EndingScreen({ending}: {ending: Ending}) {
	switch (ending.kind) {
		case 'written':
			return <Written delivered={ending.delivered} />;
		case 'declined':
			return <Text>Nothing written. Run again with --yes to write the files without asking.</Text>;
		case 'interrupted':
			return <Text color="yellow">Interrupted: probes stopped, no files written.</Text>;
		case 'environment':
			return (
				<Box flexDirection="column">
					<Text color="red" wrap="wrap">{ending.message}</Text>
					{ending.hint ? <Text wrap="wrap">fix: <Text bold>{ending.hint}</Text></Text> : null}
				</Box>
			);
		case 'baseline-failed':
			return (
				<Box flexDirection="column" marginTop={1}>
					<Text color="red">The baseline probe failed, so nothing could be compared.</Text>
					<Text wrap="wrap">{ending.message}</Text>
				</Box>
			);
		case 'write-failed':
			return <Text color="red" wrap="wrap">Could not write the output files: {ending.message}</Text>;
		case 'error':
			return <Text color="red" wrap="wrap">graviton-tune: {ending.message}</Text>;
	}
}
