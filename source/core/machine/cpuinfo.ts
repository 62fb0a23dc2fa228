// /proc/cpuinfo: read (or why not: a HardwareError), parsed into one block per processor,
// the feature flags every processor shares, and the architecture its fields show.
import {promises as fs} from 'node:fs';
import {errorCode, HardwareError} from './root-files.js';
import type {Reader} from './root-files.js';

/** One processor's block of /proc/cpuinfo, keys lowercased ("cpu implementer", "features", "flags"). */
export type Processor = Map<string, string>;

export async function readProcessors(reader: Reader): Promise<Processor[]> {
	const text = await readCpuinfo(reader);
	const processors = parseCpuinfo(text);
	if (processors.length === 0) {
		throw new HardwareError('cpuinfo-empty', `${reader.show('proc/cpuinfo')} lists no processors (no "processor : N" lines)`);
	}
	return processors;
}

async function readCpuinfo(reader: Reader): Promise<string> {
	try {
		return await fs.readFile(reader.show('proc/cpuinfo'), 'utf8');
	} catch (error) {
		const code = errorCode(error);
		if (code === 'ENOENT' || code === 'ENOTDIR') {
			throw new HardwareError(
				'no-cpuinfo',
				reader.live
					? '/proc/cpuinfo is missing: graviton-tune detects Linux machines (aarch64 or x86_64) only'
					: `--root ${reader.root}: no proc/cpuinfo there (expected a captured tree with DIR/proc/cpuinfo)`,
			);
		}
		throw new HardwareError('cpuinfo-unreadable', `could not read ${reader.show('proc/cpuinfo')} (${code ?? String(error)})`);
	}
}

export function parseCpuinfo(text: string): Processor[] {
	const processors: Processor[] = [];
	for (const chunk of text.split(/\n[ \t]*\n/)) {
		const block: Processor = new Map();
		for (const line of chunk.split('\n')) {
			const colon = line.indexOf(':');
			if (colon < 0) continue;
			block.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
		}
		// Old arm64 kernels print "Processor : AArch64 Processor rev 1" as a header, and some a
		// trailing "Hardware" block: only numbered blocks are CPUs.
		if (/^\d+$/.test(block.get('processor') ?? '')) processors.push(block);
	}
	return processors;
}

/** Flags every processor has: a thread may run on any of them, so only shared flags are safe to rely on. */
export function sharedFeatures(processors: Processor[]): string[] {
	const sets = processors.map(p => new Set((p.get('features') ?? p.get('flags') ?? '').toLowerCase().split(/\s+/).filter(Boolean)));
	const [first = new Set<string>(), ...rest] = sets;
	return [...first].filter(flag => rest.every(set => set.has(flag)));
}

export function archFromCpuinfo(first: Processor): string | null {
	if (first.has('cpu implementer') || first.has('features')) return 'aarch64';
	if (first.has('vendor_id') || first.has('flags')) return 'x86_64';
	return null;
}

export function processArch(): string {
	return ({arm64: 'aarch64', x64: 'x86_64'} as Record<string, string>)[process.arch] ?? process.arch;
}
