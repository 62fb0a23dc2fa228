// Issue 14: bad input, a broken environment, faults in probes, cancellation, a full disk
// and untrusted text, each as a user meets it: mostly the built CLI, with a stand-in
// Python whose probes are test/fixtures/fake-probes/fake_probe.py (FAKE_PROBE picks the
// fault) while everything else about the run is real. Leftover processes are looked for
// in the process table by a token that only this file's runs carry.
import {execa, type ResultPromise} from 'execa';
import {chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync} from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {outputProblem} from '../source/core/report/deliver.js';
import {managedPython} from '../source/core/paths.js';
import {runProbe} from '../source/core/walk/probe-runner.js';
import {patchFileInPlace, renderEnvFile, renderLaunchScript} from '../source/core/report/outputs.js';
import {Settings} from '../source/core/settings.js';
import type {ProbeConfig} from '../source/core/types.js';
import {parseCommand} from '../source/options.js';
import {detection, tuneFlags, walkResult} from './helpers/render.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const cli = path.join(root, 'dist', 'cli.js');
const fakeProbe = path.join(here, 'fixtures', 'fake-probes', 'fake_probe.py');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-reliability-'));
const isRoot = process.getuid?.() === 0;
const hasManaged = existsSync(managedPython());
const systemPython = ['/usr/bin/python3', '/bin/python3'].find(p => existsSync(p)) ?? 'python3';

/** A Python for the CLI: canned inspection (torch "there"), probes answered by the fake probe. */
const fakePython = path.join(tmp, 'bin', 'fakepython');
/** A Python that never answers (a hung interpreter, or one still importing). */
const slowPython = path.join(tmp, 'bin', 'slowpython');

beforeAll(async () => {
	mkdirSync(path.join(tmp, 'bin'));
	if (!existsSync(cli)) await execa('npm', ['run', 'build'], {cwd: root});
	let canned = '{"pythonVersion":"3.11.7","executable":"x","torch":{"version":"2.13.0","cpuCapability":"AVX2","numThreads":2,"mkldnn":true},"packages":{},"importErrors":{}}';
	if (hasManaged) canned = (await execa(managedPython(), [path.join(root, 'probes', 'inspect_env.py')])).stdout.trim();
	writeFileSync(path.join(tmp, 'inspect.json'), canned + '\n');
	writeFileSync(
		fakePython,
		[
			'#!/bin/bash',
			`case "$1" in *inspect_env.py) sed "s#\\"executable\\":\\"[^\\"]*\\"#\\"executable\\":\\"$0\\"#" "${path.join(tmp, 'inspect.json')}"; exit 0;; esac`,
			`if [ "$1" = "-m" ] && [ "$2" = "graviton_tune_probe" ]; then shift 2; exec "${systemPython}" "${fakeProbe}" "$@"; fi`,
			`exec "${systemPython}" "$@"`,
			'',
		].join('\n'),
	);
	chmodSync(fakePython, 0o755);
	writeFileSync(slowPython, `#!/bin/bash\nsleep 3600.${process.pid}\n`);
	chmodSync(slowPython, 0o755);
});

let runCount = 0;
function freshDirs() {
	runCount += 1;
	const dir = path.join(tmp, `run-${runCount}`);
	mkdirSync(dir);
	return {dir, config: path.join(dir, 'config'), out: path.join(dir, 'out')};
}

function env(config: string, extra: Record<string, string> = {}): Record<string, string> {
	// The token (tmp) is in every child's environment: leftovers are found by it.
	return {GRAVITON_TUNE_CONFIG_DIR: config, GRAVITON_TUNE_BUSY_THRESHOLD: '1', RELIABILITY_TOKEN: tmp, ...extra};
}

function run(args: string[], opts: {env?: Record<string, string>; timeout?: number} = {}) {
	const {config} = freshDirs();
	return execa('node', [cli, ...args], {stdin: 'ignore', reject: false, timeout: opts.timeout ?? 120_000, env: env(config, opts.env)});
}

