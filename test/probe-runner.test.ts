import {spawnSync} from 'node:child_process';
import {existsSync, readdirSync, readFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {inductorCacheDir, managedPython, probesDir} from '../source/core/paths.js';
import {PROCESS_TAG_VARIABLE} from '../source/core/walk/process-group.js';
import {PROBE_CACHE_ENV, buildProbeCommand, buildProbeEnv, classifyExit, parseProbeLine, runProbe} from '../source/core/walk/probe-runner.js';
import {envVariables} from '../source/core/report/outputs.js';
import type {ProbeConfig, ProbeEvent, ProbeOutcome} from '../source/core/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const fakeProbe = path.join(here, 'fixtures', 'fake-probes', 'fake_probe.py');
// Any Python 3 runs the fake probe; it needs no torch.
const python = existsSync(managedPython()) ? managedPython() : 'python3';

const config: ProbeConfig = {
	model: {name: 'toy'},
	batchSize: 4,
	channelsLast: false,
	autocast: null,
	fp32Precision: null,
	compile: false,
	quantization: null,
	backend: 'torch',
	workers: 1,
	threadsPerWorker: 2,
	budgetSeconds: 2,
};

function runFake(mode: string, extra: Partial<Parameters<typeof runProbe>[1]> = {}): Promise<ProbeOutcome> {
	return runProbe(config, {python, entry: {script: fakeProbe}, env: {FAKE_PROBE: mode}, graceMs: 500, ...extra});
}

/** Dead, or a zombie waiting for a reaper: either way it runs nothing. */
function isAlive(pid: number): boolean {
	try {
		process.kill(pid, 0);
	} catch (error) {
		expect((error as NodeJS.ErrnoException).code).toBe('ESRCH');
		return false;
	}
	try {
		return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
	} catch {
		return false;
	}
}

/** Live processes started by this test process's runs (they carry its run tag). */
function ourProcesses(): number[] {
	const needle = Buffer.from(`${PROCESS_TAG_VARIABLE}=${process.pid}-`);
	const found: number[] = [];
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry)) continue;
		try {
			if (readFileSync(`/proc/${entry}/environ`).includes(needle)) found.push(Number(entry));
		} catch {
			// gone meanwhile
		}
	}
	return found;
}

async function waitUntil(condition: () => boolean, timeoutMs = 3000): Promise<boolean> {
	const deadline = Date.now() + timeoutMs;
	while (Date.now() < deadline) {
		if (condition()) return true;
		await new Promise(resolve => setTimeout(resolve, 50));
	}
	return condition();
}

function grandchildPid(events: ProbeEvent[]): number {
	for (const event of events) {
		const match = event.type === 'log' ? /grandchild (\d+)/.exec(event.message) : null;
		if (match) return Number(match[1]);
	}
	throw new Error('the fake probe did not report its grandchild');
}

/** Resolves with the grandchild's pid once the fake reports it. */
function onGrandchild(): {onEvent: (event: ProbeEvent) => void; pid: Promise<number>} {
	let resolve!: (pid: number) => void;
	const pid = new Promise<number>(r => (resolve = r));
	return {
		pid,
		onEvent: event => {
			if (event.type === 'log' && /grandchild/.test(event.message)) resolve(grandchildPid([event]));
		},
	};
}

