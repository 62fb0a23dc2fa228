// Human output for `graviton-tune detect`: one summary line a person can paste into a
// ticket, then a few aligned lines. Plain text, no colours, fits 80 columns.
import {compactCpuList} from '../recipes/contract.js';
import type {Detection, IsaFlags} from '../types.js';
import {LIBRARY_NAMES} from './allocators.js';

const WIDTH = 80;
const LABEL = 13;

export function describeDetection(d: Detection): string {
	const lines = [...wrapWords(summaryLine(d), WIDTH, '  ')];
	const rows: Array<[string, string]> = [
		['usable CPUs', usableText(d)],
		...numaRows(d),
		['memory', d.memoryBytes === null ? 'unknown' : `${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB`],
		['huge pages', d.thp === null ? 'unknown (no THP setting found)' : `THP ${d.thp}`],
		...LIBRARY_NAMES.map((name): [string, string] => [name, d.allocators[name] ?? 'not installed']),
		['cloud', cloudText(d)],
		['os', d.os.prettyName ?? d.os.id ?? 'unknown'],
	];
	if (d.cpu.platformGuess) rows.push(['note', `platform is a guess: ${d.cpu.platformGuess}`]);
	for (const note of d.notes) rows.push(['note', note]);
	if (!d.live) rows.push(['read from', d.root]);
	for (const [label, value] of rows) lines.push(...row(label, value));
	return lines.join('\n');
}

/** "AWS Graviton3 (Neoverse-V1), 8 vCPU, SVE 256-bit, BF16, I8MM — c7g.2xlarge". */
export function summaryLine(d: Detection): string {
	const parts = [productText(d), `${d.cpu.logicalCpus} vCPU`, ...isaWords(d.cpu.isa, d.cpu.sveVectorBits)];
	const instance = d.cloud.instanceType ? ` — ${d.cloud.instanceType}` : '';
	return parts.join(', ') + instance;
}

function productText(d: Detection): string {
	const {platform, core, vendor, implementer, part, modelName, arch} = d.cpu;
	// A guess reads as one: the reason is on its own line below.
	const prefix = d.cpu.platformGuess ? 'probably ' : '';
	if (platform && core) return `${prefix}${platform} (${core})`;
	if (platform) return prefix + platform;
	if (core) return `${vendor ?? 'Arm'} ${core}`;
	if (implementer) return `${vendor ?? 'unknown'} Arm CPU (implementer ${implementer}, part ${part ?? '?'})`;
	return modelName ?? `unknown ${arch} CPU`;
}

function isaWords(isa: IsaFlags, sveBits: number | null): string[] {
	const words: string[] = [];
	if (isa.sve) words.push(`${isa.sve2 ? 'SVE2' : 'SVE'}${sveBits ? ` ${sveBits}-bit` : ''}`);
	if (isa.bf16) words.push('BF16');
	if (isa.i8mm) words.push('I8MM');
	if (isa.avx512) words.push('AVX-512');
	if (isa.avx512bf16) words.push('AVX-512 BF16');
	if (isa.vnni) words.push('VNNI');
	if (isa.amx) words.push('AMX');
	return words;
}

function usableText(d: Detection): string {
	const list = compactCpuList(d.usableCpuList);
	if (d.usableCpus === d.cpu.logicalCpus && d.usableCpuList.length === d.cpu.logicalCpus) return `${d.usableCpus} (CPUs ${list})`;
	const why: string[] = [];
	if (d.usableCpuList.length < d.cpu.logicalCpus) why.push(`cpuset ${list}`);
	if (d.cpuQuota !== null && Math.floor(d.cpuQuota) < d.usableCpuList.length) why.push(`cgroup quota ${trimNumber(d.cpuQuota)} CPUs`);
	return `${d.usableCpus} of ${d.cpu.logicalCpus}${why.length ? ` (${why.join('; ')})` : ''}`;
}

/** Shown only where there is more than one node (a report from before NUMA was read has none). */
function numaRows(d: Detection): Array<[string, string]> {
	const nodes = d.numaNodes ?? [];
	return nodes.length > 1 ? [['NUMA nodes', `${nodes.length}: CPUs ${nodes.map(compactCpuList).join('; ')}`]] : [];
}

function cloudText(d: Detection): string {
	const names = {aws: 'AWS', gcp: 'Google Cloud', azure: 'Azure', oci: 'Oracle Cloud'};
	if (d.cloud.provider === null) return 'none detected';
	return `${names[d.cloud.provider]}${d.cloud.instanceType ? ` ${d.cloud.instanceType}` : ''}`;
}

export {compactCpuList};

function trimNumber(n: number): string {
	return Number.isInteger(n) ? String(n) : n.toFixed(2).replace(/0+$/, '');
}

function row(label: string, value: string): string[] {
	const indent = ' '.repeat(LABEL + 2);
	const [first = '', ...rest] = wrapWords(value, WIDTH - indent.length, '');
	return [`  ${label.padEnd(LABEL)}${first}`, ...rest.map(line => indent + line)];
}

/** Greedy word wrap; continuation lines get `hang` in front. Words longer than the width stay whole. */
export function wrapWords(text: string, width: number, hang: string): string[] {
	const lines: string[] = [];
	let line = '';
	// "— c7g.2xlarge" moves as one piece rather than leaving a dash at a line end.
	for (const word of text.split(/(?<!—) /)) {
		const prefix = lines.length > 0 ? hang : '';
		if (line && (prefix + line + ' ' + word).length > width) {
			lines.push(prefix + line);
			line = word;
		} else {
			line = line ? `${line} ${word}` : word;
		}
	}
	lines.push((lines.length > 0 ? hang : '') + line);
	return lines;
}
