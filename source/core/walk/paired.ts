// Paired comparisons for close calls: the incumbent and the candidate prepared in two
// warm probes (probes/graviton_tune_probe/paired.py), then measured in short windows,
// one after the other, in the same minutes (ABBA order, so a steady drift cancels), and
// the ratio taken pair by pair. The decision rests on that ratio's interval, not on two
// probes measured minutes apart whose own intervals cannot see the machine's drift.
import {buildProbeCommand, buildProbeEnv} from './probe-runner.js';
import {startInGroup, type GroupRun} from './process-group.js';
import type {PairedOutcome} from './walk-inputs.js';
import type {Candidate, ProbeResult} from '../types.js';
import {pairedInterval} from './stats.js';

// The pair-by-pair interval is the walk's statistics (stats.ts): the final verification uses it too.
export {pairedInterval};

export interface PairedOptions {
	python: string;
	/** Seconds of alternating windows in all (both sides). */
	seconds: number;
	/** Pairs to aim for (default 8); each window lasts seconds / (2 × pairs), at least 0.3 s. */
	pairs?: number;
	/** Longest wait for a probe to be ready (load, compile, warm-up), ms. */
	readyTimeoutMs?: number;
	signal?: AbortSignal;
	/** Probe package location (tests). */
	probesDir?: string;
	/** The walk's folder for converted models (see RunProbeOptions.cacheDir). */
	cacheDir?: string;
	onNote?: (message: string) => void;
}

interface Line {
	type: string;
	[key: string]: unknown;
}

/** One warm probe, driven by commands on stdin; a process group like every probe (its tree goes with it). */
class WarmProbe {
	private readonly run: GroupRun;
	private readonly lines: Line[] = [];
	private waiting: ((line: Line | null) => void) | null = null;
	private ended = false;
	stderr = '';

	constructor(candidate: Candidate, opts: PairedOptions) {
		const config = {...candidate.config, workers: 1};
		const {file, args} = buildProbeCommand(config, {python: opts.python});
		const env = {...buildProbeEnv(config, {env: candidate.env, cacheDir: opts.cacheDir, ...(opts.probesDir ? {probesDir: opts.probesDir} : {})}), GRAVITON_TUNE_PAIRED: '1'};
		this.run = startInGroup(file, args, {
			env,
			stdin: 'pipe',
			signal: opts.signal,
			stderrTailChars: 2000,
			onStdoutLine: text => {
				let value: unknown;
				try {
					value = JSON.parse(text);
				} catch {
					return;
				}
				if (typeof value !== 'object' || value === null || typeof (value as Line).type !== 'string') return;
				this.push(value as Line);
			},
			onStderrLine: line => {
				this.stderr = `${this.stderr}${line}\n`.slice(-2000);
			},
		});
		// The output ends with the process (or at once, where it could not start or was aborted).
		void this.run.exit.finally(() => {
			this.ended = true;
			this.push(null);
		}).catch(() => {});
	}

	private push(line: Line | null): void {
		if (this.waiting) {
			const resolve = this.waiting;
			this.waiting = null;
			resolve(line);
		} else if (line) this.lines.push(line);
	}

	/** The next event of one of these types (others skipped); null at end of output or timeout. */
	async next(types: string[], timeoutMs: number): Promise<Line | null> {
		const deadline = Date.now() + timeoutMs;
		for (;;) {
			const queued = this.lines.shift();
			const line = queued ?? (this.ended ? null : await new Promise<Line | null>(resolve => {
				const timer = setTimeout(() => {
					this.waiting = null;
					resolve(null);
				}, Math.max(1, deadline - Date.now()));
				this.waiting = l => {
					clearTimeout(timer);
					resolve(l);
				};
			}));
			if (line === null) return null;
			if (line.type === 'error') return line;
			if (types.includes(line.type)) return line;
		}
	}

	send(command: Record<string, unknown>): void {
		this.run.write(`${JSON.stringify(command)}\n`);
	}

	/** Its input closed (the probe's command loop ends) and its process group stopped. */
	stop(): void {
		this.run.endInput();
		this.run.stop();
	}

	async done(): Promise<void> {
		await this.run.exit;
	}
}

/**
 * Incumbent and candidate measured alternately; null when either could not be prepared
 * or a window failed (the caller falls back to fresh re-measurements).
 */
export async function pairedCompare(incumbent: Candidate, candidate: Candidate, opts: PairedOptions): Promise<PairedOutcome | null> {
	if (incumbent.config.workers > 1 || candidate.config.workers > 1) return null;
	const readyMs = opts.readyTimeoutMs ?? 15 * 60_000;
	const pairs = Math.max(3, opts.pairs ?? 8);
	let window = Math.max(0.3, opts.seconds / (2 * pairs));
	const a = new WarmProbe(incumbent, opts);
	const b = new WarmProbe(candidate, opts);
	const fail = (why: string) => {
		opts.onNote?.(`The paired comparison did not complete (${why}).`);
		return null;
	};
	try {
		// Prepared one after the other: two compiles at once would only slow both.
		for (const [probe, name] of [[a, 'incumbent'], [b, 'candidate']] as const) {
			const ready = await probe.next(['paired-ready'], readyMs);
			if (!ready || ready.type === 'error') return fail(`${name}: ${ready ? String(ready['message']) : `not ready (${probe.stderr.trim().split('\n').at(-1) ?? 'no output'})`}`);
		}
		const ratios: number[] = [];
		let fewest = Infinity;
		const windowOf = async (probe: WarmProbe): Promise<number | null> => {
			probe.send({cmd: 'window', seconds: window});
			const line = await probe.next(['window'], window * 1000 + 60_000);
			const rate = line?.type === 'window' ? Number(line['samplesPerSecond']) : NaN;
			if (line?.type === 'window') fewest = Math.min(fewest, Number(line['iterations']) || 0);
			return rate > 0 ? rate : null;
		};
		const spent = Date.now();
		for (let i = 0; i < pairs; i++) {
			if (opts.signal?.aborted) return null;
			// A slow model fits only a call or two in a short window: longer windows, fewer
			// pairs (at least 3), within the same time.
			if (i === 1 && fewest < 5) window = Math.min(window * 4, opts.seconds / 6);
			if (i >= 3 && (Date.now() - spent) / 1000 + 2 * window > opts.seconds * 1.5) break;
			// ABBA: A B, B A, A B, … so a drift in time weighs on both sides alike.
			const first = i % 2 === 0 ? a : b;
			const second = first === a ? b : a;
			const r1 = await windowOf(first);
			const r2 = await windowOf(second);
			if (r1 === null || r2 === null) return fail('a measuring window failed');
			const [rateA, rateB] = first === a ? [r1, r2] : [r2, r1];
			ratios.push(rateB / rateA);
		}
		const results: ProbeResult[] = [];
		for (const probe of [a, b]) {
			probe.send({cmd: 'finish'});
			const line = await probe.next(['result'], 60_000);
			if (!line || line.type !== 'result') return fail('no final figures');
			const {type: _type, ...result} = line;
			results.push(result as unknown as ProbeResult);
		}
		return {...pairedInterval(ratios), pairs: ratios.length, incumbent: results[0]!, candidate: results[1]!};
	} finally {
		a.stop();
		b.stop();
		await Promise.allSettled([a.done(), b.done()]);
	}
}
