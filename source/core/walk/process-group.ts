// Run a command as the leader of its own process group, stream its output as lines,
// and make sure nothing it started outlives it. Probes (torchrun and its workers) and
// pip both go through here, so Ctrl+C, a timeout or our own exit always take the whole
// tree down: no orphans keep burning the cores we are about to measure on.
//
// A process group is not enough on its own: torchrun starts each worker in a new
// session (start_new_session=True), so its workers leave our group, and when torchrun
// dies they are re-parented to init. Every process we start therefore carries a unique
// tag in its environment, which its descendants inherit whatever their session or
// parent; stopping a run signals the group and every process bearing the tag.
import {randomBytes} from 'node:crypto';
import {readdirSync, readFileSync} from 'node:fs';
import {StringDecoder} from 'node:string_decoder';
import {execa} from 'execa';

/** Why we killed the group ourselves. */
export type KillReason = 'timeout' | 'abort';

export interface GroupRunOptions {
	/** The complete environment: nothing is inherited on top of it. */
	env: Record<string, string>;
	cwd?: string;
	signal?: AbortSignal;
	/** 0 or undefined: no time limit. */
	timeoutMs?: number;
	/** Between SIGTERM and SIGKILL, so Python (and torchrun) can run their cleanup first. */
	graceMs?: number;
	/** A callback that throws stops the run; runInGroup then rejects with that error. */
	onStdoutLine?: (line: string) => void;
	onStderrLine?: (line: string) => void;
	/** Characters of stderr kept for error messages. */
	stderrTailChars?: number;
	/** Called once the process exists, with the run's tag (taggedProcesses(tag) lists its tree). */
	onSpawn?: (pid: number, tag: string) => void;
	/** 'pipe': the caller writes to the process's stdin (GroupRun.write); default 'ignore'. */
	stdin?: 'ignore' | 'pipe';
}

/** A run in progress: its input, an early stop, and its exit. */
export interface GroupRun {
	/** Writes to its stdin (stdin 'pipe'); false when the input is closed or was never open. */
	write(text: string): boolean;
	/** Closes its stdin: a process reading commands takes that as the end. */
	endInput(): void;
	/** SIGTERM to the group and every tagged process, SIGKILL after the grace (as an abort). */
	stop(): void;
	exit: Promise<GroupExit>;
}

export interface GroupExit {
	pid: number | null;
	/** null when killed by a signal or never started. */
	exitCode: number | null;
	signal: string | null;
	killedBy: KillReason | null;
	spawnError: {code: string | null; message: string} | null;
	stderrTail: string;
	durationMs: number;
}

/** Inherited by everything a run starts; its value is unique per run. */
export const PROCESS_TAG_VARIABLE = 'GRAVITON_TUNE_PROCESS_TAG';

const DEFAULT_GRACE_MS = 3000;
const DEFAULT_TAIL_CHARS = 4096;

let runCounter = 0;

function newTag(): string {
	runCounter += 1;
	return `${process.pid}-${runCounter}-${randomBytes(4).toString('hex')}`;
}

/** Signal every process in the group; a group that is already gone is fine. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
	try {
		process.kill(-pid, signal);
		return true;
	} catch {
		return false; // ESRCH: nobody left; EPERM: not ours to kill
	}
}

/** Live processes whose environment carries this run's tag (Linux /proc; none elsewhere). */
export function taggedProcesses(tag: string): number[] {
	const needle = Buffer.from(`${PROCESS_TAG_VARIABLE}=${tag}\0`);
	let entries: string[];
	try {
		entries = readdirSync('/proc');
	} catch {
		return [];
	}
	const found: number[] = [];
	for (const entry of entries) {
		if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
		try {
			// A zombie's environ reads empty: it runs nothing and its parent will reap it.
			if (readFileSync(`/proc/${entry}/environ`).includes(needle)) found.push(Number(entry));
		} catch {
			// gone meanwhile, or not ours to read
		}
	}
	return found;
}

