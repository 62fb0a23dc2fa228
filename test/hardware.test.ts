import {promises as fs, readFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterEach, describe, expect, it} from 'vitest';
import {describeDetection, summaryLine} from '../source/core/machine/describe.js';
import {detectHardware} from '../source/core/machine/hardware.js';
import {HardwareError} from '../source/core/machine/root-files.js';
import {parseCpuList, parseCpuMax} from '../source/core/machine/usable-cpus.js';
import type {Detection, IsaFlags} from '../source/core/types.js';

const trees = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'trees');
const tree = (name: string) => detectHardware({root: path.join(trees, name)});

const NO_ISA: IsaFlags = {bf16: false, i8mm: false, sve: false, sve2: false, avx512: false, avx512bf16: false, vnni: false, amx: false};
const range = (n: number) => Array.from({length: n}, (_, i) => i);

/** The fields `detect --json` is judged on, in one object, so a failure shows the whole picture. */
function essentials(d: Detection) {
	return {
		arch: d.cpu.arch,
		vendor: d.cpu.vendor,
		core: d.cpu.core,
		platform: d.cpu.platform,
		guessed: d.cpu.platformGuess !== null,
		isa: d.cpu.isa,
		sveVectorBits: d.cpu.sveVectorBits,
		logicalCpus: d.cpu.logicalCpus,
		usableCpus: d.usableCpus,
		thp: d.thp,
		allocators: d.allocators,
		cloud: d.cloud,
	};
}