describe('buildProbeEnv', () => {
	const baseEnv = {
		PATH: '/usr/bin',
		HOME: '/root',
		LD_PRELOAD: '/usr/lib/libtcmalloc.so',
		DNNL_DEFAULT_FPMATH_MODE: 'BF16',
		ONEDNN_VERBOSE: '1',
		THP_MEM_ALLOC_ENABLE: '1',
		LRU_CACHE_CAPACITY: '1024',
		OMP_PROC_BIND: 'true',
		KMP_AFFINITY: 'compact',
		TORCHINDUCTOR_FREEZING: '1',
		PYTHONPATH: '/user/lib',
	};

	it('drops inherited tuning variables and keeps the rest', () => {
		const env = buildProbeEnv(config, {baseEnv, probesDir: '/p'});
		expect(env['PATH']).toBe('/usr/bin');
		expect(env['HOME']).toBe('/root');
		for (const name of ['LD_PRELOAD', 'DNNL_DEFAULT_FPMATH_MODE', 'ONEDNN_VERBOSE', 'THP_MEM_ALLOC_ENABLE', 'LRU_CACHE_CAPACITY', 'OMP_PROC_BIND', 'KMP_AFFINITY', 'TORCHINDUCTOR_FREEZING']) {
			expect(env[name], name).toBeUndefined();
		}
	});

	it('applies the configuration env, PYTHONPATH first, unbuffered, threads', () => {
		const env = buildProbeEnv(config, {baseEnv, probesDir: '/p', env: {LD_PRELOAD: '/lib/libjemalloc.so.2', DNNL_DEFAULT_FPMATH_MODE: 'BF16'}});
		expect(env['LD_PRELOAD']).toBe('/lib/libjemalloc.so.2');
		expect(env['DNNL_DEFAULT_FPMATH_MODE']).toBe('BF16');
		expect(env['PYTHONPATH']).toBe(`/p${path.delimiter}/user/lib`);
		expect(env['PYTHONUNBUFFERED']).toBe('1');
		expect(env['OMP_NUM_THREADS']).toBe('2');
	});

	it("gives the probe the walk's cache folder, which no configuration's environment carries", () => {
		const env = buildProbeEnv(config, {baseEnv, probesDir: '/p', cacheDir: '/tmp/walk-cache'});
		expect(env[PROBE_CACHE_ENV]).toBe('/tmp/walk-cache');
		expect(buildProbeEnv(config, {baseEnv, probesDir: '/p'})[PROBE_CACHE_ENV]).toBeUndefined();
	});

	it("gives the probe the deployment's choices as exactly the env file's GT_* lines (one serializer)", () => {
		const full: ProbeConfig = {...config, model: {path: '/models/net.onnx'}, channelsLast: true, autocast: 'bf16', compile: true, quantization: 'int8', backend: 'onnxruntime', workers: 2, threadsPerWorker: 3, cpuList: [0, 1, 2, 5], sessionOptions: {intra_op_num_threads: 'threads'}, weightQuantization: 'int4'};
		const env = buildProbeEnv(full, {baseEnv: {...baseEnv, GT_BATCH_SIZE: '64', GT_COMPILE: '0', GT_STALE: 'x'}, probesDir: '/p'});
		const probeLines = Object.entries(env).filter(([key]) => key.startsWith('GT_'));
		const fileLines = envVariables({config: full, env: {}, recipeIds: []} as never).model;
		expect(new Map(probeLines)).toEqual(new Map(fileLines));
		// A shell that sourced an old env file does not steer the probe.
		expect(env['GT_STALE']).toBeUndefined();
		expect(env['GT_BATCH_SIZE']).toBe('4');
	});

	it.skipIf(!existsSync(managedPython()))("reads back, in the runtime helper's settings(), every choice it was given", () => {
		const torch: ProbeConfig = {...config, channelsLast: true, autocast: 'bf16', compile: true, quantization: 'int8', weightQuantization: 'int4', workers: 2, threadsPerWorker: 3, cpuList: [0, 1, 2, 5]};
		const onnx: ProbeConfig = {...config, model: {path: '/models/net.onnx'}, backend: 'onnxruntime', fp32Precision: 'bf16', sessionOptions: {intra_op_num_threads: 'threads'}};
		const read = (c: ProbeConfig) => {
			const env = buildProbeEnv(c, {baseEnv: {PATH: '/usr/bin:/bin'}});
			delete env['OMP_NUM_THREADS']; // threads come from GT_THREADS_PER_WORKER here
			const done = spawnSync(managedPython(), ['-c', 'import json, graviton_tune_runtime as rt; print(json.dumps(rt.settings()))'], {env, encoding: 'utf8'});
			expect(done.status, done.stderr).toBe(0);
			return JSON.parse(done.stdout) as Record<string, unknown>;
		};
		expect(read(torch)).toEqual({
			batch_size: 4, channels_last: true, autocast: 'bf16', fp32_precision: 'none', compile: true, quantization: 'int8',
			weight_quantization: 'int4', backend: 'torch', workers: 2, threads: 3, cpu_list: [0, 1, 2, 5], ort_options: null, model_path: null,
		});
		expect(read(onnx)).toMatchObject({backend: 'onnxruntime', fp32_precision: 'bf16', ort_options: {intra_op_num_threads: 'threads'}, model_path: '/models/net.onnx', threads: 2});
	});

	it("points inductor's caches at the tool's per-machine folder, not at whatever the shell had", () => {
		const env = buildProbeEnv(config, {baseEnv: {...baseEnv, TORCHINDUCTOR_CACHE_DIR: '/elsewhere'}, probesDir: '/p'});
		expect(env['TORCHINDUCTOR_CACHE_DIR']).toBe(inductorCacheDir());
		expect(buildProbeEnv(config, {baseEnv, env: {TORCHINDUCTOR_CACHE_DIR: '/chosen'}})['TORCHINDUCTOR_CACHE_DIR']).toBe('/chosen');
	});

	it('lets the configuration set OMP_NUM_THREADS, and defaults to the real probes dir', () => {
		const env = buildProbeEnv(config, {baseEnv: {}, env: {OMP_NUM_THREADS: '7'}});
		expect(env['OMP_NUM_THREADS']).toBe('7');
		expect(env['PYTHONPATH']).toBe(probesDir);
	});
});

