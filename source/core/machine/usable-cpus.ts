// Which CPUs this process may use: the online CPUs within its cpuset (cgroup v2 or v1, own
// group first, then up the tree), and the tightest CPU quota on the way, in CPUs.
import path from 'node:path';
import type {Processor} from './cpuinfo.js';
import {firstLine} from './root-files.js';
import type {Reader} from './root-files.js';

export async function readUsableCpus(reader: Reader, processors: Processor[]): Promise<{usable: number; list: number[]; quota: number | null}> {
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

/** A file in the kernel's CPU list syntax; null when missing or empty, and with a note when malformed. */
export async function readCpuList(reader: Reader, rel: string, what: string): Promise<number[] | null> {
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
