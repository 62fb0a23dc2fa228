// What machine is this? Reads /proc, /sys and /etc of the live machine, or of a
// captured tree (--root DIR) so that a fleet owner can look at someone else's box.
// Facts and heuristics come from /work/shared/facts/cpu.md; every heuristic guess is
// said out loud in `platformGuess` or `notes`, never passed off as a fact.
import {GravitonTuneError} from '../errors.js';
import {promises as fs} from 'node:fs';
import path from 'node:path';
import type {CpuInfo, Detection, IsaFlags} from '../types.js';

export class HardwareError extends GravitonTuneError {
	/** Stable code: root-missing, root-not-directory, no-cpuinfo, cpuinfo-unreadable, cpuinfo-empty. */
	code: string;

	constructor(code: string, message: string) {
		super('environment', message);
		this.name = 'HardwareError';
		this.code = code;
	}
}

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
		memoryBytes: await readMemory(reader),
		thp: await readThp(reader),
		allocators: await findAllocators(reader, cpu.arch),
		cloud,
		os: await readOsRelease(reader),
		notes: reader.notes,
	};
}

// ---------------------------------------------------------------- reading files

/** Reads files under one root, and never outside it: a captured tree must not mix with the live machine. */
interface Reader {
	root: string;
	live: boolean;
	notes: string[];
	/** Text of ROOT/rel; null when missing. Unreadable files add a note saying what is then unknown. */
	text(rel: string, what: string): Promise<string | null>;
	/** Whether ROOT/rel exists (a link counts, even dangling: in a captured tree it may point at the host). */
	exists(rel: string): Promise<boolean>;
	/** The path as shown to people. */
	show(rel: string): string;
}

async function openReader(root: string | undefined): Promise<Reader> {
	const live = root === undefined;
	const base = live ? '/' : path.resolve(root);
	if (!live) await checkRoot(root, base);
	const notes: string[] = [];
	const show = (rel: string) => path.join(base, rel);
	return {
		root: base,
		live,
		notes,
		show,
		async text(rel, what) {
			try {
				return await fs.readFile(show(rel), 'utf8');
			} catch (error) {
				const code = errorCode(error);
				// Missing is ordinary (no DMI in containers, no SVE on x86); anything else is worth saying.
				if (code !== 'ENOENT' && code !== 'ENOTDIR') notes.push(`could not read ${show(rel)} (${code ?? String(error)}): ${what} unknown`);
				return null;
			}
		},
		async exists(rel) {
			try {
				await (live ? fs.stat(show(rel)) : fs.lstat(show(rel)));
				return true;
			} catch {
				return false;
			}
		},
	};
}

async function checkRoot(given: string, base: string): Promise<void> {
	try {
		const stat = await fs.stat(base);
		if (!stat.isDirectory()) throw new HardwareError('root-not-directory', `--root ${given}: not a directory (expected a captured tree with DIR/proc/cpuinfo)`);
	} catch (error) {
		if (error instanceof HardwareError) throw error;
		throw new HardwareError('root-missing', `--root ${given}: no such directory (${errorCode(error) ?? String(error)})`);
	}
}

function errorCode(error: unknown): string | undefined {
	return typeof error === 'object' && error !== null && 'code' in error ? String((error as {code: unknown}).code) : undefined;
}

/** A file's first line, trimmed; null when missing or empty. */
async function firstLine(reader: Reader, rel: string, what: string): Promise<string | null> {
	const text = await reader.text(rel, what);
	const line = text?.split('\n')[0]?.trim();
	return line ? line : null;
}

// ---------------------------------------------------------------- /proc/cpuinfo

/** One processor's block of /proc/cpuinfo, keys lowercased ("cpu implementer", "features", "flags"). */
type Processor = Map<string, string>;