describe('buildProbeCommand', () => {
	it('runs the probe module in one process', () => {
		const {file, args} = buildProbeCommand(config, {python: '/v/bin/python'});
		expect(file).toBe('/v/bin/python');
		expect(args.slice(0, 4)).toEqual(['-m', 'graviton_tune_probe', 'run', '--config']);
		// The model and the probe's own options; the deployment's choices go in the environment.
		expect(JSON.parse(args[4]!)).toEqual({model: {name: 'toy'}, budgetSeconds: 2});
	});

	it('goes through torchrun for several workers', () => {
		const {args} = buildProbeCommand({...config, workers: 3}, {python: 'python'});
		expect(args.slice(0, 9)).toEqual(['-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '3', '-m', 'graviton_tune_probe', 'run', '--config']);
	});

	it('can run a script instead of the module', () => {
		const {args} = buildProbeCommand(config, {python: 'python', entry: {script: '/x/fake.py'}});
		expect(args.slice(0, 3)).toEqual(['/x/fake.py', 'run', '--config']);
	});
});

describe('parseProbeLine', () => {
	it('accepts events and rejects the rest', () => {
		expect(parseProbeLine('{"type":"phase","phase":"load"}')).toEqual({type: 'phase', phase: 'load'});
		expect(parseProbeLine('not json')).toBeNull();
		expect(parseProbeLine('[1,2]')).toBeNull();
		expect(parseProbeLine('{"type":"weird"}')).toBeNull();
		expect(parseProbeLine('{"type":"result"}')).toBeNull();
		expect(parseProbeLine('{"type":"error","code":"x"}')).toBeNull();
	});
});

describe('classifyExit', () => {
	const state = {events: [], result: null, error: null, firstBadLine: null};
	const exit = (stderrTail: string, exitCode = 1) => ({pid: 1, exitCode, signal: null, killedBy: null, spawnError: null, stderrTail, durationMs: 10});
	const context = {python: 'python3', timeoutMs: 1000};

	it('reads a worker\'s signal from torchrun\'s failure summary and quotes the telling line', () => {
		const tail = [
			'munmap_chunk(): invalid pointer',
			'E1123 11:20:01.000000 123 torch/distributed/elastic/multiprocessing/api.py:900] failed (exitcode: -6)',
			'Traceback (most recent call last):',
			'    ^^^^^^^^^^^^^',
			'torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ',
			'============================================================',
			'graviton_tune_probe FAILED',
			'------------------------------------------------------------',
			'Root Cause (first observed failure):',
			'[0]:',
			'  time      : 2026-11-23_11:20:01',
			'  rank      : 0 (local_rank: 0)',
			'  exitcode  : -6 (pid: 4242)',
			'  traceback : Signal 6 (SIGABRT) received by PID 4242',
			'============================================================',
		].join('\n');
		const f = classifyExit(exit(tail), state, context)!;
		expect(f.kind).toBe('signal');
		expect(f.signal).toBe('SIGABRT');
		expect(f.message).toMatch(/a torchrun worker died from SIGABRT.*munmap_chunk\(\): invalid pointer/);
		expect(f.hint).toMatch(/LD_PRELOAD/);
	});

	it('keeps a plain exit code as an exit failure with the last line', () => {
		const f = classifyExit(exit('something broke\n', 3), state, context)!;
		expect(f.kind).toBe('exit');
		expect(f.message).toMatch(/code 3 .*something broke/);
	});
});

describe('runProbe with a fake probe', () => {
	it('returns the result and streams every event', async () => {
		const seen: string[] = [];
		const outcome = await runFake('good', {baseEnv: {...process.env, LD_PRELOAD: '/nope.so', DNNL_VERBOSE: '1'}, onEvent: event => seen.push(event.type)});
		expect(outcome.ok).toBe(true);
		if (!outcome.ok) return;
		expect(outcome.result.samplesPerSecond.median).toBe(100);
		expect(outcome.result.batchSize).toBe(4);
		expect(seen).toEqual(['start', 'phase', 'progress', 'log', 'result']);
		const envLog = outcome.events.find(event => event.type === 'log' && event.message.startsWith('env '));
		const env = JSON.parse((envLog as {message: string}).message.slice(4)) as Record<string, string | null>;
		expect(env).toEqual({OMP_NUM_THREADS: '2', LD_PRELOAD: null, DNNL_VERBOSE: null, EXTRA: null});
	});

	it('maps an error event to probe-error with its code and hint', async () => {
		const outcome = await runFake('error');
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure).toMatchObject({kind: 'probe-error', code: 'model-not-found', message: 'no model called nope', hint: 'pick one of: resnet50, toy', exitCode: 2});
		expect(outcome.failure.stderrTail).toContain('ValueError: boom');
	});

	it('quotes the first line that is not an event when no result comes', async () => {
		const outcome = await runFake('garbage');
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure.kind).toBe('protocol');
		expect(outcome.failure.message).toContain('hello, I am not JSON');
		expect(outcome.events.map(event => event.type)).toEqual(['start', 'phase']);
	});

	it('maps a silent non-zero exit to exit, with the last stderr line', async () => {
		const outcome = await runFake('exit3');
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure).toMatchObject({kind: 'exit', code: 'exit', exitCode: 3, signal: null});
		expect(outcome.failure.message).toContain('something went wrong quietly');
	});

	it('maps a SIGKILL we did not send to oom', async () => {
		const outcome = await runFake('sigkill');
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure).toMatchObject({kind: 'oom', signal: 'SIGKILL', exitCode: null});
		expect(outcome.failure.message).toMatch(/memory/);
		expect(outcome.failure.hint).toMatch(/batch size/);
	});

	it('maps another signal to signal', async () => {
		const outcome = await runFake('segv');
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure).toMatchObject({kind: 'signal', signal: 'SIGSEGV'});
	});

	it('keeps a result followed by a bad exit, with a warning', async () => {
		const outcome = await runFake('result-then-crash');
		expect(outcome.ok).toBe(true);
		expect(outcome.events.at(-1)).toMatchObject({type: 'log', level: 'warning'});
	});

	it('reports a missing interpreter as spawn', async () => {
		const outcome = await runProbe(config, {python: '/nonexistent/bin/python', entry: {script: fakeProbe}});
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure.kind).toBe('spawn');
		expect(outcome.failure.hint).toContain('--python');
	});

	it('times out, and takes the whole process group down (even what ignores SIGTERM)', async () => {
		let leader = 0;
		const outcome = await runFake('hang-stubborn', {timeoutMs: 1500, onSpawn: pid => (leader = pid)});
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure.kind).toBe('timeout');
		expect(outcome.durationMs).toBeLessThan(10_000);
		const grandchild = grandchildPid(outcome.events);
		expect(await waitUntil(() => !isAlive(grandchild))).toBe(true);
		expect(isAlive(leader)).toBe(false);
	});

	it('cancels on abort, leaving no orphans', async () => {
		const controller = new AbortController();
		const watch = onGrandchild();
		const running = runFake('hang', {signal: controller.signal, onEvent: watch.onEvent});
		const grandchild = await watch.pid;
		expect(isAlive(grandchild)).toBe(true);
		controller.abort();
		const outcome = await running;
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure.kind).toBe('cancelled');
		expect(await waitUntil(() => !isAlive(grandchild))).toBe(true);
	});

	it('finds a grandchild that left the process group (as torchrun workers do)', async () => {
		const outcome = await runFake('hang-escaped', {timeoutMs: 1000});
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure.kind).toBe('timeout');
		expect(await waitUntil(() => !isAlive(grandchildPid(outcome.events)))).toBe(true);
		expect(ourProcesses()).toEqual([]);
	});

	it('stops the probe and rethrows when onEvent throws', async () => {
		const running = runFake('hang', {
			onEvent: event => {
				if (event.type === 'phase') throw new Error('consumer bug');
			},
		});
		await expect(running).rejects.toThrow('consumer bug');
		expect(ourProcesses()).toEqual([]);
	});

	it('does not start at all when already aborted', async () => {
		const controller = new AbortController();
		controller.abort();
		const outcome = await runFake('good', {signal: controller.signal});
		expect(outcome.ok).toBe(false);
		if (!outcome.ok) expect(outcome.failure.kind).toBe('cancelled');
	});
});