describe('captured trees', () => {
	it('graviton2: c6g.xlarge, Neoverse-N1, identified by DMI', async () => {
		const d = await tree('graviton2');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-N1',
			platform: 'AWS Graviton2',
			guessed: false,
			isa: NO_ISA,
			sveVectorBits: null,
			logicalCpus: 4,
			usableCpus: 4,
			thp: 'madvise',
			allocators: {tcmalloc: null, jemalloc: null, mimalloc: null},
			cloud: {provider: 'aws', instanceType: 'c6g.xlarge'},
		});
		expect(d.cpu).toMatchObject({implementer: '0x41', part: '0xd0c', variant: '0x3', revision: '1', bogomips: 243.75});
		expect(d.os).toEqual({id: 'amzn', idLike: ['fedora'], versionId: '2023', prettyName: 'Amazon Linux 2023.6.20241212'});
		expect(d.live).toBe(false);
		expect(d.root).toBe(path.join(trees, 'graviton2'));
		expect(d.notes).toEqual([]);
	});

	it('altra: same MIDR as Graviton2, no DMI, so BogoMIPS 50.00 makes it a guess', async () => {
		const d = await tree('altra');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-N1',
			platform: 'Ampere Altra',
			guessed: true,
			isa: NO_ISA,
			sveVectorBits: null,
			logicalCpus: 8,
			usableCpus: 8,
			thp: 'madvise',
			allocators: {tcmalloc: null, jemalloc: null, mimalloc: null},
			cloud: {provider: null, instanceType: null},
		});
		expect(d.cpu.platformGuess).toMatch(/BogoMIPS 50\.00/);
		expect(d.cpu.bogomips).toBe(50);
	});

	it('oci-a1: Neoverse-N1 with Oracle DMI is Ampere Altra, no guess', async () => {
		const d = await tree('oci-a1');
		expect(essentials(d)).toMatchObject({core: 'Neoverse-N1', platform: 'Ampere Altra', guessed: false, cloud: {provider: 'oci', instanceType: null}});
		expect(d.os.id).toBe('ol');
	});

	it('graviton3: c7g.2xlarge, SVE 256-bit without SVE2, full tcmalloc preferred over minimal', async () => {
		const d = await tree('graviton3');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-V1',
			platform: 'AWS Graviton3',
			guessed: false,
			isa: {...NO_ISA, bf16: true, i8mm: true, sve: true},
			sveVectorBits: 256,
			logicalCpus: 8,
			usableCpus: 8,
			thp: 'madvise',
			allocators: {tcmalloc: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4', jemalloc: null, mimalloc: null},
			cloud: {provider: 'aws', instanceType: 'c7g.2xlarge'},
		});
		expect(d.usableCpuList).toEqual(range(8));
		expect(d.cpuQuota).toBeNull();
		expect(d.cpu.features).toContain('svebf16');
		expect(d.cpu.features).not.toContain('sve2');
		expect(d.memoryBytes).toBe(15938956 * 1024);
		expect(d.os).toMatchObject({id: 'ubuntu', idLike: ['debian'], versionId: '24.04'});
	});

	it('graviton3-container: cpuset 0-3 and cpu.max 200000/100000 leave 2 usable CPUs', async () => {
		const d = await tree('graviton3-container');
		expect(essentials(d)).toMatchObject({platform: 'AWS Graviton3', logicalCpus: 8, usableCpus: 2});
		expect(d.usableCpuList).toEqual([0, 1, 2, 3]);
		expect(d.cpuQuota).toBe(2);
	});

	it('graviton4: c8g.xlarge, SVE2 128-bit, Amazon Linux jemalloc in /usr/lib64', async () => {
		const d = await tree('graviton4');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-V2',
			platform: 'AWS Graviton4',
			guessed: false,
			isa: {...NO_ISA, bf16: true, i8mm: true, sve: true, sve2: true},
			sveVectorBits: 128,
			logicalCpus: 4,
			usableCpus: 4,
			thp: 'madvise',
			allocators: {tcmalloc: null, jemalloc: '/usr/lib64/libjemalloc.so.2', mimalloc: null},
			cloud: {provider: 'aws', instanceType: 'c8g.xlarge'},
		});
		expect(d.cpu.revision).toBe('1');
	});

	// Constructed from published facts, not captured on a real machine (fixtures/trees/graviton5/ABOUT.md).
	it('graviton5 (a constructed tree): Neoverse-V3, SVE2 128-bit, 192 vCPUs on two NUMA nodes', async () => {
		const d = await tree('graviton5');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-V3',
			platform: 'AWS Graviton5',
			guessed: false,
			isa: {...NO_ISA, bf16: true, i8mm: true, sve: true, sve2: true},
			sveVectorBits: 128,
			logicalCpus: 192,
			usableCpus: 192,
			thp: 'madvise',
			allocators: {tcmalloc: null, jemalloc: '/usr/lib64/libjemalloc.so.2', mimalloc: null},
			cloud: {provider: 'aws', instanceType: null},
		});
		expect(d.cpu).toMatchObject({implementer: '0x41', part: '0xd84'});
		expect(d.numaNodes).toEqual([range(96), range(96).map(i => 96 + i)]);
		expect(d.notes).toEqual([]);
		expect(summaryLine(d)).toBe('AWS Graviton5 (Neoverse-V3), 192 vCPU, SVE2 128-bit, BF16, I8MM');
	});

	it('grace: Neoverse-V2 with NVIDIA DMI is Grace, not Graviton4', async () => {
		const d = await tree('grace');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Arm',
			core: 'Neoverse-V2',
			platform: 'NVIDIA Grace',
			guessed: false,
			isa: {...NO_ISA, bf16: true, i8mm: true, sve: true, sve2: true},
			sveVectorBits: 128,
			logicalCpus: 72,
			usableCpus: 72,
			thp: 'always',
			allocators: {tcmalloc: null, jemalloc: null, mimalloc: null},
			cloud: {provider: null, instanceType: null},
		});
	});

	it('Neoverse-V2 with a server maker in DMI: not Graviton4, Grace as a guess', async () => {
		const dir = await copyTree('grace');
		await fs.writeFile(path.join(dir, 'sys/devices/virtual/dmi/id/sys_vendor'), 'Supermicro\n');
		const d = await detectHardware({root: dir});
		expect(d.cpu.platform).toBe('NVIDIA Grace');
		expect(d.cpu.platformGuess).toMatch(/"Supermicro"/);
	});

	it('Neoverse-V2 without DMI: revision decides, and it is a guess', async () => {
		const dir = await copyTree('graviton4');
		await fs.rm(path.join(dir, 'sys/devices/virtual/dmi'), {recursive: true});
		const g4 = await detectHardware({root: dir});
		expect(g4.cpu.platform).toBe('AWS Graviton4');
		expect(g4.cpu.platformGuess).toMatch(/revision 1/);
		const cpuinfo = path.join(dir, 'proc/cpuinfo');
		await fs.writeFile(cpuinfo, (await fs.readFile(cpuinfo, 'utf8')).replaceAll('CPU revision\t: 1', 'CPU revision\t: 0'));
		const grace = await detectHardware({root: dir});
		expect(grace.cpu.platform).toBe('NVIDIA Grace');
		expect(grace.cpu.platformGuess).toMatch(/revision 0/);
		expect(grace.cloud.provider).toBeNull();
	});

	it('unknown-arm: Qualcomm implementer, unknown part → nulls and a note', async () => {
		const d = await tree('unknown-arm');
		expect(essentials(d)).toEqual({
			arch: 'aarch64',
			vendor: 'Qualcomm',
			core: null,
			platform: null,
			guessed: false,
			isa: NO_ISA,
			sveVectorBits: null,
			logicalCpus: 4,
			usableCpus: 4,
			thp: null,
			allocators: {tcmalloc: null, jemalloc: null, mimalloc: null},
			cloud: {provider: null, instanceType: null},
		});
		expect(d.cpu).toMatchObject({implementer: '0x51', part: '0x001'});
		expect(d.notes.join('\n')).toMatch(/unknown Arm CPU \(implementer 0x51 Qualcomm, part 0x001\)/);
	});

	it('sapphire-rapids: c7i.2xlarge, AVX-512 BF16, VNNI and AMX', async () => {
		const d = await tree('sapphire-rapids');
		expect(essentials(d)).toEqual({
			arch: 'x86_64',
			vendor: 'Intel',
			core: null,
			platform: 'Intel Xeon Platinum 8488C',
			guessed: false,
			isa: {...NO_ISA, avx512: true, avx512bf16: true, vnni: true, amx: true},
			sveVectorBits: null,
			logicalCpus: 8,
			usableCpus: 8,
			thp: 'always',
			allocators: {tcmalloc: null, jemalloc: null, mimalloc: null},
			cloud: {provider: 'aws', instanceType: 'c7i.2xlarge'},
		});
		expect(d.cpu).toMatchObject({modelName: 'Intel(R) Xeon(R) Platinum 8488C', implementer: null, part: null, bogomips: 4800});
	});

	it('zen4: c7a.xlarge, AVX-512 BF16 and VNNI but no AMX; minimal tcmalloc when that is all there is', async () => {
		const d = await tree('zen4');
		expect(essentials(d)).toEqual({
			arch: 'x86_64',
			vendor: 'AMD',
			core: null,
			platform: 'AMD EPYC 9R14',
			guessed: false,
			isa: {...NO_ISA, avx512: true, avx512bf16: true, vnni: true},
			sveVectorBits: null,
			logicalCpus: 4,
			usableCpus: 4,
			thp: 'madvise',
			allocators: {tcmalloc: '/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4', jemalloc: '/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', mimalloc: null},
			cloud: {provider: 'aws', instanceType: 'c7a.xlarge'},
		});
		expect(d.cpu.features).not.toContain('avx_vnni');
		expect(d.cpu.modelName).toBe('AMD EPYC 9R14 96-Core Processor');
	});
});

