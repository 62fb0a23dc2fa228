// A busy machine: the readings (injected), the waiting and re-measuring decisions
// (injected readings, no sleeps), and real probes run next to a busy loop pinned to
// their CPUs, which must come out contended whatever else this machine is doing.
import {execa, type ResultPromise} from 'execa';
import {existsSync, mkdtempSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterEach, describe, expect, it} from 'vitest';
import {BusyMachineError, DEFAULT_BUSY_THRESHOLD, contendedSummary, contentionBetween, describeContention, parsePidStatTicks, parseProcStat, waitForQuiet} from '../source/core/machine/contention.js';
import type {LoadSample} from '../source/core/machine/contention.js';
import {managedPython, probesDir} from '../source/core/paths.js';
import {runProbe} from '../source/core/walk/probe-runner.js';
import {buildReport, renderEnvFile, renderReportMarkdown} from '../source/core/report/outputs.js';
import {measureUntilUncontended, MAX_REMEASURES} from '../source/core/walk/session.js';
import {resultLine} from '../source/headless/auto.js';
import {createTextRenderer, formatResult} from '../source/headless/text.js';
import {candidate, detection, probeRecord, python as pythonEnv, walkResult} from './helpers/render.js';
import type {Contention, ProbeConfig, ProbeRecord, ProbeResult, SessionEvent} from '../source/core/types.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
// vitest.config.ts turns the busy check off for every other test file; here it is the subject.
process.env['GRAVITON_TUNE_BUSY_THRESHOLD'] = String(DEFAULT_BUSY_THRESHOLD);
const fakeProbe = path.join(here, 'fixtures', 'fake-probes', 'fake_probe.py');
const python = existsSync(managedPython()) ? managedPython() : 'python3';
const realProbe = existsSync(path.join(probesDir, 'graviton_tune_probe', '__main__.py')) && existsSync(managedPython());

const stat = (cpu0: number[], cpu1: number[]) =>
	[`cpu  ${cpu0.map((v, i) => v + (cpu1[i] ?? 0)).join(' ')} 0 0`, `cpu0 ${cpu0.join(' ')} 0 0`, `cpu1 ${cpu1.join(' ')} 0 0`, 'intr 1 2 3'].join('\n');

//                user nice system idle iowait irq softirq steal
const quiet0 = [100, 0, 50, 1000, 0, 0, 0, 0];

function sample(at: number, text: string, cpus: number[], ours: Array<[number, number]>): LoadSample {
	return {at, cpu: parseProcStat(text, cpus)!, ours: new Map(ours)};
}

describe('readings', () => {
	it('sums /proc/stat lines for the CPUs asked for, steal apart', () => {
		const text = stat([10, 1, 5, 100, 2, 1, 1, 3], [20, 0, 10, 50, 0, 0, 0, 0]);
		expect(parseProcStat(text, [0])).toEqual({busy: 18, steal: 3, total: 123});
		expect(parseProcStat(text, [0, 1])).toEqual({busy: 48, steal: 3, total: 203});
		expect(parseProcStat(text, null)).toEqual({busy: 48, steal: 3, total: 203});
		expect(parseProcStat(text, [7])).toBeNull();
	});

	it('reads utime + stime of a process whose name has spaces and parens', () => {
		const line = '4242 (python (x) y) R 1 4242 4242 0 -1 4194304 100 0 0 0 750 250 0 0 20 0 3 0 1 1 1';
		expect(parsePidStatTicks(line)).toBe(1000);
	});

	it('calls a probe contended when others took a share of its CPUs, steal included', () => {
		const before = sample(0, stat(quiet0, quiet0), [0, 1], [[1, 0]]);
		// 2 s on 2 CPUs = 400 ticks: the probe tree used 200, someone else 150.
		const busy = sample(2000, stat([100 + 175, 0, 50, 1000 + 25, 0, 0, 0, 0], [100 + 175, 0, 50, 1000 + 25, 0, 0, 0, 0]), [0, 1], [[1, 200]]);
		const c = contentionBetween(before, busy, 0.1)!;
		expect(c.othersShare).toBeCloseTo(150 / 400, 3);
		expect(c.contended).toBe(true);
		// Only the probe was busy: not contended.
		const alone = sample(2000, stat([100 + 100, 0, 50, 1000 + 100, 0, 0, 0, 0], [100 + 100, 0, 50, 1000 + 100, 0, 0, 0, 0]), [0, 1], [[1, 200]]);
		expect(contentionBetween(before, alone, 0.1)).toMatchObject({othersShare: 0, contended: false});
		// A VM whose hypervisor took 30% of the time: steal counts as others'.
		const stolen = sample(2000, stat([100 + 140, 0, 50, 1000, 0, 0, 0, 60], [100 + 140, 0, 50, 1000, 0, 0, 0, 60]), [0, 1], [[1, 280]]);
		expect(contentionBetween(before, stolen, 0.1)).toMatchObject({othersShare: 0.3, stealShare: 0.3, contended: true});
	});

	it('says nothing about a window too short to tell', () => {
		const before = sample(0, stat(quiet0, quiet0), [0, 1], []);
		expect(contentionBetween(before, {...before, at: 200}, 0.1)).toBeNull();
	});

	it('words it the same everywhere', () => {
		expect(describeContention({othersShare: 0.45, stealShare: 0.2, seconds: 3, contended: true, threshold: 0.1})).toBe('45% of its CPUs went to other processes (steal 20% of it, taken by the hypervisor)');
	});
});