const realProbe = existsSync(path.join(probesDir, 'graviton_tune_probe', '__main__.py')) && existsSync(managedPython());

describe.skipIf(!realProbe)('runProbe with the real probe', () => {
	it('measures the toy model', async () => {
		const phases: string[] = [];
		const outcome = await runProbe({...config, threadsPerWorker: 1, budgetSeconds: 2}, {
			python: managedPython(),
			onEvent: event => {
				if (event.type === 'phase') phases.push(event.phase);
			},
		});
		if (!outcome.ok) throw new Error(`${outcome.failure.kind}: ${outcome.failure.message}\n${outcome.failure.stderrTail}`);
		expect(outcome.result.samplesPerSecond.median).toBeGreaterThan(0);
		expect(outcome.result.batchSize).toBe(4);
		expect(phases).toContain('measure');
	});

	it('runs two workers under torchrun and sums them', async () => {
		const outcome = await runProbe({...config, workers: 2, threadsPerWorker: 1, budgetSeconds: 2}, {python: managedPython()});
		if (!outcome.ok) throw new Error(`${outcome.failure.kind}: ${outcome.failure.message}\n${outcome.failure.stderrTail}`);
		expect(outcome.result.workers).toHaveLength(2);
	});

	it('cancels torchrun and all its workers', async () => {
		const controller = new AbortController();
		let leader = 0;
		let tree = 0;
		const running = runProbe({...config, workers: 2, threadsPerWorker: 1, budgetSeconds: 60}, {
			python: managedPython(),
			signal: controller.signal,
			onSpawn: pid => (leader = pid),
			onEvent: event => {
				// Workers are measuring: torchrun and both workers (each in its own session) exist now.
				if (event.type === 'phase' && event.phase === 'measure' && !controller.signal.aborted) {
					tree = ourProcesses().length;
					controller.abort();
				}
			},
		});
		const outcome = await running;
		expect(outcome.ok).toBe(false);
		if (!outcome.ok) expect(outcome.failure.kind).toBe('cancelled');
		expect(tree).toBeGreaterThanOrEqual(3);
		expect(leader).toBeGreaterThan(0);
		expect(isAlive(leader)).toBe(false);
		expect(await waitUntil(() => ourProcesses().length === 0)).toBe(true);
	});
});