async function readProcessors(reader: Reader): Promise<Processor[]> {
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
function sharedFeatures(processors: Processor[]): string[] {
	const sets = processors.map(p => new Set((p.get('features') ?? p.get('flags') ?? '').toLowerCase().split(/\s+/).filter(Boolean)));
	const [first = new Set<string>(), ...rest] = sets;
	return [...first].filter(flag => rest.every(set => set.has(flag)));
}

function archFromCpuinfo(first: Processor): string | null {
	if (first.has('cpu implementer') || first.has('features')) return 'aarch64';
	if (first.has('vendor_id') || first.has('flags')) return 'x86_64';
	return null;
}

function processArch(): string {
	return ({arm64: 'aarch64', x64: 'x86_64'} as Record<string, string>)[process.arch] ?? process.arch;
}

// ---------------------------------------------------------------- identifying the CPU

/** Arm implementer codes (MIDR bits 31:24), from the Linux cputype.h and util-linux lscpu-arm.c. */
const IMPLEMENTERS: Record<number, string> = {
	0x41: 'Arm',
	0x4e: 'NVIDIA',
	0x61: 'Apple',
	0x6d: 'Microsoft',
	0xc0: 'Ampere',
	0x48: 'HiSilicon',
	0x51: 'Qualcomm',
	0x46: 'Fujitsu',
};

/** Cores we know, keyed "implementer:part" in lowercase hex. */
const CORES: Record<string, string> = {
	'0x41:0xd08': 'Cortex-A72',
	'0x41:0xd0c': 'Neoverse-N1',
	'0x41:0xd40': 'Neoverse-V1',
	'0x41:0xd49': 'Neoverse-N2',
	'0x6d:0xd49': 'Neoverse-N2',
	'0x41:0xd4f': 'Neoverse-V2',
	'0x41:0xd84': 'Neoverse-V3',
	'0x41:0xd8e': 'Neoverse-N3',
	'0xc0:0xac3': 'AmpereOne',
	'0xc0:0xac4': 'AmpereOne-1a',
};

/** SVE width fixed by the core's design, for when the kernel does not say (older kernels, containers). */
const CORE_SVE_BITS: Record<string, number> = {'Neoverse-V1': 256, 'Neoverse-V2': 128, 'Neoverse-N2': 128};

type Dmi = {sysVendor: string | null; productName: string | null; chassisAssetTag: string | null; boardAssetTag: string | null};
type Cloud = Detection['cloud'];
type Platform = {platform: string | null; guess: string | null};

async function identifyCpu(reader: Reader, processors: Processor[], dmi: Dmi, cloud: Cloud): Promise<CpuInfo> {
	const first = processors[0]!;
	const arch = resolveArch(reader, first);
	const features = sharedFeatures(processors);
	const bogomips = Number.parseFloat(first.get('bogomips') ?? '');
	const base = {
		arch,
		modelName: first.get('model name') ?? null,
		logicalCpus: processors.length,
		features,
		isa: isaFlags(arch, new Set(features)),
		bogomips: Number.isFinite(bogomips) ? bogomips : null,
	};
	if (arch === 'aarch64') return {...base, ...(await identifyArm(reader, processors, dmi, cloud, base.isa, base.bogomips))};
	if (arch === 'x86_64') return {...base, ...identifyX86(first), ...noMidr()};
	reader.notes.push(`unknown CPU architecture in ${reader.show('proc/cpuinfo')}: nothing to tune for it`);
	return {...base, vendor: null, core: null, platform: null, platformGuess: null, sveVectorBits: null, ...noMidr()};
}

function resolveArch(reader: Reader, first: Processor): string {
	const fromCpuinfo = archFromCpuinfo(first);
	if (!reader.live) return fromCpuinfo ?? 'unknown';
	const own = processArch();
	// Node under emulation (x64 Node on an arm64 kernel) would tune the wrong binaries: say so.
	if (fromCpuinfo && fromCpuinfo !== own) {
		reader.notes.push(`the kernel reports ${fromCpuinfo} but this Node.js runs as ${own} (emulation?): Python and torch should be native ${fromCpuinfo}`);
	}
	return fromCpuinfo ?? own;
}

function isaFlags(arch: string, f: Set<string>): IsaFlags {
	const arm = arch === 'aarch64';
	const x86 = arch === 'x86_64';
	return {
		bf16: arm && f.has('bf16'),
		i8mm: arm && f.has('i8mm'),
		sve: arm && f.has('sve'),
		sve2: arm && f.has('sve2'),
		avx512: x86 && f.has('avx512f'),
		avx512bf16: x86 && f.has('avx512_bf16'),
		vnni: x86 && (f.has('avx512_vnni') || f.has('avx_vnni')),
		amx: x86 && f.has('amx_tile') && (f.has('amx_bf16') || f.has('amx_int8')),
	};
}

function noMidr() {
	return {implementer: null, part: null, variant: null, revision: null};
}

function identifyX86(first: Processor): Pick<CpuInfo, 'vendor' | 'core' | 'platform' | 'platformGuess' | 'sveVectorBits'> {
	const vendorId = first.get('vendor_id') ?? null;
	const vendor = vendorId === null ? null : ({GenuineIntel: 'Intel', AuthenticAMD: 'AMD', HygonGenuine: 'Hygon'} as Record<string, string>)[vendorId] ?? vendorId;
	const model = first.get('model name');
	return {vendor, core: null, platform: model ? cleanModelName(model) : null, platformGuess: null, sveVectorBits: null};
}

/** "Intel(R) Xeon(R) Platinum 8488C CPU @ 2.40GHz" → "Intel Xeon Platinum 8488C"; "AMD EPYC 9R14 96-Core Processor" → "AMD EPYC 9R14". */
function cleanModelName(model: string): string {
	return model
		.replace(/\((R|TM|tm|r)\)/g, '')
		.replace(/\s+CPU\s+@.*$/, '')
		.replace(/\s+@\s+[\d.]+\s*GHz$/i, '')
		// The core count is the socket's, not this machine's vCPUs: it misleads next to "4 vCPU".
		.replace(/\s+\d+-Core Processor$/, '')
		.replace(/\s+Processor$/, '')
		.replace(/\s+/g, ' ')
		.trim();
}

async function identifyArm(
	reader: Reader,
	processors: Processor[],
	dmi: Dmi,
	cloud: Cloud,
	isa: IsaFlags,
	bogomips: number | null,
): Promise<Omit<CpuInfo, 'arch' | 'modelName' | 'logicalCpus' | 'features' | 'isa' | 'bogomips'>> {
	const first = processors[0]!;
	const midr = {
		implementer: normHex(first.get('cpu implementer'), 2),
		part: normHex(first.get('cpu part'), 3),
		variant: normHex(first.get('cpu variant'), 1),
		revision: first.get('cpu revision') ?? null,
	};
	noteMixedCores(reader, processors);
	const vendor = midr.implementer ? IMPLEMENTERS[Number.parseInt(midr.implementer, 16)] ?? null : null;
	const core = midr.implementer && midr.part ? CORES[`${midr.implementer}:${midr.part}`] ?? null : null;
	if (core === null) {
		reader.notes.push(
			`unknown Arm CPU (implementer ${midr.implementer ?? '?'}${vendor ? ` ${vendor}` : ''}, part ${midr.part ?? '?'}): recipes are chosen from its feature flags only`,
		);
	}
	const {platform, guess} = core ? armPlatform(core, {dmi, cloud, bogomips, revision: midr.revision}) : {platform: null, guess: null};
	if (core && platform === null) reader.notes.push(`${core} in an unknown product: recipes are chosen from its feature flags`);
	return {vendor, core, platform, platformGuess: guess, sveVectorBits: await sveBits(reader, isa, core), ...midr};
}

/** "0x41" / "0XD40" / "0x1" → "0x41" / "0xd40" / "0x001", the kernel's own widths; null when absent or not hex. */
function normHex(value: string | undefined, digits: number): string | null {
	if (value === undefined) return null;
	const n = Number.parseInt(value, 16);
	return Number.isNaN(n) ? null : `0x${n.toString(16).padStart(digits, '0')}`;
}

function noteMixedCores(reader: Reader, processors: Processor[]): void {
	const kinds = new Set(processors.map(p => `${normHex(p.get('cpu implementer'), 2)}:${normHex(p.get('cpu part'), 3)}`));
	if (kinds.size > 1) reader.notes.push(`processors of different kinds (${[...kinds].join(', ')}): identified by the first one`);
}

interface PlatformClues {
	dmi: Dmi;
	cloud: Cloud;
	bogomips: number | null;
	revision: string | null;
}

/** Which product a known core is in. DMI settles it when present; otherwise a heuristic, said as such. */
function armPlatform(core: string, c: PlatformClues): Platform {
	const aws = c.cloud.provider === 'aws';
	const dmiSeen = Object.values(c.dmi).some(v => v !== null);
	switch (core) {
		case 'Cortex-A72':
			return {platform: aws ? 'AWS Graviton' : null, guess: null};
		case 'Neoverse-N1':
			return n1Platform(aws, dmiSeen, c);
		case 'Neoverse-V1':
			if (aws) return {platform: graviton3Name(c.cloud.instanceType), guess: null};
			return dmiSeen
				? {platform: null, guess: null}
				: {platform: 'AWS Graviton3', guess: 'no DMI to read; Graviton3 is the Neoverse-V1 machine one meets in practice'};
		case 'Neoverse-V2':
			return v2Platform(aws, dmiSeen, c);
		case 'Neoverse-V3':
			return {platform: aws ? 'AWS Graviton5' : null, guess: null};
		case 'Neoverse-N2':
			return {platform: c.cloud.provider === 'azure' ? 'Azure Cobalt 100' : null, guess: null};
		case 'AmpereOne':
		case 'AmpereOne-1a':
			return {platform: 'AmpereOne', guess: null};
		default:
			return {platform: null, guess: null};
	}
}

/** Graviton3E (c7gn, hpc7g) shares Graviton3's MIDR: only the instance family tells. */
function graviton3Name(instanceType: string | null): string {
	return /^(c7gn|hpc7g)\./.test(instanceType ?? '') ? 'AWS Graviton3E' : 'AWS Graviton3';
}

/** Graviton2 and Ampere Altra share MIDR 0x413fd0c1. */
function n1Platform(aws: boolean, dmiSeen: boolean, c: PlatformClues): Platform {
	if (aws) return {platform: 'AWS Graviton2', guess: null};
	const altraTimer = c.bogomips === 50;
	if (dmiSeen) {
		// AWS always fills DMI, so a non-Amazon DMI rules Graviton2 out; Altra is the N1 part sold elsewhere.
		if (altraTimer) return {platform: 'Ampere Altra', guess: null};
		const guess = `DMI is not Amazon EC2 (sys_vendor ${quoted(c.dmi.sysVendor)}), so not Graviton2; Ampere Altra is the usual other Neoverse-N1, but BogoMIPS ${c.bogomips ?? '?'} is not its usual 50.00`;
		return {platform: 'Ampere Altra', guess};
	}
	if (c.bogomips === 243.75) return {platform: 'AWS Graviton2', guess: 'no DMI to read; BogoMIPS 243.75 matches Graviton2 (Ampere Altra shows 50.00)'};
	if (altraTimer) return {platform: 'Ampere Altra', guess: 'no DMI to read; BogoMIPS 50.00 matches Ampere Altra (Graviton2 shows 243.75)'};
	return {platform: null, guess: null};
}

/** Graviton4, NVIDIA Grace and Google Axion are all Neoverse-V2 (0x41/0xd4f). */
function v2Platform(aws: boolean, dmiSeen: boolean, c: PlatformClues): Platform {
	if (aws) return {platform: 'AWS Graviton4', guess: null};
	if (c.cloud.provider === 'gcp') return {platform: 'Google Axion', guess: null};
	if (/nvidia/i.test(c.dmi.sysVendor ?? '')) return {platform: 'NVIDIA Grace', guess: null};
	if (dmiSeen) {
		const guess = `DMI is not Amazon EC2 (sys_vendor ${quoted(c.dmi.sysVendor)}), so not Graviton4; Grace is the usual Neoverse-V2 server outside the clouds`;
		return {platform: 'NVIDIA Grace', guess};
	}
	// Weak: from a handful of dumps (Graviton4 revision 1, Grace revision 0).
	if (c.revision === '1') return {platform: 'AWS Graviton4', guess: 'no DMI to read; CPU revision 1 matches Graviton4 dumps (Grace shows 0), a weak clue'};
	if (c.revision === '0') return {platform: 'NVIDIA Grace', guess: 'no DMI to read; CPU revision 0 matches Grace dumps (Graviton4 shows 1), a weak clue'};
	return {platform: null, guess: null};
}

function quoted(value: string | null): string {
	return value === null ? 'empty' : JSON.stringify(value);
}

async function sveBits(reader: Reader, isa: IsaFlags, core: string | null): Promise<number | null> {
	if (!isa.sve) return null;
	const line = await firstLine(reader, 'proc/sys/abi/sve_default_vector_length', 'SVE vector length');
	const bytes = line === null ? Number.NaN : Number.parseInt(line, 10);
	if (Number.isFinite(bytes) && bytes > 0) return bytes * 8;
	return core ? CORE_SVE_BITS[core] ?? null : null;
}

// ---------------------------------------------------------------- DMI and cloud

async function readDmi(reader: Reader): Promise<Dmi> {
	const field = (name: string) => firstLine(reader, `sys/devices/virtual/dmi/id/${name}`, `DMI ${name}`);
	return {
		sysVendor: await field('sys_vendor'),
		productName: await field('product_name'),
		chassisAssetTag: await field('chassis_asset_tag'),
		boardAssetTag: await field('board_asset_tag'),
	};
}

/** Offline cloud detection, the way cloud-init's ds-identify and systemd's virt.c do it. */
export function cloudFromDmi(dmi: Dmi): Cloud {
	if (dmi.sysVendor === 'Amazon EC2') return {provider: 'aws', instanceType: dmi.productName};
	if (dmi.productName === 'Google Compute Engine' || dmi.sysVendor === 'Google Compute Engine') return {provider: 'gcp', instanceType: null};
	if (dmi.chassisAssetTag === '7783-7084-3265-9085-8269-3286-77') return {provider: 'azure', instanceType: null};
	if (dmi.chassisAssetTag === 'OracleCloud.com') return {provider: 'oci', instanceType: null};
	return {provider: null, instanceType: null};
}

// ---------------------------------------------------------------- usable CPUs

async function readUsableCpus(reader: Reader, processors: Processor[]): Promise<{usable: number; list: number[]; quota: number | null}> {
	const online = (await readCpuList(reader, 'sys/devices/system/cpu/online', 'online CPUs')) ?? processors.map(p => Number(p.get('processor')));
	const groups = await cgroupDirs(reader);
	const cpuset = await readCpuset(reader, groups);
	let list = cpuset ? online.filter(id => cpuset.includes(id)) : online;
	if (list.length === 0) {
		reader.notes.push('the cpuset shares no CPU with the online CPUs: using the online CPUs');
		list = online;
	}
	list = [...new Set(list)].sort((a, b) => a - b);
	const quota = await readQuota(reader, groups);
	// A quota of 1.5 CPUs cannot keep two threads busy: round down, but never below one.
	const usable = quota === null ? list.length : Math.max(1, Math.min(list.length, Math.floor(quota)));
	return {usable, list, quota};
}

async function readCpuList(reader: Reader, rel: string, what: string): Promise<number[] | null> {
	const line = await firstLine(reader, rel, what);
	if (line === null) return null;
	const list = parseCpuList(line);
	if (list === null) reader.notes.push(`could not parse ${reader.show(rel)} (${JSON.stringify(line)}): ${what} unknown`);
	return list;
}

/** Kernel CPU list syntax: "0-3,8,10-11" → [0,1,2,3,8,10,11]. Null when malformed. */
export function parseCpuList(text: string): number[] | null {
	const ids: number[] = [];
	for (const part of text.trim().split(',')) {
		const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
		if (!m) return null;
		const from = Number(m[1]);
		const to = m[2] === undefined ? from : Number(m[2]);
		if (to < from) return null;
		for (let id = from; id <= to; id++) ids.push(id);
	}
	return ids;
}

/** The process's cgroup directories, own first, then its ancestors up to each mount. */
interface CgroupDirs {
	v2: string[];
	cpusetV1: string[];
	cpuV1: string[];
}

async function cgroupDirs(reader: Reader): Promise<CgroupDirs> {
	// A captured tree has no "self": its cgroup files sit at ROOT/sys/fs/cgroup.
	const own = reader.live
		? parseProcCgroup((await reader.text('proc/self/cgroup', 'own cgroup')) ?? '')
		: {v2: '/', v1: new Map<string, string>()};
	const v2Mount = !reader.live || (await reader.exists('sys/fs/cgroup/cgroup.controllers')) ? 'sys/fs/cgroup' : 'sys/fs/cgroup/unified';
	const cpuMount = (await reader.exists('sys/fs/cgroup/cpu')) ? 'sys/fs/cgroup/cpu' : 'sys/fs/cgroup/cpu,cpuacct';
	return {
		v2: await chain(reader, v2Mount, own.v2 ?? '/'),
		cpusetV1: await chain(reader, 'sys/fs/cgroup/cpuset', own.v1.get('cpuset') ?? '/'),
		cpuV1: await chain(reader, cpuMount, own.v1.get('cpu') ?? '/'),
	};
}

/** "0::/user.slice" (v2) and "3:cpu,cpuacct:/docker/ab" (v1) lines of /proc/self/cgroup. */
function parseProcCgroup(text: string): {v2: string | null; v1: Map<string, string>} {
	let v2: string | null = null;
	const v1 = new Map<string, string>();
	for (const line of text.split('\n')) {
		const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
		if (!m) continue;
		if (m[1] === '0' && m[2] === '') v2 = m[3]!;
		else for (const controller of m[2]!.split(',')) v1.set(controller, m[3]!);
	}
	return {v2, v1};
}

async function chain(reader: Reader, mount: string, own: string): Promise<string[]> {
	const dir = path.posix.join(mount, own).replace(/\/+$/, '');
	// Without a cgroup namespace the path is the host's, absent inside the container,
	// whose own cgroup is then mounted at the top: read the mount itself.
	if (dir === mount || !(await reader.exists(dir))) return [mount];
	const dirs: string[] = [];
	for (let d = dir; d.startsWith(mount); d = path.posix.dirname(d)) {
		dirs.push(d);
		if (d === mount) break;
	}
	return dirs;
}

async function readCpuset(reader: Reader, groups: CgroupDirs): Promise<number[] | null> {
	const candidates = [
		...groups.v2.map(d => `${d}/cpuset.cpus.effective`),
		...groups.cpusetV1.flatMap(d => [`${d}/cpuset.effective_cpus`, `${d}/cpuset.cpus`]),
	];
	for (const rel of candidates) {
		if (!(await reader.exists(rel))) continue;
		const line = await firstLine(reader, rel, 'cpuset');
		// An empty cpuset.cpus means "inherit": keep looking up the tree.
		if (line === null) continue;
		return readCpuList(reader, rel, 'cpuset');
	}
	return null;
}

/** The tightest CPU quota on the way up, in CPUs (2.0 = two CPUs' worth of time), or null when unlimited. */
async function readQuota(reader: Reader, groups: CgroupDirs): Promise<number | null> {
	const quotas: number[] = [];
	for (const d of groups.v2) {
		const line = await firstLine(reader, `${d}/cpu.max`, 'CPU quota');
		const q = line === null ? null : parseCpuMax(line);
		if (q !== null) quotas.push(q);
	}
	for (const d of groups.cpuV1) {
		const quota = await firstLine(reader, `${d}/cpu.cfs_quota_us`, 'CPU quota');
		const period = await firstLine(reader, `${d}/cpu.cfs_period_us`, 'CPU quota');
		const q = quota === null || period === null ? null : parseCpuMax(`${quota} ${period}`);
		if (q !== null) quotas.push(q);
	}
	return quotas.length > 0 ? Math.min(...quotas) : null;
}

/** cgroup v2 cpu.max: "max 100000" → null (unlimited); "150000 100000" → 1.5. v1's -1 quota is unlimited too. */
export function parseCpuMax(text: string): number | null {
	const [quota, period] = text.trim().split(/\s+/);
	const q = Number(quota);
	const p = Number(period ?? 100000);
	if (quota === 'max' || !Number.isFinite(q) || q <= 0 || !Number.isFinite(p) || p <= 0) return null;
	return q / p;
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

/** Versioned names first: distributions ship the bare .so only in -dev packages. Full tcmalloc beats minimal. */
const ALLOCATOR_NAMES = {
	tcmalloc: ['libtcmalloc.so.4', 'libtcmalloc.so', 'libtcmalloc_minimal.so.4', 'libtcmalloc_minimal.so'],
	jemalloc: ['libjemalloc.so.2', 'libjemalloc.so'],
};

/**
 * Allocator libraries for LD_PRELOAD, as paths on the detected machine (without the --root prefix).
 * Unlike PyTorch's run_cpu.py, this looks in multiarch directories, where Debian and Ubuntu put them.
 */
async function findAllocators(reader: Reader, arch: string): Promise<Detection['allocators']> {
	const triplets = arch === 'aarch64' || arch === 'x86_64' ? [`${arch}-linux-gnu`] : ['aarch64-linux-gnu', 'x86_64-linux-gnu'];
	const dirs = [...triplets.map(t => `usr/lib/${t}`), 'usr/lib64', 'usr/lib', 'usr/local/lib'];
	const find = async (names: string[]) => {
		for (const name of names) {
			for (const dir of dirs) {
				if (await reader.exists(`${dir}/${name}`)) return `/${dir}/${name}`;
			}
		}
		return null;
	};
	return {tcmalloc: await find(ALLOCATOR_NAMES.tcmalloc), jemalloc: await find(ALLOCATOR_NAMES.jemalloc)};
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