/** Live processes (not zombies) whose command line or environment carries the token. */
function leftovers(token = tmp): string[] {
	const found: string[] = [];
	const needle = Buffer.from(token);
	for (const entry of readdirSync('/proc')) {
		if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
		try {
			if (/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${entry}/stat`, 'utf8'))) continue;
			const cmdline = readFileSync(`/proc/${entry}/cmdline`);
			if (cmdline.includes(needle) || readFileSync(`/proc/${entry}/environ`).includes(needle)) found.push(`${entry}: ${cmdline.toString().replace(/\0/g, ' ')}`);
		} catch {
			// gone meanwhile, or not readable
		}
	}
	return found;
}

async function noLeftovers(token = tmp): Promise<string[]> {
	for (let i = 0; i < 50 && leftovers(token).length > 0; i++) await new Promise(r => setTimeout(r, 100));
	return leftovers(token);
}

async function waitUntil(condition: () => boolean, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!condition()) {
		if (Date.now() > deadline) throw new Error('timed out waiting');
		await new Promise(r => setTimeout(r, 50));
	}
}

async function waitFor(text: () => string, pattern: RegExp, timeoutMs = 60_000): Promise<void> {
	const deadline = Date.now() + timeoutMs;
	while (!pattern.test(text())) {
		if (Date.now() > deadline) throw new Error(`timed out waiting for ${pattern}; got:\n${text()}`);
		await new Promise(r => setTimeout(r, 50));
	}
}

function collect(child: ResultPromise): () => string {
	let text = '';
	child.stderr?.on('data', (chunk: Buffer) => (text += chunk.toString()));
	child.stdout?.on('data', (chunk: Buffer) => (text += chunk.toString()));
	return () => text;
}

// ------------------------------------------------------------------ input

describe('input', () => {
	it('an unknown model name: exit 2, naming the built-ins', async () => {
		const r = await run(['--auto', '--model', 'resnet5O']);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/--model resnet5O: not a built-in \(resnet50, resnet18, .*toy\)/);
	});

	it('an unreadable model file: missing, a dangling symlink → exit 2 before any probe, naming the file', async () => {
		const missing = path.join(tmp, 'no_such_model.py');
		const r = await run(['--auto', '--model', missing, '--input-shape', '3,8,8', '--python', fakePython]);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toContain(`--model ${missing}: cannot read the model file: no such file`);
		expect(r.stderr).not.toMatch(/Baseline/);
		const dangling = path.join(tmp, 'dangling_model.pt');
		symlinkSync(path.join(tmp, 'gone.pt'), dangling);
		const d = await run(['--auto', '--model', dangling]);
		expect(d.exitCode).toBe(2);
		expect(d.stderr).toMatch(/cannot read the model file: no such file \(or a symlink to nothing\)/);
	});

	it.skipIf(!isRoot)('a model file this user may not read (run as nobody) → exit 2', async () => {
		const dir = mkdtempSync(path.join(tmp, 'nobody-'));
		chmodSync(dir, 0o755);
		const model = path.join(dir, 'secret_model.py');
		writeFileSync(model, 'def build_model(): pass\n', {mode: 0o600});
		const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, cli, '--auto', '--model', model, '--input-shape', '3,8,8'], {
			reject: false,
			stdin: 'ignore',
			env: {HOME: dir, GRAVITON_TUNE_CONFIG_DIR: path.join(dir, 'config'), GRAVITON_TUNE_HOME: path.join(dir, 'home')},
		});
		expect(r.exitCode, r.stderr).toBe(2);
		expect(r.stderr).toContain(`--model ${model}: cannot read the model file: this user may not read it`);
	});

	it.each([
		[['--auto', '--budget', '10x'], /--budget 10x: expected a duration such as 10m, 90s or 1h30m/],
		[['--auto', '--budget=-5m'], /--budget -5m: expected a duration/],
		[['--auto', '--budget', '1h30'], /--budget 1h30: expected a duration/],
		[['--auto', '--quiet-wait', 'soon'], /--quiet-wait soon: expected a duration/],
		[['--auto', '--budget'], /--budget/],
		[['--auto', '--min-cosine', '2'], /--min-cosine 2: expected a number between 0 and 1/],
		[['probe', '--batch-size', '0'], /--batch-size 0: expected a positive whole number/],
		[['probe', '--env', 'NOEQUALS'], /--env NOEQUALS: expected KEY=VALUE/],
		[['--auto', '--frobnicate'], /Unknown option '--frobnicate'/],
		[['detect', 'extra'], /unexpected argument: extra/],
		[['--auto', '--input-shape', '3,0,8'], /--input-shape 3,0,8: expected the per-sample shape/],
	])('malformed: %j → exit 2, naming the flag', async (args, message) => {
		expect(() => parseCommand(args)).toThrow(message);
		const r = await run(args);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(message);
		expect(r.stderr).toMatch(/Try: graviton-tune --help/);
	});

	it('--out that is a file → exit 2 before the walk', async () => {
		const file = path.join(tmp, 'out-is-a-file');
		writeFileSync(file, 'x');
		const r = await run(['--auto', '--model', 'toy', '--out', file, '--python', fakePython]);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toContain(`--out ${file}: exists and is not a directory`);
	});

	describe.skipIf(!isRoot)('on a read-only file system', () => {
		const mount = path.join(tmp, 'ro');
		beforeAll(async () => {
			mkdirSync(mount);
			await execa('mount', ['-t', 'tmpfs', '-o', 'ro,size=64k', 'tmpfs', mount]);
		});
		afterAll(async () => {
			await execa('umount', [mount], {reject: false});
		});

		it('--out there → exit 2 before the walk', async () => {
			const r = await run(['--auto', '--model', 'toy', '--out', mount, '--python', fakePython]);
			expect(r.exitCode).toBe(2);
			expect(r.stderr).toContain(`--out ${mount}: on a read-only file system`);
		});

		it('--out below it (not there yet) → exit 2 before the walk, naming the read-only parent', async () => {
			const out = path.join(mount, 'new', 'out');
			const r = await run(['--auto', '--model', 'toy', '--out', out, '--python', fakePython]);
			expect(r.exitCode, r.stderr).toBe(2);
			expect(r.stderr).toContain(`--out ${out}: cannot be created in ${mount}: on a read-only file system`);
		});
	});

	describe('--launch-script', () => {
		const tune = (launchScript: string) => tuneFlags({launchScript, out: path.join(tmp, 'ls-out')});

		it('binary → refused before the walk', async () => {
			const binary = path.join(tmp, 'a.out');
			writeFileSync(binary, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0x3e, 0]));
			expect(await outputProblem(tune(binary))).toBe(`--launch-script ${binary}: a binary file, not a shell script (patching it would corrupt it)`);
			const r = await run(['--auto', '--model', 'toy', '--launch-script', binary]);
			expect(r.exitCode).toBe(2);
			expect(r.stderr).toMatch(/a binary file, not a shell script/);
		});

		it('a directory → refused; UTF-8 text with accents → accepted', async () => {
			expect(await outputProblem(tune(tmp))).toBe(`--launch-script ${tmp}: not a regular file`);
			const text = path.join(tmp, 'café.sh');
			writeFileSync(text, '#!/bin/sh\n# démarre le service\npython3 serve.py\n');
			expect(await outputProblem(tune(text))).toBeNull();
		});

		it('a symlink → the script it points to is patched, the link stays a link', async () => {
			const target = path.join(tmp, 'real-start.sh');
			const link = path.join(tmp, 'start-link.sh');
			writeFileSync(target, '#!/bin/sh\nexec python3 serve.py\n', {mode: 0o755});
			symlinkSync(target, link);
			expect(await outputProblem(tune(link))).toBeNull();
			const best = walkResult().best.candidate;
			const done = await patchFileInPlace(link, {best, envFilePath: path.join(tmp, 'graviton-tune.env')});
			expect(done.path).toBe(target);
			expect(lstatSync(link).isSymbolicLink()).toBe(true);
			expect(readlinkSync(link)).toBe(target);
			expect(readFileSync(target, 'utf8')).toMatch(/# >>> graviton-tune >>>/);
		});
		// No python invocation: test/outputs.test.ts 'only adds the env block when there is no python line, and says so'.
	});

	it('a corrupt settings file is copied aside and said, not silently reset', async () => {
		for (const damage of ['{"history": {"abc": ', '[1, 2, 3]', '{"history": 5}']) {
			const dir = mkdtempSync(path.join(tmp, 'settings-'));
			writeFileSync(path.join(dir, 'config.json'), damage);
			const settings = new Settings(dir);
			expect(settings.damagedCopy).not.toBeNull();
			expect(readFileSync(settings.damagedCopy!, 'utf8')).toBe(damage);
			expect(settings.damageNote()).toMatch(/was damaged .* a copy is kept at .*config\.json\.damaged-/);
			// And it works afresh.
			settings.savePreferences({model: 'toy'});
			expect(new Settings(dir).preferences()).toEqual({model: 'toy'});
			expect(new Settings(dir).damagedCopy).toBeNull();
		}
	});

	it('a corrupt settings file: the walk says so and goes on', async () => {
		const {config, out} = freshDirs();
		mkdirSync(config, {recursive: true});
		writeFileSync(path.join(config, 'config.json'), 'not json at all');
		const r = await execa('node', [cli, '--auto', '--model', 'toy', '--budget', '20s', '--recipes', 'channels-last', '--out', out, '--python', fakePython], {
			reject: false,
			stdin: 'ignore',
			env: env(config, {FAKE_PROBE: 'good'}),
		});
		expect(r.exitCode, r.stderr).toBe(0);
		expect(r.stderr).toMatch(/warning: The settings file .*config\.json was damaged/);
		const copies = readdirSync(config).filter(name => name.startsWith('config.json.damaged-'));
		expect(copies).toHaveLength(1);
		expect(readFileSync(path.join(config, copies[0]!), 'utf8')).toBe('not json at all');
	});

	it('a malformed recipe file: its name and the problem, exit 3, never a stack trace', async () => {
		// A copy of the installed package, with one recipe damaged by hand.
		const pkg = path.join(tmp, 'pkg');
		for (const part of ['dist', 'recipes', 'probes', 'package.json']) await fs.cp(path.join(root, part), path.join(pkg, part), {recursive: true});
		symlinkSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'));
		const recipe = readdirSync(path.join(pkg, 'recipes')).find(name => name.endsWith('.json'))!;
		writeFileSync(path.join(pkg, 'recipes', recipe), '{"id": "oops", ');
		const r = await execa('node', [path.join(pkg, 'dist', 'cli.js'), 'detect', '--root', path.join(here, 'fixtures', 'trees', 'graviton3')], {reject: false, stdin: 'ignore'});
		expect(r.exitCode).toBe(3);
		expect(r.stderr).toContain(`recipes/${recipe}`);
		expect(r.stderr).toMatch(/JSON|parse/i);
		expect(r.stderr).not.toMatch(/^\s+at /m);
		expect(r.stderr).not.toMatch(/internal error/);
	});
});

// ------------------------------------------------------------------ environment

describe('environment', () => {
	it('no python3 anywhere: exit 3 with the fix', async () => {
		const {config} = freshDirs();
		const bin = path.join(tmp, 'empty-bin');
		mkdirSync(bin, {recursive: true});
		const r = await execa(process.execPath, [cli, '--auto', '--model', 'toy'], {
			reject: false,
			stdin: 'ignore',
			extendEnv: false,
			env: {PATH: bin, HOME: tmp, GRAVITON_TUNE_HOME: path.join(tmp, 'no-home'), GRAVITON_TUNE_CONFIG_DIR: config},
		});
		expect(r.exitCode).toBe(3);
		expect(r.stderr).toMatch(/no Python interpreter found|Python/);
		expect(r.stderr).toMatch(/fix: install Python 3\.9\+ .* or pass --python PATH/);
	});
	// Python without torch: test/auto.test.ts '3 when the Python given has no torch, with the fix'.
	// torch too old, a missing optional backend: test/recipes.test.ts (applicability and advisories).
	// Unreadable THP and other /sys files: test/hardware.test.ts 'an unreadable optional file becomes a note'.
	// A CPU quota below the visible CPUs: test/hardware.test.ts graviton3-container, test/recipes.test.ts advisories.

	it('an allocator that disappeared between detect and the probe: the step fails and says so; the probe never runs', async () => {
		const config: ProbeConfig = {model: {name: 'toy'}, batchSize: 1, channelsLast: false, autocast: null, fp32Precision: null, compile: false, quantization: null, backend: 'torch', workers: 1, threadsPerWorker: 1, budgetSeconds: 1};
		const gone = path.join(tmp, 'libtcmalloc.so.4');
		const events: unknown[] = [];
		const outcome = await runProbe(config, {python: systemPython, entry: {script: fakeProbe}, env: {FAKE_PROBE: 'good', LD_PRELOAD: gone}, onEvent: e => events.push(e)});
		expect(outcome.ok).toBe(false);
		if (!outcome.ok) {
			expect(outcome.failure.code).toBe('preload-missing');
			expect(outcome.failure.message).toContain(`LD_PRELOAD names ${gone}, which is not there`);
			expect(outcome.failure.hint).toMatch(/setup --system/);
		}
		expect(events).toEqual([]);
	});
});

// ------------------------------------------------------------------ faults in probes

const probeConfig: ProbeConfig = {model: {name: 'toy'}, batchSize: 1, channelsLast: false, autocast: null, fp32Precision: null, compile: false, quantization: null, backend: 'torch', workers: 1, threadsPerWorker: 1, budgetSeconds: 1};
const fake = (mode: string, extra: Partial<Parameters<typeof runProbe>[1]> = {}) =>
	runProbe(probeConfig, {python: systemPython, entry: {script: fakeProbe}, env: {FAKE_PROBE: mode, RELIABILITY_TOKEN: tmp}, graceMs: 300, ...extra});

describe('faults in probes', () => {
	// Crash, signal, hang, garbage on stdout: test/probe-runner.test.ts 'runProbe with a fake probe'.
	it('a compile that never ends: the time limit fires and the whole tree is stopped', async () => {
		const phases: string[] = [];
		const outcome = await fake('compile-hang', {timeoutMs: 1500, onEvent: e => e.type === 'phase' && phases.push(e.phase)});
		expect(phases).toEqual(['compile']);
		expect(outcome.ok).toBe(false);
		if (!outcome.ok) expect(outcome.failure).toMatchObject({kind: 'timeout', message: expect.stringMatching(/ran longer than its 2 s limit/)});
		expect(await noLeftovers()).toEqual([]);
	});

	it('megabytes of output (and a 2 MB line) on both streams: the result still counts', async () => {
		const outcome = await fake('flood');
		if (!outcome.ok) throw new Error(outcome.failure.message);
		expect(outcome.result.samplesPerSecond.median).toBe(100);
		expect(outcome.events.filter(e => e.type === 'result')).toHaveLength(1);
	});

	it('library messages reach the user without terminal escape codes', async () => {
		const logs: string[] = [];
		const outcome = await fake('ansi', {onEvent: e => e.type === 'log' && logs.push(e.message)});
		expect(outcome.ok).toBe(false);
		if (outcome.ok) return;
		expect(outcome.failure.message).toBe('could not load the model');
		expect(outcome.failure.hint).toBe('fix it');
		expect(outcome.failure.stderrTail).toContain('RuntimeError: boom');
		expect(logs).toEqual(['UserWarning: slow path']);
		for (const text of [outcome.failure.message, outcome.failure.hint ?? '', outcome.failure.stderrTail, ...logs]) expect(text).not.toMatch(/[\u001b\u0007\u009b]/); // eslint-disable-line no-control-regex -- looking for escapes is the point
	});

	const memoryCgroups = '/sys/fs/cgroup/memory';
	const canLimitMemory = isRoot && existsSync(path.join(memoryCgroups, 'cgroup.procs'));
	it.skipIf(!canLimitMemory)('out of memory under a memory limit: "out of memory", with the peak it reached', async () => {
		const group = path.join(memoryCgroups, `gt-reliability-${process.pid}`);
		mkdirSync(group);
		try {
			writeFileSync(path.join(group, 'memory.limit_in_bytes'), String(160 * 2 ** 20));
			try {
				writeFileSync(path.join(group, 'memory.memsw.limit_in_bytes'), String(160 * 2 ** 20));
			} catch {
				// no swap accounting: the memory limit alone
			}
			const limited = path.join(tmp, 'bin', 'limited-python');
			writeFileSync(limited, `#!/bin/bash\necho $$ > ${path.join(group, 'cgroup.procs')}\nexec ${systemPython} "$@"\n`);
			chmodSync(limited, 0o755);
			const outcome = await runProbe(probeConfig, {python: limited, entry: {script: fakeProbe}, env: {FAKE_PROBE: 'hog'}, timeoutMs: 60_000});
			expect(outcome.ok).toBe(false);
			if (outcome.ok) return;
			expect(outcome.failure.kind).toBe('oom');
			expect(outcome.failure.message).toMatch(/^out of memory: .*\(its processes had reached (\d+) MiB\)/);
			const peak = Number(/reached (\d+) MiB/.exec(outcome.failure.message)![1]);
			expect(peak).toBeGreaterThanOrEqual(48);
			expect(peak).toBeLessThanOrEqual(200);
		} finally {
			for (let i = 0; i < 20; i++) {
				try {
					await fs.rmdir(group);
					break;
				} catch {
					await new Promise(r => setTimeout(r, 100));
				}
			}
		}
	});
	it.each([
		['sigkill', /out of memory: the probe was killed \(SIGKILL\)/],
		['garbage', /the probe wrote something that is not a probe event on stdout: "hello, I am not JSON"/],
		['exit3', /the probe exited with code 3 without reporting an error: something went wrong quietly/],
		['segv', /died from SIGSEGV, which graviton-tune did not send/],
	])('a walk whose channels_last probe fails (%s) records it, goes on, and the report says what and why', async (mode, why) => {
		const {dir} = freshDirs();
		const out = path.join(dir, 'out');
		const r = await run(['--auto', '--model', 'toy', '--budget', '30s', '--recipes', 'channels-last', '--out', out, '--python', fakePython, '--json'], {env: {FAKE_PROBE: 'good', FAKE_PROBE_WHEN_CHANNELS_LAST: mode}});
		expect(r.exitCode, r.stderr).toBe(0);
		expect(r.stderr).toMatch(why);
		const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {decisions: Array<{title: string; outcome: string}>; probes: Array<{title: string; failure: {message: string} | null}>};
		expect(last.decisions.find(d => /channels_last/.test(d.title))?.outcome).toBe('failed');
		expect(last.probes.find(p => /channels_last/.test(p.title))?.failure?.message).toMatch(why);
		const md = readFileSync(path.join(out, 'report.md'), 'utf8');
		expect(md).toMatch(/## Failures/);
		expect(md.slice(md.indexOf('## Failures'))).toMatch(why);
		expect(await noLeftovers(dir)).toEqual([]);
	});
	// Hang with no output: test/probe-runner.test.ts 'times out, and takes the whole process group down'.
});

