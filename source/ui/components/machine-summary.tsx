// What this machine is and which Python measures on it: four lines and the advice.
import {Box, Text} from 'ink';
import {LIBRARY_NAMES, summaryLine} from '../../core/machine/index.js';
import type {Prepared} from '../../core/walk/index.js';
import type {Detection, PythonEnv} from '../../core/types.js';

/** "… — c7g.2xlarge" wraps as one piece rather than leaving a dash at a line end. */
function keepInstanceTogether(line: string): string {
	return line.replace(' — ', ' —\u00A0');
}

function cpuLine(d: Detection): string {
	const usable = d.usableCpus === d.cpu.logicalCpus ? `${d.usableCpus} usable CPUs` : `${d.usableCpus} of ${d.cpu.logicalCpus} CPUs usable`;
	const memory = d.memoryBytes === null ? null : `${(d.memoryBytes / 2 ** 30).toFixed(0)} GiB`;
	const thp = `THP ${d.thp ?? 'unknown'}`;
	const allocators = LIBRARY_NAMES.filter(name => d.allocators[name]);
	const alloc = allocators.length ? `${allocators.join(' + ')} installed` : `no ${LIBRARY_NAMES.join('/')}`;
	return [usable, memory, thp, alloc].filter(Boolean).join(' · ');
}

function torchLine(p: PythonEnv): string {
	const torch = p.torch ? `torch ${p.torch.version}${p.torch.cpuCapability ? ` (${p.torch.cpuCapability})` : ''}` : 'no torch';
	return [`Python ${p.pythonVersion ?? '?'}`, torch, p.reason].join(' · ');
}

function extrasLine(p: PythonEnv): string | null {
	const extras = Object.entries(p.packages).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`);
	return extras.length ? `with ${extras.join(', ')}` : null;
}

export function MachineSummary({prepared}: {prepared: Prepared}) {
	const {detection, python, advice} = prepared;
	return (
		<Box flexDirection="column" marginBottom={1}>
			<Text bold>graviton-tune</Text>
			<Box>
				<Box width={9} flexShrink={0}><Text dimColor>Machine</Text></Box>
				<Text wrap="wrap">{keepInstanceTogether(summaryLine(detection))}</Text>
			</Box>
			<Box paddingLeft={9}><Text wrap="truncate-end">{cpuLine(detection)}</Text></Box>
			<Box>
				<Box width={9} flexShrink={0}><Text dimColor>Python</Text></Box>
				<Text wrap="wrap">{python.interpreter ?? 'none found'}</Text>
			</Box>
			<Box paddingLeft={9}><Text wrap="truncate-end">{python.interpreter ? torchLine(python) : python.reason}</Text></Box>
			{python.interpreter && extrasLine(python) ? <Box paddingLeft={9}><Text dimColor wrap="truncate-end">{extrasLine(python)}</Text></Box> : null}
			{advice.map(a => (
				<Box key={a.id} paddingLeft={2}>
					<Text color="yellow" wrap="wrap">! {a.title}: {a.message}{a.command ? ` → ${a.command}` : ''}</Text>
				</Box>
			))}
		</Box>
	);
}
