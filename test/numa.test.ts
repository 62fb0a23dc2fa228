// Workers per NUMA node, as pure functions (no probes): the worker counts a sweep offers
// on a machine of several nodes, and each worker's CPU slice (workerSlices, the TypeScript
// mirror of the runtime helper's worker_cpus, whose pytest is in
// probes/tests/test_runtime_bundle.py), on the graviton5 tree. That tree is constructed
// from published facts, not captured on a real machine (fixtures/trees/graviton5/ABOUT.md).
import {promises as fs} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterEach, describe, expect, it} from 'vitest';
import {detectHardware} from '../source/core/machine/hardware.js';
import {workerCounts, workerSlices} from '../source/core/walk/candidates.js';

const trees = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'trees');
const span = (from: number, count: number) => Array.from({length: count}, (_, i) => from + i);

/** Whether every worker's slice lies inside one node. */
function eachInOneNode(slices: number[][], nodes: number[][]): boolean {
	return slices.every(slice => nodes.some(node => slice.length > 0 && slice.every(cpu => node.includes(cpu))));
}

describe('graviton5 (constructed tree): two NUMA nodes of 96 CPUs', () => {
	it('is detected as AWS Graviton5, Neoverse-V3, SVE 128-bit, with its two nodes', async () => {
		const d = await detectHardware({root: path.join(trees, 'graviton5')});
		expect(d.cpu).toMatchObject({platform: 'AWS Graviton5', core: 'Neoverse-V3', sveVectorBits: 128});
		expect(d.usableCpus).toBe(192);
		expect(d.numaNodes).toEqual([span(0, 96), span(96, 96)]);
	});

	it('offers worker counts that are multiples of the node count, each worker inside one node', async () => {
		const d = await detectHardware({root: path.join(trees, 'graviton5')});
		const nodes = d.numaNodes!;
		const counts = workerCounts(d.usableCpus, nodes);
		expect(counts).toEqual([2, 4, 8, 16]);
		for (const n of counts) {
			expect(n % nodes.length).toBe(0);
			expect(eachInOneNode(workerSlices(d.usableCpuList, n, nodes), nodes), `${n} workers`).toBe(true);
		}
	});

	it('contiguous node lists: the plain sorted split already keeps each worker inside one node', async () => {
		const d = await detectHardware({root: path.join(trees, 'graviton5')});
		for (const n of workerCounts(d.usableCpus, d.numaNodes)) {
			expect(workerSlices(d.usableCpuList, n, d.numaNodes)).toEqual(workerSlices(d.usableCpuList, n, null));
		}
	});

	it('interleaved node lists (node0 = 0-47,96-143): the split takes the CPUs node by node', async () => {
		const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gt-numa-'));
		temps.push(dir);
		await fs.cp(path.join(trees, 'graviton5'), dir, {recursive: true});
		const nodeDir = path.join(dir, 'sys/devices/system/node');
		await fs.writeFile(path.join(nodeDir, 'node0/cpulist'), '0-47,96-143\n');
		await fs.writeFile(path.join(nodeDir, 'node1/cpulist'), '48-95,144-191\n');
		const d = await detectHardware({root: dir});
		const nodes = d.numaNodes!;
		expect(nodes).toEqual([[...span(0, 48), ...span(96, 48)], [...span(48, 48), ...span(144, 48)]]);
		// A sorted split would give the first of two workers CPUs 0-95: both nodes.
		expect(eachInOneNode(workerSlices(d.usableCpuList, 2, null), nodes)).toBe(false);
		expect(workerSlices(d.usableCpuList, 2, nodes)).toEqual(nodes);
		// The same four slices as the runtime helper's pytest.
		expect(workerSlices(d.usableCpuList, 4, nodes)).toEqual([span(0, 48), span(96, 48), span(48, 48), span(144, 48)]);
		const counts = workerCounts(d.usableCpus, nodes);
		expect(counts).toEqual([2, 4, 8, 16]);
		for (const n of counts) expect(eachInOneNode(workerSlices(d.usableCpuList, n, nodes), nodes), `${n} workers`).toBe(true);
	});
});

describe('workerCounts with NUMA nodes', () => {
	it('one node or none known: the counts that divide the usable CPUs, as before', () => {
		expect(workerCounts(16, null)).toEqual([2, 4, 8, 16]);
		expect(workerCounts(16, [span(0, 16)])).toEqual([2, 4, 8, 16]);
		expect(workerCounts(6)).toEqual([2]);
	});

	it('four nodes: 4, 8 or 16 workers, never 2 (a worker of two nodes)', () => {
		const nodes = [0, 1, 2, 3].map(i => span(48 * i, 48));
		expect(workerCounts(192, nodes)).toEqual([4, 8, 16]);
		const three = [0, 1, 2].map(i => span(32 * i, 32));
		expect(workerCounts(96, three)).toEqual([3, 6, 12]);
	});

	it('nodes left unequal by a cpuset: the counts whose slices each fit inside a node, else the plain counts', () => {
		// 0-95 and 96-143: no multiple of two workers splits 144 CPUs without one straddling 95/96.
		expect(workerCounts(144, [span(0, 96), span(96, 48)])).toEqual(workerCounts(144)); // no per-node split fits: the plain counts, not none
		// 90-95 and 96-101: 2 or 4 workers of 6 or 3 CPUs.
		expect(workerCounts(12, [span(90, 6), span(96, 6)])).toEqual([2, 4]);
	});
});

const temps: string[] = [];

afterEach(async () => {
	for (const dir of temps.splice(0)) await fs.rm(dir, {recursive: true, force: true});
});