describe('waiting for quiet (injected readings)', () => {
	const reading = (share: number): Contention => ({othersShare: share, stealShare: 0, seconds: 1, contended: share >= 0.1, threshold: 0.1});

	function clock() {
		let t = 0;
		return {now: () => t, tick: (s: number) => (t += s * 1000)};
	}

	it('is quiet after two quiet readings in a row', async () => {
		const c = clock();
		const shares = [0.6, 0.05, 0.5, 0.02, 0.03];
		let calls = 0;
		const wait = await waitForQuiet({maxSeconds: 60, now: c.now, reading: async () => (c.tick(1), reading(shares[calls++]!))});
		expect(wait).toEqual({quiet: true, waitedSeconds: 5, lastShare: 0.03});
		expect(calls).toBe(5);
	});

	it('gives up after maxSeconds of a busy machine', async () => {
		const c = clock();
		const wait = await waitForQuiet({maxSeconds: 10, now: c.now, reading: async () => (c.tick(1), reading(0.5))});
		expect(wait).toEqual({quiet: false, waitedSeconds: 10, lastShare: 0.5});
	});

	it('stops at once when aborted', async () => {
		const controller = new AbortController();
		const wait = await waitForQuiet({maxSeconds: 1e9, signal: controller.signal, reading: async () => (controller.abort(), reading(0.9))});
		expect(wait.quiet).toBe(false);
	});
});