describe('errors and best effort', () => {
	it('a missing root is a HardwareError that names it', async () => {
		const missing = path.join(os.tmpdir(), 'gt-no-such-tree-' + process.pid);
		const error = await detectHardware({root: missing}).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(HardwareError);
		expect(error).toMatchObject({code: 'root-missing'});
		expect((error as Error).message).toContain(`--root ${missing}: no such directory`);
	});

	it('a root without proc/cpuinfo says what a captured tree looks like', async () => {
		const dir = await tempDir();
		const error = await detectHardware({root: dir}).catch((e: unknown) => e);
		expect(error).toBeInstanceOf(HardwareError);
		expect(error).toMatchObject({code: 'no-cpuinfo'});
		expect((error as Error).message).toBe(`--root ${dir}: no proc/cpuinfo there (expected a captured tree with DIR/proc/cpuinfo)`);
	});

	it('a root that is a file is refused', async () => {
		const dir = await tempDir();
		const file = path.join(dir, 'file');
		await fs.writeFile(file, '');
		await expect(detectHardware({root: file})).rejects.toMatchObject({code: 'root-not-directory'});
	});

	it('an unreadable optional file becomes a note, not a failure', async () => {
		const dir = await copyTree('graviton2');
		// A directory where a file should be fails to read even for root, unlike chmod 000.
		await fs.rm(path.join(dir, 'proc/meminfo'));
		await fs.mkdir(path.join(dir, 'proc/meminfo'));
		const d = await detectHardware({root: dir});
		expect(d.memoryBytes).toBeNull();
		expect(d.notes).toEqual([`could not read ${path.join(dir, 'proc/meminfo')} (EISDIR): memory size unknown`]);
		expect(d.cpu.platform).toBe('AWS Graviton2');
	});

	it('a tree with only cpuinfo still gives an answer', async () => {
		const dir = await tempDir();
		await fs.mkdir(path.join(dir, 'proc'));
		await fs.copyFile(path.join(trees, 'graviton3/proc/cpuinfo'), path.join(dir, 'proc/cpuinfo'));
		const d = await detectHardware({root: dir});
		expect(d.cpu.core).toBe('Neoverse-V1');
		// No DMI: the core alone points at Graviton3, said as a guess; SVE width from the core's design.
		expect(d.cpu.platform).toBe('AWS Graviton3');
		expect(d.cpu.platformGuess).not.toBeNull();
		expect(d.cpu.sveVectorBits).toBe(256);
		expect(d).toMatchObject({usableCpus: 8, usableCpuList: range(8), memoryBytes: null, thp: null, cloud: {provider: null}});
		expect(d.os).toEqual({id: null, idLike: [], versionId: null, prettyName: null});
	});
});