// ------------------------------------------------------------------ cancellation

type Phase = 'detect' | 'setup' | 'compile' | 'measurement' | 'writing';
const signals = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Start the CLI in a phase, and how to tell it got there: a text it printed, or (for a
 * Python that never answers) its process in the table. Either exists only once the CLI's
 * signal handlers are in place.
 */
function startIn(phase: Phase, dirs: ReturnType<typeof freshDirs>): {child: ResultPromise; ready: RegExp | (() => boolean)} {
	const tuneArgs = ['--auto', '--model', 'toy', '--budget', '60s', '--recipes', 'channels-last', '--out', dirs.out, '--python', fakePython];
	const spawn = (args: string[], extra: Record<string, string> = {}) =>
		execa('node', [cli, ...args], {stdin: 'ignore', reject: false, timeout: 120_000, env: env(dirs.config, {GRAVITON_TUNE_HOME: path.join(dirs.dir, 'home'), ...extra})});
	// This run's own never-answering Python: its path names the run, so the table tells whose it is.
	const slow = path.join(dirs.dir, 'slowpython');
	writeFileSync(slow, readFileSync(slowPython));
	chmodSync(slow, 0o755);
	const slowRunning = () => leftovers(dirs.dir).some(p => p.includes('sleep 3600'));
	switch (phase) {
		case 'detect':
			// detect asks Python what it has: that Python is still starting.
			return {child: spawn(['detect', '--python', slow]), ready: slowRunning};
		case 'setup':
			return {child: spawn(['setup', '--python', slow]), ready: slowRunning};
		case 'compile':
			return {child: spawn(tuneArgs, {FAKE_PROBE: 'compile-hang'}), ready: /compile…/};
		case 'measurement':
			return {child: spawn(tuneArgs, {FAKE_PROBE: 'hang'}), ready: /\[1\] Baseline/};
		case 'writing': {
			const script = path.join(dirs.dir, 'start.sh');
			writeFileSync(script, '#!/bin/sh\nexec python3 serve.py\n', {mode: 0o755});
			return {child: spawn([...tuneArgs, '--launch-script', script], {FAKE_PROBE: 'good'}), ready: /Patching /};
		}
	}
}