describe('re-measuring a contended probe (injected probes and waits)', () => {
	const figures = (share: number | null): ProbeResult => ({
		samplesPerSecond: {median: 10, ciLow: 9, ciHigh: 11},
		latencyMs: {p50: 1, p90: 1, p99: 1},
		iterations: 10,
		batchSize: 1,
		setupSeconds: 0,
		warmupSeconds: 0,
		measureSeconds: 2,
		converged: true,
		peakRssBytes: null,
		check: null,
		contention: share === null ? null : {othersShare: share, stealShare: 0, seconds: 2, contended: share >= 0.1, threshold: 0.1},
	});
	const record = (share: number | null): ProbeRecord => ({stepId: 's', title: 'Step', candidate: {config: {} as ProbeConfig, env: {}, recipes: []}, result: figures(share), failure: null, startedAt: '', durationMs: 0});

	function harness(shares: Array<number | null>, waits: boolean[], onBusy: 'give-up' | 'go-on' = 'go-on') {
		const notes: string[] = [];
		let runs = 0;
		let waited = 0;
		const go = measureUntilUncontended('Step', async () => record(shares[runs++] ?? null), {
			quietWaitSeconds: 30,
			onBusy,
			emit: (e: SessionEvent) => {
				if (e.type === 'note') notes.push(e.message);
			},
			waitQuiet: async max => ({quiet: waits[waited++] ?? true, waitedSeconds: max, lastShare: 0.4}),
		});
		return {go, notes, runs: () => runs, waits: () => waited};
	}

	it('measures once when the machine was quiet', async () => {
		const h = harness([0.02], []);
		expect((await h.go).result!.contention!.contended).toBe(false);
		expect(h.runs()).toBe(1);
		expect(h.waits()).toBe(0);
	});

	it('waits for quiet, then measures again and keeps the quiet figures', async () => {
		const h = harness([0.5, 0.03], [true]);
		const r = await h.go;
		expect(r.result!.contention!.othersShare).toBe(0.03);
		expect(h.runs()).toBe(2);
		expect(h.notes[0]).toMatch(/Step: 50% of its CPUs went to other processes while it measured, so its figures are not trusted. Waiting up to 30 s/);
		expect(h.notes[1]).toMatch(/quiet again .* measuring it again/);
	});

	it('keeps figures marked contended after the last re-measurement', async () => {
		const h = harness([0.5, 0.5, 0.5, 0.5], [true, true, true]);
		const r = await h.go;
		expect(r.result!.contention!.contended).toBe(true);
		expect(h.runs()).toBe(MAX_REMEASURES + 1);
		expect(h.notes.at(-1)).toMatch(/still contended after 3 measurements/);
	});

	it('--auto gives up when the machine stays busy past the wait', async () => {
		const h = harness([0.5], [false], 'give-up');
		await expect(h.go).rejects.toBeInstanceOf(BusyMachineError);
		await expect(harness([0.5], [false], 'give-up').go).rejects.toThrow(/the machine stayed busy for 30 s \(40% of the CPUs went to other processes at the last look\)/);
	});

	it('interactive goes on with the figures marked contended', async () => {
		const h = harness([0.5], [false], 'go-on');
		const r = await h.go;
		expect(r.result!.contention!.contended).toBe(true);
		expect(h.notes.at(-1)).toMatch(/stayed busy .* marked as contended/);
		expect(contendedSummary({probes: [r, record(0.01)]})).toMatch(/^1 of 2 probes shared their CPUs with other processes \(up to 50% went elsewhere\)/);
		expect(contendedSummary({probes: [record(0.01)]})).toBeNull();
	});
});

describe('a walk whose decisions rest on contended probes says so', () => {
	const busy: Contention = {othersShare: 0.42, stealShare: 0, seconds: 10, contended: true, threshold: 0.1};
	const quiet: Contention = {othersShare: 0.01, stealShare: 0, seconds: 10, contended: false, threshold: 0.1};
	const base = probeRecord('baseline', 'Baseline: fp32, eager, batch 1', candidate(1), 40);
	const step = probeRecord('01-batch-size', 'Batch size 8', candidate(8, ['batch-size']), 80);
	const result = walkResult({probes: [{...base, result: {...base.result!, contention: quiet}}, {...step, result: {...step.result!, contention: busy}}]});

	it('in the probe line, the summary and the JSON result', () => {
		expect(formatResult(result.probes[1]!.result!)).toMatch(/— CONTENDED: 42% of its CPUs went to other processes$/);
		expect(formatResult(result.probes[0]!.result!)).not.toMatch(/CONTENDED/);
		const lines: string[] = [];
		createTextRenderer(line => lines.push(line))({type: 'session-end', result, error: null});
		expect(lines.at(-1)).toMatch(/^warning: 1 of 2 probes shared their CPUs with other processes \(up to 42% went elsewhere\), so decisions resting on them may be wrong: Batch size 8\./);
		const json = resultLine(result, null);
		expect(json.contended).toEqual([{stepId: '01-batch-size', title: 'Batch size 8', contention: busy}]);
		expect(json.contendedNote).toMatch(/1 of 2 probes shared their CPUs/);
		expect(json.probes[1]!.contention).toEqual(busy);
		expect(resultLine(walkResult(), null).contendedNote).toBeNull();
	});

	it('in report.json, report.md and the env file header', () => {
		const report = buildReport({result, detection: detection(), python: pythonEnv(), model: {name: 'resnet50'}, options: {}, startedAt: new Date(0)});
		expect(report.contendedNote).toMatch(/1 of 2 probes shared their CPUs/);
		expect(report.probes[1]!.result!.contention).toEqual(busy);
		const md = renderReportMarkdown(report);
		expect(md).toMatch(/\*\*Warning: the machine was busy\.\*\* 1 of 2 probes/);
		expect(md).toMatch(/\| Batch size 8 \|.*\| kept \(contended\) \|$/m);
		const env = renderEnvFile({result, detection: detection(), model: 'resnet50', date: new Date(0)});
		expect(env).toMatch(/^# +WARNING: 1 probe was measured while other processes used these CPUs; see report\.md$/m);
	});
});

/** One process spinning on one CPU, pinned there, until the test ends. */
const spinners: ResultPromise[] = [];
function spin(cpu: number): void {
	spinners.push(execa('taskset', ['-c', String(cpu), 'python3', '-c', 'while True: pass'], {reject: false, stdin: 'ignore'}));
}
afterEach(async () => {
	for (const s of spinners.splice(0)) {
		s.kill('SIGKILL');
		await s;
	}
});

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
	cpuList: [0, 1],
	budgetSeconds: 3,
	// Never converges early: the window lasts the whole budget.
	targetRelativeCi: 1e-6,
};