describe('NUMA nodes', () => {
	const nodeDir = (dir: string, id: number) => path.join(dir, 'sys/devices/system/node', `node${id}`);
	const writeNode = async (dir: string, id: number, cpulist: string) => {
		await fs.mkdir(nodeDir(dir, id), {recursive: true});
		await fs.writeFile(path.join(nodeDir(dir, id), 'cpulist'), `${cpulist}\n`);
	};

	it('a tree without node folders: unknown (null), and detect says nothing of NUMA', async () => {
		const d = await tree('graviton4');
		expect(d.numaNodes).toBeNull();
		expect(describeDetection(d)).not.toMatch(/NUMA/);
	});

	it('detect shows the nodes where there are two', async () => {
		expect(describeDetection(await tree('graviton5'))).toMatch(/\n {2}NUMA nodes {3}2: CPUs 0-95; 96-191\n/);
	});

	it('one node: read, but not shown', async () => {
		const dir = await copyTree('graviton4');
		await writeNode(dir, 0, '0-3');
		const d = await detectHardware({root: dir});
		expect(d.numaNodes).toEqual([[0, 1, 2, 3]]);
		expect(describeDetection(d)).not.toMatch(/NUMA/);
	});

	it('only the usable CPUs of each node; a node left with none is left out', async () => {
		const dir = await copyTree('graviton5');
		const cpuset = path.join(dir, 'sys/fs/cgroup/cpuset.cpus.effective');
		await fs.writeFile(cpuset, '90-101\n');
		expect((await detectHardware({root: dir})).numaNodes).toEqual([[90, 91, 92, 93, 94, 95], [96, 97, 98, 99, 100, 101]]);
		await fs.writeFile(cpuset, '96-143\n');
		expect((await detectHardware({root: dir})).numaNodes).toEqual([range(48).map(i => 96 + i)]);
	});

	it('nodes whose CPU ids interleave are read as they are, in node order', async () => {
		const dir = await copyTree('graviton5');
		await writeNode(dir, 0, '0-47,96-143');
		await writeNode(dir, 1, '48-95,144-191');
		const d = await detectHardware({root: dir});
		expect(d.numaNodes?.map(n => n.length)).toEqual([96, 96]);
		expect(d.numaNodes?.[0]).toEqual([...range(48), ...range(48).map(i => 96 + i)]);
		expect(describeDetection(d)).toMatch(/NUMA nodes {3}2: CPUs 0-47,96-143; 48-95,144-191/);
	});

	it('a node without CPUs (memory only, an empty cpulist) is left out', async () => {
		const dir = await copyTree('graviton5');
		await writeNode(dir, 2, '');
		expect((await detectHardware({root: dir})).numaNodes).toHaveLength(2);
	});

	it('usable CPUs in no node: the layout is unknown, said in a note', async () => {
		const dir = await copyTree('graviton5');
		await writeNode(dir, 1, '96-150');
		const d = await detectHardware({root: dir});
		expect(d.numaNodes).toBeNull();
		expect(d.notes).toEqual([`CPUs 151-191 are in no NUMA node under ${path.join(dir, 'sys/devices/system/node')}: NUMA layout unknown`]);
	});
});