/** The group, then every escapee that carries the tag. Synchronous: usable in an 'exit' handler. */
function signalRun(pid: number, tag: string, signal: NodeJS.Signals): number {
	signalGroup(pid, signal);
	const escapees = taggedProcesses(tag);
	for (const other of escapees) {
		try {
			process.kill(other, signal);
		} catch {
			// already gone
		}
	}
	return escapees.length;
}

/** SIGKILL until nothing tagged is left (a process may fork while we look). */
async function sweep(pid: number, tag: string): Promise<void> {
	for (let attempt = 0; attempt < 20; attempt++) {
		if (signalRun(pid, tag, 'SIGKILL') === 0) return;
		await new Promise(resolve => setTimeout(resolve, 25));
	}
}

/**
 * Text as a terminal would show it without interpreting anything: ANSI escape sequences
 * (colours, cursor moves, OSC titles and links) and other control characters removed.
 * Libraries colour their warnings; those bytes must not reach a log file or the user's
 * terminal as commands.
 */
export function plainText(text: string): string {
	/* eslint-disable no-control-regex -- matching control characters is what this function is for */
	return text
		.replace(/\u001b\][^\u0007\u001b]*(?:\u0007|\u001b\\)/g, '') // OSC … BEL/ST
		.replace(/\u001b\[[0-?]*[ -/]*[@-~]/g, '') // CSI
		.replace(/\u001b[@-Z\\-_]/g, '') // other two-byte escapes
		.replace(/\u009b[0-?]*[ -/]*[@-~]/g, '') // 8-bit CSI
		.replace(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g, '');
	/* eslint-enable no-control-regex */
}

/** Splits a byte stream into lines; a final line without a newline comes out on flush. */
class LineSplitter {
	private readonly decoder = new StringDecoder('utf8');
	private pending = '';

	constructor(private readonly onLine: (line: string) => void) {}

	push(chunk: Buffer): void {
		this.pending += this.decoder.write(chunk);
		let newline = this.pending.indexOf('\n');
		while (newline !== -1) {
			this.onLine(this.pending.slice(0, newline).replace(/\r$/, ''));
			this.pending = this.pending.slice(newline + 1);
			newline = this.pending.indexOf('\n');
		}
	}

	flush(): void {
		this.pending += this.decoder.end();
		if (this.pending.length > 0) this.onLine(this.pending.replace(/\r$/, ''));
		this.pending = '';
	}
}

/** Keeps the last `limit` characters of a stream of lines. */
class TailBuffer {
	private lines: string[] = [];
	private size = 0;

	constructor(private readonly limit: number) {}

	add(line: string): void {
		this.lines.push(line);
		this.size += line.length + 1;
		while (this.size > this.limit && this.lines.length > 1) this.size -= this.lines.shift()!.length + 1;
	}

	text(): string {
		const all = this.lines.join('\n');
		return all.length > this.limit ? all.slice(all.length - this.limit) : all;
	}
}

function abortedExit(): GroupExit {
	return {pid: null, exitCode: null, signal: null, killedBy: 'abort', spawnError: null, stderrTail: '', durationMs: 0};
}

export async function runInGroup(file: string, args: string[], options: GroupRunOptions): Promise<GroupExit> {
	return startInGroup(file, args, options).exit;
}