describe('a probe next to a busy loop pinned to its CPUs', () => {
	it('a fake probe measuring flat out is reported contended', async () => {
		spin(0);
		spin(1);
		const outcome = await runProbe(config, {python, entry: {script: fakeProbe}, env: {FAKE_PROBE: 'busy-measure', FAKE_SECONDS: '2'}, graceMs: 500});
		if (!outcome.ok) throw new Error(outcome.failure.message);
		expect(outcome.result.contention).toMatchObject({contended: true});
		expect(outcome.result.contention!.othersShare).toBeGreaterThanOrEqual(0.25);
	});

	it.skipIf(!realProbe)('the real probe on the toy model is reported contended', async () => {
		spin(0);
		const outcome = await runProbe(config, {python: managedPython()});
		if (!outcome.ok) throw new Error(`${outcome.failure.kind}: ${outcome.failure.message}`);
		expect(outcome.result.contention).toMatchObject({contended: true});
		expect(outcome.result.contention!.seconds).toBeGreaterThan(1);
	});

	it('detect reports the load now: busy with the CPUs taken', async () => {
		spin(0);
		spin(1);
		const r = await execa('node', [path.join(root, 'dist', 'cli.js'), 'detect', '--json', '--python', '/nonexistent/python3'], {reject: false, stdin: 'ignore'});
		const json = JSON.parse(r.stdout) as {load: {now: Contention; loadAverage: number[]}};
		expect(json.load.now.contended).toBe(true);
		expect(json.load.now.othersShare).toBeGreaterThanOrEqual(0.5);
		expect(json.load.loadAverage).toHaveLength(3);
		const text = await execa('node', [path.join(root, 'dist', 'cli.js'), 'detect', '--python', '/nonexistent/python3'], {reject: false, stdin: 'ignore'});
		expect(text.stdout).toMatch(/^ {2}load +\d+% of the usable CPUs busy with other processes over \d+ s(, steal \d+%)?; load average [\d.]+ [\d.]+ [\d.]+ — BUSY/m);
		// Another machine's tree (--root) has no load to read.
		const other = await execa('node', [path.join(root, 'dist', 'cli.js'), 'detect', '--json', '--root', path.join(here, 'fixtures', 'trees', 'graviton3')], {reject: false});
		expect((JSON.parse(other.stdout) as {load: unknown}).load).toBeNull();
	});

	it.skipIf(!realProbe)('--auto waits for quiet, then gives up with exit 6 and writes nothing', async () => {
		spin(0);
		spin(1);
		const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-busy-'));
		const out = path.join(tmp, 'out');
		const r = await execa('node', [path.join(root, 'dist', 'cli.js'), '--auto', '--model', 'toy', '--budget', '60s', '--quiet-wait', '3s', '--out', out, '--json'], {
			reject: false,
			stdin: 'ignore',
			timeout: 180_000,
			env: {GRAVITON_TUNE_CONFIG_DIR: path.join(tmp, 'config')},
		});
		expect(r.exitCode, r.stderr).toBe(6);
		// describeContention names the hypervisor's steal when it took 1% or more (seen in CI: "(steal 2% of it, …)").
		expect(r.stderr).toMatch(/Baseline: fp32, eager, batch 1: \d+% of its CPUs went to other processes( \(steal \d+% of it, taken by the hypervisor\))? while it measured/);
		expect(r.stderr).toMatch(/gave up: the machine stayed busy for \d+ s/);
		expect(r.stderr).toMatch(/graviton-tune detect/);
		expect(existsSync(out)).toBe(false);
		const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as SessionEvent;
		expect(last).toMatchObject({type: 'session-end', result: null});
	});
});