/** Each output file is either absent or whole; no temp file is left. */
function completeOrAbsent(out: string): void {
	if (!existsSync(out)) return;
	const names = readdirSync(out);
	expect(names.filter(n => n.includes('.tmp-'))).toEqual([]);
	if (names.includes('report.json')) JSON.parse(readFileSync(path.join(out, 'report.json'), 'utf8'));
	if (names.includes('graviton-tune.env')) expect(readFileSync(path.join(out, 'graviton-tune.env'), 'utf8')).toMatch(/^GT_THREADS_PER_WORKER=\d+\n(GT_CPU_LIST=.*\n)?$/m);
	if (names.includes('launch.sh')) expect(readFileSync(path.join(out, 'launch.sh'), 'utf8')).toMatch(/^exec .* "\$@"\n$/m);
}

function settingsIntact(config: string): void {
	const file = path.join(config, 'config.json');
	if (existsSync(file)) JSON.parse(readFileSync(file, 'utf8'));
	if (existsSync(config)) expect(readdirSync(config).filter(n => n.includes('damaged'))).toEqual([]);
}

describe('cancellation, headless', () => {
	it('a reader that leaves the pipe (detect | true): exit 0, no stack trace', async () => {
		const r = await execa('bash', ['-c', `node ${cli} detect | true; echo "cli-exit \${PIPESTATUS[0]}" >&2`], {reject: false});
		expect(r.stderr).toMatch(/cli-exit 0/);
		expect(r.stderr).not.toMatch(/EPIPE|at \S+ \(/);
	});

	const cases = (['detect', 'setup', 'compile', 'measurement', 'writing'] as Phase[]).flatMap(phase => signals.map(signal => [phase, signal] as const));
	it.each(cases)('%s, %s: exit 130, no process left, outputs complete or absent, settings intact', async (phase, signal) => {
		const dirs = freshDirs();
		const {child, ready} = startIn(phase, dirs);
		const text = collect(child);
		if (ready instanceof RegExp) await waitFor(text, ready);
		else await waitUntil(ready);
		if (phase !== 'writing') await new Promise(r => setTimeout(r, 300));
		const sent = child.kill(signal);
		const r = await child;
		expect(r.stderr).not.toMatch(/internal error/);
		if (phase === 'writing') {
			// Caught while writing: 130 once the files are whole. The signal may also come
			// after the run had ended well (0), or land as Node is exiting, which the signal
			// then ends: both only once every file was written.
			if (r.exitCode !== 130) {
				expect(r.exitCode === 0 || (r.exitCode === undefined && r.signal === signal), `${sent} ${r.exitCode} ${r.signal}`).toBe(true);
				expect(r.stderr).toMatch(/^Deploy: /m);
			}
		} else {
			expect(r.exitCode, String(r.stderr)).toBe(130);
			expect(existsSync(dirs.out)).toBe(false);
		}
		completeOrAbsent(dirs.out);
		settingsIntact(dirs.config);
		expect(await noLeftovers(dirs.dir)).toEqual([]);
	});
});

describe('cancellation, interactive (under a pseudo-terminal)', () => {
	const scriptTool = ['/usr/bin/script', '/bin/script'].find(p => existsSync(p));
	const hows = ['SIGINT', 'SIGTERM', 'SIGHUP', 'Ctrl+C'] as const;
	const phases = ['detect', 'compile', 'measurement', 'writing'] as const;
	const cases = phases.flatMap(phase => hows.map(how => [phase, how] as const));
	it.skipIf(!scriptTool).each(cases)('%s, %s: exit 130, no process left, outputs complete or absent', async (phase, how) => {
		const dirs = freshDirs();
		const slow = path.join(dirs.dir, 'slowpython');
		writeFileSync(slow, readFileSync(slowPython));
		chmodSync(slow, 0o755);
		const python = phase === 'detect' ? slow : fakePython;
		const mode = {detect: 'good', compile: 'compile-hang', measurement: 'hang', writing: 'good'}[phase];
		const command = `stty cols 100 rows 30; exec node ${cli} --model toy --yes --budget 60s --recipes channels-last --out ${dirs.out} --python ${python}`;
		// Where CI is set (to anything but 0/false) graviton-tune refuses the interactive face.
		const {CI: _ci, CONTINUOUS_INTEGRATION: _ci2, ...outside} = process.env;
		const child = execa(scriptTool!, ['-qfec', command, '/dev/null'], {
			reject: false,
			stdin: 'pipe',
			timeout: 120_000,
			extendEnv: false,
			env: {...outside, ...env(dirs.config, {FAKE_PROBE: mode, TERM: 'xterm-256color'})},
		});
		const text = collect(child);
		const ready = {detect: /Reading the machine/, compile: /compile/, measurement: /Baseline/, writing: /Result|Wrote|written/i}[phase];
		await waitFor(text, ready);
		if (phase === 'detect') await waitUntil(() => leftovers(dirs.dir).some(p => p.includes('sleep 3600')));
		else if (phase !== 'writing') await new Promise(r => setTimeout(r, 500));
		if (how === 'Ctrl+C') {
			child.stdin!.write('\u0003');
		} else {
			const node = leftovers(dirs.dir).find(p => p.includes(cli) && !p.includes('stty'));
			if (node) process.kill(Number(node.split(':')[0]), how);
			else expect(phase).toBe('writing'); // only a finished run may be gone already
		}
		const r = await child;
		if (phase === 'writing') {
			// Caught while writing, or after: the files are whole either way.
			expect([0, 130]).toContain(r.exitCode);
			completeOrAbsent(dirs.out);
		} else {
			expect(r.exitCode, text()).toBe(130);
			expect(existsSync(dirs.out)).toBe(false);
		}
		settingsIntact(dirs.config);
		expect(await noLeftovers(dirs.dir)).toEqual([]);
	});
});

// ------------------------------------------------------------------ disk full

describe.skipIf(!isRoot)('disk full while writing the outputs', () => {
	const mount = path.join(tmp, 'full');
	beforeAll(async () => {
		mkdirSync(mount);
		await execa('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mount]);
		// Leave about 24 KB: the env file and launch.sh fit, report.json and the runtime helper do not.
		await execa('bash', ['-c', `head -c $(( $(df -B1 --output=avail ${mount} | tail -1) - 24576 )) /dev/zero > ${mount}/filler`]);
	});
	afterAll(async () => {
		await execa('umount', [mount], {reject: false});
	});

	it('nothing partial, exit 5, the message says where', async () => {
		const out = path.join(mount, 'out');
		const r = await run(['--auto', '--model', 'toy', '--budget', '20s', '--recipes', 'channels-last', '--out', out, '--python', fakePython, '--json'], {env: {FAKE_PROBE: 'good'}});
		expect(r.exitCode, r.stderr).toBe(5);
		expect(r.stderr).toMatch(new RegExp(`could not write the output files: ${out}/[a-z_.]+: no space left on device`));
		expect(readdirSync(mount)).toEqual(['filler']);
		const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {type: string; files: unknown};
		expect(last).toMatchObject({type: 'result', files: null});
	});

	it('an existing set of files is left exactly as it was', async () => {
		const out = path.join(mount, 'kept');
		mkdirSync(out);
		writeFileSync(path.join(out, 'graviton-tune.env'), 'OMP_NUM_THREADS=1\n');
		const r = await run(['--auto', '--model', 'toy', '--budget', '20s', '--recipes', 'channels-last', '--out', out, '--python', fakePython], {env: {FAKE_PROBE: 'good'}});
		expect(r.exitCode).toBe(5);
		expect(readdirSync(out)).toEqual(['graviton-tune.env']);
		expect(readFileSync(path.join(out, 'graviton-tune.env'), 'utf8')).toBe('OMP_NUM_THREADS=1\n');
	});
});

// ------------------------------------------------------------------ untrusted text

describe('untrusted text in the launch script and env file', () => {
	const nasty = ["it's", '"double"', '$(touch PWNED)', '`touch PWNED2`', 'two words', 'line\nbreak', 'naïve-日本', '$HOME', '; rm -rf x', '\\back'];

	it('model paths and app commands end up quoted, never executed', async () => {
		const dir = mkdtempSync(path.join(tmp, 'untrusted-'));
		const modelFile = path.join(dir, "my model $(touch PWNED) 'q'\nx ünï.py");
		writeFileSync(modelFile, 'def build_model(): pass\n');
		const app = ['python', 'serve.py', ...nasty];
		// From the command line: --app is split like a shell would (quotes kept together).
		expect(parseCommand(['--auto', '--app', `python serve.py "two words" 'it"s' $(touch PWNED)`]).kind).toBe('tune');
		const result = walkResult();
		const files = {
			'graviton-tune.env': renderEnvFile({result, detection: detection(), model: path.basename(modelFile), date: new Date(0)}),
			'launch.sh': renderLaunchScript({best: result.best.candidate, app, envFileName: 'graviton-tune.env'}),
		};
		for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content, {mode: 0o755});
		// A stand-in python first on PATH prints the argv it was given, as JSON.
		const bin = path.join(dir, 'bin');
		mkdirSync(bin);
		writeFileSync(path.join(bin, 'python'), `#!${systemPython}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n`, {mode: 0o755});
		const work = path.join(dir, 'cwd');
		mkdirSync(work);
		const r = await execa('bash', [path.join(dir, 'launch.sh'), 'extra arg'], {cwd: work, env: {PATH: `${bin}:${process.env['PATH']}`}});
		expect(JSON.parse(r.stdout)).toEqual(['serve.py', ...nasty, 'extra arg']);
		// The env file, sourced as the launch script does, runs nothing either.
		await execa('bash', ['-euc', `set -a; . ${JSON.stringify(path.join(dir, 'graviton-tune.env'))}; set +a; echo "$GT_BATCH_SIZE"`], {cwd: work});
		for (const where of [work, dir, process.cwd()]) {
			expect(existsSync(path.join(where, 'PWNED'))).toBe(false);
			expect(existsSync(path.join(where, 'PWNED2'))).toBe(false);
		}
		// Every line of the env file is a comment, blank, or a bare KEY=VALUE.
		for (const line of files['graviton-tune.env'].split('\n')) expect(line).toMatch(/^(#.*|[A-Z_][A-Z0-9_]*=[A-Za-z0-9_./:,@+={}-]*|)$/);
		expect(files['graviton-tune.env']).toContain('ünï.py');
	});

	it('from the command line: a model path with spaces, quotes and $() reaches the files quoted', async () => {
		const dir = mkdtempSync(path.join(tmp, 'untrusted-cli-'));
		const modelFile = path.join(dir, "my model $(touch PWNED) 'q' ünï.py");
		writeFileSync(modelFile, 'def build_model(): pass\n');
		const out = path.join(dir, 'out');
		const r = await run(['--auto', '--model', modelFile, '--input-shape', '3,8,8', '--budget', '20s', '--recipes', 'channels-last', '--out', out, '--python', fakePython, '--app', `python "serve me.py" '$(touch PWNED)' naïve`], {env: {FAKE_PROBE: 'good'}});
		expect(r.exitCode, r.stderr).toBe(0);
		const launch = readFileSync(path.join(out, 'launch.sh'), 'utf8');
		expect(launch).toMatch(/^exec python 'serve me\.py' '\$\(touch PWNED\)' 'naïve' "\$@"$/m);
		expect(readFileSync(path.join(out, 'graviton-tune.env'), 'utf8')).toContain("# Model:   my model $(touch PWNED) 'q' ünï.py");
		expect(existsSync(path.join(dir, 'PWNED'))).toBe(false);
	});
});
