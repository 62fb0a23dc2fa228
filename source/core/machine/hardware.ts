// What machine is this? Reads /proc, /sys and /etc of the live machine, or of a
// captured tree (--root DIR) so that a fleet owner can look at someone else's box.
// Facts and heuristics come from /work/shared/facts/cpu.md; every heuristic guess is
// said out loud in `platformGuess` or `notes`, never passed off as a fact.
// This file puts the Detection together and reads memory, THP, allocators and the OS; its
// parts lie beside it: the files under the root (root-files.ts), /proc/cpuinfo
// (cpuinfo.ts), which CPU it is (cpu-identity.ts, by the tables in cpu-tables.ts), DMI and
// the cloud (dmi.ts), the CPUs this process may use (usable-cpus.ts) and their NUMA nodes (numa.ts).
import type {Detection} from '../types.js';
import {ALLOCATORS, LIBRARY_NAMES} from './allocators.js';
import {identifyCpu} from './cpu-identity.js';
import {readProcessors} from './cpuinfo.js';
import {cloudFromDmi, readDmi} from './dmi.js';
import {readNumaNodes} from './numa.js';
import {firstLine, openReader} from './root-files.js';
import type {Reader} from './root-files.js';
import {readUsableCpus} from './usable-cpus.js';

export async function detectHardware(opts: {root?: string} = {}): Promise<Detection> {
	const reader = await openReader(opts.root);
	const processors = await readProcessors(reader);
	const dmi = await readDmi(reader);
	const cloud = cloudFromDmi(dmi);
	const cpu = await identifyCpu(reader, processors, dmi, cloud);
	const cpus = await readUsableCpus(reader, processors);
	return {
		root: reader.root,
		live: reader.live,
		cpu,
		usableCpus: cpus.usable,
		usableCpuList: cpus.list,
		cpuQuota: cpus.quota,
		numaNodes: await readNumaNodes(reader, cpus.list),
		memoryBytes: await readMemory(reader),
		thp: await readThp(reader),
		allocators: await findAllocators(reader, cpu.arch),
		cloud,
		os: await readOsRelease(reader),
		notes: reader.notes,
	};
}

// ---------------------------------------------------------------- memory, THP, allocators, OS

async function readMemory(reader: Reader): Promise<number | null> {
	const text = await reader.text('proc/meminfo', 'memory size');
	if (text === null) return null;
	const m = /^MemTotal:\s*(\d+)\s*kB/im.exec(text);
	if (!m) {
		reader.notes.push(`no MemTotal in ${reader.show('proc/meminfo')}: memory size unknown`);
		return null;
	}
	return Number(m[1]) * 1024;
}

async function readThp(reader: Reader): Promise<Detection['thp']> {
	const line = await firstLine(reader, 'sys/kernel/mm/transparent_hugepage/enabled', 'transparent huge pages mode');
	// The kernel brackets the active choice: "always [madvise] never".
	const mode = line === null ? null : /\[(\w+)\]/.exec(line)?.[1];
	return mode === 'always' || mode === 'madvise' || mode === 'never' ? mode : null;
}

/**
 * Allocator libraries for LD_PRELOAD, as paths on the detected machine (without the --root prefix).
 * Unlike PyTorch's run_cpu.py, this looks in multiarch directories, where Debian and Ubuntu put them.
 */
async function findAllocators(reader: Reader, arch: string): Promise<Detection['allocators']> {
	const triplets = arch === 'aarch64' || arch === 'x86_64' ? [`${arch}-linux-gnu`] : ['aarch64-linux-gnu', 'x86_64-linux-gnu'];
	const dirs = [...triplets.map(t => `usr/lib/${t}`), 'usr/lib64', 'usr/lib', 'usr/local/lib'];
	const find = async (names: readonly string[]) => {
		for (const name of names) {
			for (const dir of dirs) {
				if (await reader.exists(`${dir}/${name}`)) return `/${dir}/${name}`;
			}
		}
		return null;
	};
	const found = {} as Detection['allocators'];
	for (const name of LIBRARY_NAMES) found[name] = await find(ALLOCATORS[name].files);
	return found;
}

async function readOsRelease(reader: Reader): Promise<Detection['os']> {
	const text = (await reader.text('etc/os-release', 'OS release')) ?? (await reader.text('usr/lib/os-release', 'OS release'));
	const fields = parseOsRelease(text ?? '');
	return {
		id: fields.get('ID') ?? null,
		idLike: (fields.get('ID_LIKE') ?? '').split(/\s+/).filter(Boolean),
		versionId: fields.get('VERSION_ID') ?? null,
		prettyName: fields.get('PRETTY_NAME') ?? null,
	};
}

/** os-release is shell-style KEY=value, the value optionally quoted. */
export function parseOsRelease(text: string): Map<string, string> {
	const fields = new Map<string, string>();
	for (const line of text.split('\n')) {
		const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
		if (!m) continue;
		fields.set(m[1]!, m[2]!.replace(/^(["'])(.*)\1$/, '$2'));
	}
	return fields;
}
