// A busy machine: how much of the CPUs a probe was given went to other processes.
// With another process on one of two CPUs, OpenMP threads wait for the descheduled one
// and a probe reads 1 sample/s where an idle machine gives 32; such figures must not
// decide anything. The machine's CPU time comes from /proc/stat (per CPU, steal time
// included: on a VM it is time the hypervisor gave to someone else), the probe tree's
// own from /proc/PID/stat; what the CPUs did beyond the tree (and graviton-tune itself)
// went to others. Both count in the same clock ticks (USER_HZ).
import {GravitonTuneError} from '../errors.js';
import {readdirSync, readFileSync} from 'node:fs';
import type {Contention, ProbeEvent, WalkResult, ProbeRecord} from '../types.js';

/** Share of the probe's CPUs that may go to others before its figures are called contended. */
export const DEFAULT_BUSY_THRESHOLD = 0.1;

/**
 * The threshold, from GRAVITON_TUNE_BUSY_THRESHOLD when set (a share 0–1; 1 never calls a
 * probe contended: for machines that are always shared, accepting noisier figures).
 */
export function busyThreshold(env: NodeJS.ProcessEnv = process.env): number {
	const text = env['GRAVITON_TUNE_BUSY_THRESHOLD'];
	const n = text === undefined ? NaN : Number(text);
	return Number.isFinite(n) && n > 0 && n <= 1 ? n : DEFAULT_BUSY_THRESHOLD;
}

/** How long a walk waits for a busy machine to be quiet (--quiet-wait), seconds. */
export const DEFAULT_QUIET_WAIT_SECONDS = 120;

/** Windows shorter than this say nothing reliable (a tick is 10 ms). */
const MIN_WINDOW_SECONDS = 0.5;

export interface CpuTimes {
	/** user + nice + system + irq + softirq, in ticks, over the CPUs asked for. */
	busy: number;
	steal: number;
	/** Every field but guest (already inside user): busy + idle + iowait + steal. */
	total: number;
}

/** Sums /proc/stat lines for the CPUs given (all CPUs' aggregate line when null or empty). */
export function parseProcStat(text: string, cpus: readonly number[] | null): CpuTimes | null {
	const wanted = cpus && cpus.length > 0 ? new Set(cpus.map(c => `cpu${c}`)) : new Set(['cpu']);
	const sum: CpuTimes = {busy: 0, steal: 0, total: 0};
	let found = 0;
	for (const line of text.split('\n')) {
		const fields = line.trim().split(/\s+/);
		if (!wanted.has(fields[0] ?? '')) continue;
		const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields.slice(1, 9).map(Number);
		sum.busy += user + nice + system + irq + softirq;
		sum.steal += steal;
		sum.total += user + nice + system + idle + iowait + irq + softirq + steal;
		found += 1;
	}
	return found > 0 ? sum : null;
}

/** utime + stime (ticks) from one /proc/PID/stat line; the command name may hold spaces and parens. */
export function parsePidStatTicks(text: string): number | null {
	const close = text.lastIndexOf(')');
	if (close < 0) return null;
	const fields = text.slice(close + 2).split(' ');
	// After "pid (comm) ": state is field 3, utime 14, stime 15 → indexes 11 and 12 here.
	const utime = Number(fields[11]);
	const stime = Number(fields[12]);
	return Number.isFinite(utime) && Number.isFinite(stime) ? utime + stime : null;
}

function readText(file: string): string | null {
	try {
		return readFileSync(file, 'utf8');
	} catch {
		return null;
	}
}

export function readCpuTimes(cpus: readonly number[] | null, root = '/'): CpuTimes | null {
	const text = readText(`${root.replace(/\/$/, '')}/proc/stat`);
	return text === null ? null : parseProcStat(text, cpus);
}

/** CPU ticks per process, for the pids that can still be read. */
export function processTicks(pids: readonly number[]): Map<number, number> {
	const ticks = new Map<number, number>();
	for (const pid of pids) {
		const text = readText(`/proc/${pid}/stat`);
		const value = text === null ? null : parsePidStatTicks(text);
		if (value !== null) ticks.set(pid, value);
	}
	return ticks;
}

/**
 * A process and its descendants, from /proc/PID/task/TID/children: cheap enough to ask
 * often while a probe runs (scanning every process's environment is not). torchrun's
 * workers start new sessions but stay its children, so they are found.
 */