/** runInGroup, with the run in hand while it goes: write to it, stop it, await its exit. */
export function startInGroup(file: string, args: string[], options: GroupRunOptions): GroupRun {
	if (options.signal?.aborted) return {write: () => false, endInput: () => {}, stop: () => {}, exit: Promise.resolve(abortedExit())};
	const started = Date.now();
	const tag = newTag();
	let guard: ReturnType<typeof guardRun> | null = null;
	const output = outputLines(options, () => guard?.stop('abort'));
	const subprocess = execa(file, args, {
		env: {...options.env, [PROCESS_TAG_VARIABLE]: tag},
		extendEnv: false,
		cwd: options.cwd,
		// Its own process group: we can signal all of it at once, and a Ctrl+C on the
		// terminal reaches only us, so we decide how the probe is stopped.
		detached: true,
		stdin: options.stdin ?? 'ignore',
		buffer: false,
		reject: false,
	});
	subprocess.stdout?.on('data', (chunk: Buffer) => output.stdout.push(chunk));
	subprocess.stderr?.on('data', (chunk: Buffer) => output.stderr.push(chunk));
	// A process that exits while we write to it must not throw EPIPE at us.
	subprocess.stdin?.on('error', () => {});

	const pid = subprocess.pid ?? null;
	let exited = false;
	if (pid !== null) {
		guard = guardRun(pid, tag, options);
		// Stragglers (a worker that ignored SIGTERM, a helper still holding the pipe)
		// would otherwise become orphans, and keep stdout open so that we never finish.
		subprocess.once('exit', () => {
			exited = true;
			signalRun(pid, tag, 'SIGKILL');
		});
		output.safely(() => options.onSpawn?.(pid, tag))('');
	}

	const exit = (async (): Promise<GroupExit> => {
		const result = await subprocess;
		guard?.dispose();
		if (pid !== null) await sweep(pid, tag);
		output.stdout.flush();
		output.stderr.flush();
		output.rethrow();
		const spawnError = pid === null ? {code: result.code ?? null, message: result.shortMessage ?? result.message ?? 'could not start'} : null;
		return {pid, exitCode: result.exitCode ?? null, signal: result.signal ?? null, killedBy: guard?.killedBy() ?? null, spawnError, stderrTail: output.tail.text(), durationMs: Date.now() - started};
	})();
	const input = subprocess.stdin;
	return {
		write: text => (input && !input.destroyed && input.writable ? input.write(text) || true : false),
		endInput: () => {
			if (input && !input.destroyed) input.end();
		},
		stop: () => {
			if (!exited) guard?.stop('abort');
		},
		exit,
	};
}

/**
 * The run's two streams as lines for its callbacks (stderr as plain text, its tail kept).
 * A consumer that throws must not leave the probe running unobserved: `stop` ends it, and
 * `rethrow` reports the error once the run is over.
 */
function outputLines(options: GroupRunOptions, stop: () => void) {
	const tail = new TailBuffer(options.stderrTailChars ?? DEFAULT_TAIL_CHARS);
	let callbackError: unknown = null;
	const safely = (callback: ((line: string) => void) | undefined) => (line: string) => {
		if (callbackError !== null || !callback) return;
		try {
			callback(line);
		} catch (error) {
			callbackError = error;
			stop();
		}
	};
	const onStderr = safely(options.onStderrLine);
	return {
		tail,
		safely,
		stdout: new LineSplitter(safely(options.onStdoutLine)),
		stderr: new LineSplitter(raw => {
			const line = plainText(raw);
			tail.add(line);
			onStderr(line);
		}),
		rethrow: () => {
			if (callbackError !== null) throw callbackError;
		},
	};
}

/**
 * What stops a running process tree early: the abort signal, the time limit, and our own
 * exit (best effort: a SIGKILL of this process cannot be caught).
 */
function guardRun(pid: number, tag: string, options: GroupRunOptions) {
	let reason: KillReason | null = null;
	let forceTimer: NodeJS.Timeout | undefined;

	const stop = (why: KillReason) => {
		if (reason !== null) return;
		reason = why;
		signalRun(pid, tag, 'SIGTERM');
		forceTimer = setTimeout(() => signalRun(pid, tag, 'SIGKILL'), options.graceMs ?? DEFAULT_GRACE_MS);
	};
	const onAbort = () => stop('abort');
	const onParentExit = () => signalRun(pid, tag, 'SIGKILL');
	const timeoutMs = options.timeoutMs ?? 0;
	const timer = timeoutMs > 0 ? setTimeout(() => stop('timeout'), timeoutMs) : undefined;

	options.signal?.addEventListener('abort', onAbort, {once: true});
	process.on('exit', onParentExit);

	return {
		stop,
		killedBy: () => reason,
		dispose() {
			clearTimeout(timer);
			clearTimeout(forceTimer);
			options.signal?.removeEventListener('abort', onAbort);
			process.off('exit', onParentExit);
		},
	};
}