describe('parsers', () => {
	it('parseCpuList reads the kernel notation', () => {
		expect(parseCpuList('0-3,8,10-11\n')).toEqual([0, 1, 2, 3, 8, 10, 11]);
		expect(parseCpuList('5')).toEqual([5]);
		expect(parseCpuList('3-1')).toBeNull();
		expect(parseCpuList('a')).toBeNull();
	});

	it('parseCpuMax reads quotas in CPUs', () => {
		expect(parseCpuMax('max 100000')).toBeNull();
		expect(parseCpuMax('150000 100000')).toBe(1.5);
		expect(parseCpuMax('-1 100000')).toBeNull();
	});

	it('a 1.5-CPU quota floors to 1 usable CPU', async () => {
		const dir = await copyTree('graviton3-container');
		await fs.writeFile(path.join(dir, 'sys/fs/cgroup/cpu.max'), '150000 100000\n');
		const d = await detectHardware({root: dir});
		expect(d).toMatchObject({usableCpus: 1, cpuQuota: 1.5, usableCpuList: [0, 1, 2, 3]});
	});
});

describe('the live machine', () => {
	it('is read without --root', async () => {
		const d = await detectHardware();
		const processors = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length;
		expect(d.live).toBe(true);
		expect(d.root).toBe('/');
		expect(d.cpu.arch).toBe(process.arch === 'arm64' ? 'aarch64' : 'x86_64');
		expect(d.cpu.logicalCpus).toBe(processors);
		expect(d.usableCpus).toBeGreaterThanOrEqual(1);
		expect(d.usableCpus).toBeLessThanOrEqual(d.cpu.logicalCpus);
		expect(d.memoryBytes).toBeGreaterThan(0);
		expect(describeDetection(d).split('\n').every(line => line.length <= 80)).toBe(true);
	});
});

describe('describeDetection', () => {
	it('summarises graviton3 in one line', async () => {
		const d = await tree('graviton3');
		expect(summaryLine(d)).toBe('AWS Graviton3 (Neoverse-V1), 8 vCPU, SVE 256-bit, BF16, I8MM — c7g.2xlarge');
		expect(describeDetection(d).split('\n')[0]).toBe(summaryLine(d));
	});

	it('summarises zen4 in one line', async () => {
		const d = await tree('zen4');
		expect(describeDetection(d).split('\n')[0]).toBe('AMD EPYC 9R14, 4 vCPU, AVX-512, AVX-512 BF16, VNNI — c7a.xlarge');
	});

	it('says why fewer CPUs are usable, and that a platform is a guess', async () => {
		const container = describeDetection(await tree('graviton3-container'));
		expect(container).toMatch(/usable CPUs\s+2 of 8 \(cpuset 0-3; cgroup quota 2 CPUs\)/);
		const altra = describeDetection(await tree('altra'));
		expect(altra.split('\n')[0]).toBe('probably Ampere Altra (Neoverse-N1), 8 vCPU');
		expect(altra).toMatch(/note\s+platform is a guess: no DMI/);
	});

	it('fits 80 columns for every tree', async () => {
		for (const name of await fs.readdir(trees)) {
			const text = describeDetection(await tree(name));
			for (const line of text.split('\n')) expect(line.length, `${name}: ${line}`).toBeLessThanOrEqual(80);
		}
	});
});

// ---------------------------------------------------------------- helpers

const temps: string[] = [];

afterEach(async () => {
	for (const dir of temps.splice(0)) await fs.rm(dir, {recursive: true, force: true});
});

async function tempDir(): Promise<string> {
	const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'gt-hw-'));
	temps.push(dir);
	return dir;
}

async function copyTree(name: string): Promise<string> {
	const dir = await tempDir();
	await fs.cp(path.join(trees, name), dir, {recursive: true});
	return dir;
}