export function processTree(pid: number): number[] {
	const tree = [pid];
	for (let i = 0; i < tree.length; i++) {
		let threads: string[];
		try {
			threads = readdirSync(`/proc/${tree[i]}/task`);
		} catch {
			continue;
		}
		for (const tid of threads) {
			for (const child of (readText(`/proc/${tree[i]}/task/${tid}/children`) ?? '').trim().split(/\s+/)) {
				if (child && !tree.includes(Number(child))) tree.push(Number(child));
			}
		}
	}
	return tree;
}

/** Resident memory of these processes together (bytes), from /proc/PID/status VmRSS. */
export function residentBytes(pids: readonly number[]): number {
	let total = 0;
	for (const pid of pids) {
		const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(readText(`/proc/${pid}/status`) ?? '');
		if (m) total += Number(m[1]) * 1024;
	}
	return total;
}

export interface LoadSample {
	at: number;
	cpu: CpuTimes;
	/** Ticks of the processes that are ours (the probe tree and graviton-tune). */
	ours: Map<number, number>;
}

/**
 * What happened between two samples: the share of the CPUs' time that went neither to
 * our processes nor to idle (steal counted as others'). A process that appeared in
 * between counts whole; one that vanished is not counted (it can only make us look
 * busier, never quieter).
 */
export function contentionBetween(before: LoadSample, after: LoadSample, threshold = busyThreshold()): Contention | null {
	const seconds = (after.at - before.at) / 1000;
	const total = after.cpu.total - before.cpu.total;
	if (seconds < MIN_WINDOW_SECONDS || total <= 0) return null;
	let ours = 0;
	for (const [pid, ticks] of after.ours) ours += ticks - (before.ours.get(pid) ?? 0);
	const steal = after.cpu.steal - before.cpu.steal;
	const busy = after.cpu.busy - before.cpu.busy;
	const others = Math.min(1, Math.max(0, (busy + steal - ours) / total));
	const stealShare = Math.min(1, Math.max(0, steal / total));
	return {othersShare: round3(others), stealShare: round3(stealShare), seconds: round3(seconds), contended: others >= threshold, threshold};
}

function round3(n: number): number {
	return Math.round(n * 1000) / 1000;
}

/** One reading of the machine: CPUs and our processes. Null where /proc cannot be read. */
export function sampleLoad(cpus: readonly number[] | null, ourPids: readonly number[]): LoadSample | null {
	const cpu = readCpuTimes(cpus);
	if (cpu === null) return null;
	return {at: Date.now(), cpu, ours: processTicks([process.pid, ...ourPids])};
}

/** "45% of its CPUs went to other processes (steal 3%)". One wording everywhere. */
export function describeContention(c: Contention): string {
	const steal = c.stealShare >= 0.01 ? ` (steal ${pct(c.stealShare)} of it, taken by the hypervisor)` : '';
	return `${pct(c.othersShare)} of its CPUs went to other processes${steal}`;
}

export function pct(share: number): string {
	return `${Math.round(share * 100)}%`;
}

/**
 * Watches one probe: the contention over its measurement window (from its first
 * "measure" phase to its first result) and the peak memory of its process tree (for an
 * out-of-memory message that says how far it got). Needs the tree's pids, which it
 * asks for when it samples.
 */
export class ProbeWatch {
	private start: LoadSample | null = null;
	private end: LoadSample | null = null;
	private timer: NodeJS.Timeout | undefined;
	peakRssBytes = 0;

	constructor(
		private readonly cpus: readonly number[] | null,
		private readonly treePids: () => number[],
		private readonly threshold = busyThreshold(),
	) {}

	/** Begin sampling memory (every 250 ms; cheap: a few /proc reads per process of the tree). */
	begin(): void {
		this.timer ??= setInterval(() => this.sampleMemory(), 250);
		this.timer.unref();
	}

	private sampleMemory(): void {
		const rss = residentBytes(this.treePids());
		if (rss > this.peakRssBytes) this.peakRssBytes = rss;
	}

	see(event: ProbeEvent): void {
		if (event.type === 'phase' && event.phase === 'measure' && event.seconds === undefined && this.start === null) {
			this.start = sampleLoad(this.cpus, this.treePids());
		}
		if (event.type === 'result' && this.start !== null && this.end === null) {
			this.end = sampleLoad(this.cpus, this.treePids());
		}
	}

	stop(): void {
		clearInterval(this.timer);
		this.timer = undefined;
	}

	reading(): Contention | null {
		return this.start && this.end ? contentionBetween(this.start, this.end, this.threshold) : null;
	}
}

