// The NUMA nodes: which of the usable CPUs sit on which node, from
// /sys/devices/system/node/node<N>/cpulist. Null (unknown) when the tree has no node
// folders (a kernel without NUMA, a container that hides them, a tree captured without
// them): its readers then treat the usable CPUs as one node.
import type {Reader} from './root-files.js';
import {readCpuList} from './usable-cpus.js';
import {compactCpuList} from '../recipes/contract.js';

const NODES = 'sys/devices/system/node';

/**
 * The usable CPUs of each node, in node id order; nodes without a usable CPU (memory-only
 * nodes, nodes outside the cpuset) are left out. Null, with a note, when the node lists
 * do not account for every usable CPU.
 */
export async function readNumaNodes(reader: Reader, usable: readonly number[]): Promise<number[][] | null> {
	const ids = (await reader.list(NODES))
		.map(name => /^node(\d+)$/.exec(name)?.[1])
		.filter((id): id is string => id !== undefined)
		.map(Number)
		.sort((a, b) => a - b);
	if (ids.length === 0) return null;
	const wanted = new Set(usable);
	const nodes: number[][] = [];
	for (const id of ids) {
		// An empty cpulist is a node without CPUs (memory only): nothing to place there.
		const cpus = (await readCpuList(reader, `${NODES}/node${id}/cpulist`, `NUMA node ${id}'s CPUs`)) ?? [];
		const mine = [...new Set(cpus.filter(cpu => wanted.has(cpu)))].sort((a, b) => a - b);
		if (mine.length > 0) nodes.push(mine);
	}
	const placed = new Set(nodes.flat());
	const lost = usable.filter(cpu => !placed.has(cpu));
	if (lost.length > 0) {
		reader.notes.push(`CPUs ${compactCpuList(lost)} are in no NUMA node under ${reader.show(NODES)}: NUMA layout unknown`);
		return null;
	}
	return nodes;
}