/** The machine's current load over a short window, with nothing of ours running: for detect and for waiting. */
export async function measureLoad(cpus: readonly number[] | null, seconds = 1, signal?: AbortSignal): Promise<Contention | null> {
	const before = sampleLoad(cpus, []);
	await sleep(seconds * 1000, signal);
	const after = sampleLoad(cpus, []);
	return before && after ? contentionBetween(before, after) : null;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
	return new Promise(resolve => {
		if (signal?.aborted) return resolve();
		const timer = setTimeout(done, ms);
		function done() {
			clearTimeout(timer);
			signal?.removeEventListener('abort', done);
			resolve();
		}
		signal?.addEventListener('abort', done, {once: true});
	});
}

export interface QuietWait {
	quiet: boolean;
	waitedSeconds: number;
	/** The last reading's share of the CPUs that went to others (null: unreadable). */
	lastShare: number | null;
}

/**
 * Wait until the machine is quiet: `quietReadings` readings in a row below the
 * threshold, at most maxSeconds. Readings are injected in tests; the real one is
 * measureLoad over one second. An unreadable machine (no /proc) counts as quiet: we
 * cannot tell, and the probe's own reading said what it could.
 */
export async function waitForQuiet(opts: {
	maxSeconds: number;
	reading: () => Promise<Contention | null>;
	signal?: AbortSignal;
	quietReadings?: number;
	now?: () => number;
}): Promise<QuietWait> {
	const now = opts.now ?? Date.now;
	const started = now();
	const needed = opts.quietReadings ?? 2;
	let inARow = 0;
	let lastShare: number | null = null;
	while (!opts.signal?.aborted) {
		const r = await opts.reading();
		lastShare = r?.othersShare ?? null;
		inARow = r === null || !r.contended ? inARow + 1 : 0;
		const waitedSeconds = (now() - started) / 1000;
		if (inARow >= needed) return {quiet: true, waitedSeconds, lastShare};
		if (waitedSeconds >= opts.maxSeconds) return {quiet: false, waitedSeconds, lastShare};
	}
	return {quiet: false, waitedSeconds: (now() - started) / 1000, lastShare};
}

/** Probes whose figures stayed contended (after re-measuring): the walk's decisions rest on them. */
export function contendedProbes(result: Pick<WalkResult, 'probes'>): ProbeRecord[] {
	return result.probes.filter(p => p.result?.contention?.contended);
}

/** A sentence for the summary, the JSON result and the reports; null when every figure was measured on a quiet machine. */
export function contendedSummary(result: Pick<WalkResult, 'probes'>): string | null {
	const list = contendedProbes(result);
	if (list.length === 0) return null;
	const worst = Math.max(...list.map(p => p.result!.contention!.othersShare));
	return `${list.length} of ${result.probes.length} probes shared their CPUs with other processes (up to ${pct(worst)} went elsewhere), so decisions resting on them may be wrong: ${list.map(p => p.title).join('; ')}. Measure again on a quiet machine.`;
}

/** The machine stayed busy longer than --quiet-wait: --auto gives up (exit code `busy`). */
export class BusyMachineError extends GravitonTuneError {
	constructor(
		message: string,
		readonly lastShare: number | null,
	) {
		super('busy', message);
		this.name = 'BusyMachineError';
	}
}

export interface MachineLoad {
	/** Over a short window on the usable CPUs, with nothing of ours running. */
	now: Contention | null;
	/** /proc/loadavg: 1, 5 and 15 minutes. */
	loadAverage: [number, number, number] | null;
}

export async function currentLoad(cpus: readonly number[] | null, signal?: AbortSignal): Promise<MachineLoad> {
	const now = await measureLoad(cpus, 1, signal);
	const fields = (readText('/proc/loadavg') ?? '').split(' ').slice(0, 3).map(Number);
	const loadAverage = fields.length === 3 && fields.every(Number.isFinite) ? (fields as [number, number, number]) : null;
	return {now, loadAverage};
}

/** "Load        3% of the usable CPUs busy with other processes (1 s), load average 0.4 0.3 0.2". */
export function describeLoad(load: MachineLoad): string {
	const avg = load.loadAverage ? `; load average ${load.loadAverage.map(n => n.toFixed(2)).join(' ')}` : '';
	if (!load.now) return `unknown (/proc/stat unreadable)${avg}`;
	const steal = load.now.stealShare >= 0.01 ? `, steal ${pct(load.now.stealShare)}` : '';
	const verdict = load.now.contended ? ' — BUSY: probes measured now would be contended and measured again' : ' — quiet enough to measure';
	return `${pct(load.now.othersShare)} of the usable CPUs busy with other processes over ${load.now.seconds.toFixed(0)} s${steal}${avg}${verdict}`;
}
