import {spawnSync} from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {
	EnvValueError,
	buildReport,
	envVariables,
	launcherArgv,
	patchFileInPlace,
	patchLaunchScript,
	renderEnvFile,
	renderLaunchScript,
	renderOutputFiles,
	renderReportMarkdown,
	unifiedDiff,
	writeOutputs,
} from '../source/core/report/outputs.js';
import {verdict} from '../source/core/report/verdict.js';
import {intervalWords, speedupText} from '../source/core/report/headline.js';
import {createTextRenderer} from '../source/headless/text.js';
import {renderReportHtml} from '../source/core/report/report-html.js';
import type {Candidate, Detection, KernelAccount, ProbeConfig, ProbeResult, PythonEnv, WalkResult} from '../source/core/types.js';

// ---------------------------------------------------------------- fixtures

function config(over: Partial<ProbeConfig> = {}): ProbeConfig {
	return {
		model: {name: 'resnet50'},
		batchSize: 1,
		channelsLast: false,
		autocast: null,
		fp32Precision: null,
		compile: false,
		quantization: null,
		backend: 'torch',
		workers: 1,
		threadsPerWorker: 4,
		budgetSeconds: 10,
		...over,
	};
}

function candidate(over: Partial<ProbeConfig> = {}, env: Record<string, string> = {}, recipes: string[] = []): Candidate {
	return {config: config(over), env, recipes};
}

function result(median: number, over: Partial<ProbeResult> = {}): ProbeResult {
	return {
		samplesPerSecond: {median, ciLow: median * 0.98, ciHigh: median * 1.02},
		latencyMs: {p50: 10, p90: 12, p99: 15.25},
		iterations: 100,
		batchSize: 8,
		setupSeconds: 3,
		warmupSeconds: 1,
		measureSeconds: 5,
		converged: true,
		peakRssBytes: 123456789,
		check: {cosine: 0.99987, maxAbsError: 0.01, top1Agreement: 1},
		...over,
	};
}

const winnerEnv = {
	LD_PRELOAD: '/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4',
	THP_MEM_ALLOC_ENABLE: '1',
	DNNL_DEFAULT_FPMATH_MODE: 'BF16',
	LRU_CACHE_CAPACITY: '1024',
	OMP_PROC_BIND: 'false',
	OMP_PLACES: 'cores',
	OMP_NUM_THREADS: '99', // must be replaced by threadsPerWorker
};

function walk(best: Candidate = candidate({batchSize: 8, channelsLast: true, autocast: 'bf16', compile: true, workers: 2, threadsPerWorker: 2, cpuList: [0, 1, 2, 3]}, winnerEnv, ['batch', 'channels-last', 'bf16', 'tcmalloc'])): WalkResult {
	const baseline = candidate();
	return {
		baseline: {candidate: baseline, result: result(12.6)},
		best: {candidate: best, result: result(52.2), speedup: 52.2 / 12.6},
		verification: {baseline: result(12.5), best: result(51.9), speedup: 51.9 / 12.5},
		probes: [
			{stepId: 'baseline', title: 'Baseline | fp32', candidate: baseline, result: result(12.6), failure: null, startedAt: '2025-01-01T00:00:00Z', durationMs: 5000},
			{stepId: 'bf16', title: 'bf16 autocast', candidate: best, result: result(52.2), failure: null, startedAt: '2025-01-01T00:01:00Z', durationMs: 5000},
			{
				stepId: 'int8',
				title: 'int8',
				candidate: candidate({quantization: 'int8'}),
				result: null,
				failure: {kind: 'probe-error', code: 'missing-package', message: 'torchao is missing', hint: 'pip install torchao', exitCode: 1, signal: null, stderrTail: ''},
				startedAt: '2025-01-01T00:02:00Z',
				durationMs: 800,
			},
		],
		decisions: [
			{stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: 'fp32 eager batch 1', samplesPerSecond: 12.6, ratio: null},
			{stepId: 'bf16', recipeId: 'bf16', title: 'bf16 autocast', outcome: 'kept', reason: 'faster beyond the CI', samplesPerSecond: 52.2, ratio: 4.1},
			{stepId: 'int8', recipeId: 'int8', title: 'int8', outcome: 'failed', reason: 'torchao is missing', samplesPerSecond: null, ratio: null},
		],
		interrupted: false,
		elapsedSeconds: 300,
	};
}

const detection: Detection = {
	root: '/',
	live: true,
	cpu: {
		arch: 'aarch64',
		vendor: 'Arm',
		core: 'Neoverse-V1',
		platform: 'AWS Graviton3',
		platformGuess: null,
		modelName: null,
		logicalCpus: 4,
		features: ['bf16'],
		isa: {bf16: true, i8mm: true, sve: true, sve2: false, avx512: false, avx512bf16: false, vnni: false, amx: false},
		sveVectorBits: 256,
		implementer: '0x41',
		part: '0xd40',
		variant: '1',
		revision: '1',
		bogomips: 2100,
	},
	usableCpus: 4,
	usableCpuList: [0, 1, 2, 3],
	cpuQuota: null,
	numaNodes: null,
	memoryBytes: 8e9,
	thp: 'madvise',
	allocators: {tcmalloc: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4', jemalloc: null, mimalloc: null},
	cloud: {provider: 'aws', instanceType: 'c7g.xlarge'},
	os: {id: 'ubuntu', idLike: ['debian'], versionId: '24.04', prettyName: 'Ubuntu 24.04'},
	notes: [],
};

const python: PythonEnv = {
	interpreter: '/usr/bin/python3',
	source: 'path',
	reason: 'on PATH',
	pythonVersion: '3.11.2',
	torch: {version: '2.13.0', cpuCapability: 'SVE256', numThreads: 4, mkldnn: true},
	packages: {torchao: null},
	importErrors: {},
	problem: null,
};

let tmp: string;
beforeAll(async () => {
	tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gt-outputs-'));
});
afterAll(async () => {
	await fs.rm(tmp, {recursive: true, force: true});
});

async function freshDir(name: string): Promise<string> {
	const dir = path.join(tmp, name);
	await fs.mkdir(dir, {recursive: true});
	return dir;
}

function run(command: string, args: string[], opts: {cwd?: string; env?: NodeJS.ProcessEnv} = {}): string {
	const out = spawnSync(command, args, {encoding: 'utf8', ...opts});
	if (out.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${out.status}): ${out.stderr}`);
	return out.stdout;
}

// ---------------------------------------------------------------- env-file readers

/** docker --env-file (opts/envfile.go): left-trimmed lines, # comments, KEY=VALUE taken literally. */
function parseDockerEnvFile(text: string): Map<string, string> {
	const vars = new Map<string, string>();
	for (const raw of text.split('\n')) {
		const line = raw.replace(/^\s+/, '');
		if (line === '' || line.startsWith('#')) continue;
		const eq = line.indexOf('=');
		if (eq < 0) throw new Error(`docker would read ${line} from the host environment`);
		const key = line.slice(0, eq);
		if (/\s/.test(key)) throw new Error(`docker refuses the variable name ${JSON.stringify(key)}`);
		vars.set(key, line.slice(eq + 1));
	}
	return vars;
}

/** systemd EnvironmentFile= (systemd.exec): # and ; comments, surrounding blanks trimmed, quotes and backslashes processed. */
function parseSystemdEnvFile(text: string): Map<string, string> {
	const vars = new Map<string, string>();
	for (const raw of text.split('\n')) {
		const line = raw.trim();
		if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
		const eq = line.indexOf('=');
		if (eq < 0) continue;
		const key = line.slice(0, eq).trim();
		let value = line.slice(eq + 1).trim();
		const quote = value[0];
		if ((quote === '"' || quote === "'") && value.endsWith(quote) && value.length >= 2) value = value.slice(1, -1);
		else value = value.replace(/\\(.)/g, '$1');
		vars.set(key, value);
	}
	return vars;
}

function parseBashSourced(dir: string): Map<string, string> {
	// env -i: only what the file sets (plus bash's own PWD/SHLVL/_) is in the child's environment.
	const read = (script: string): Map<string, string> => {
		// Printed by bash itself: an external `env` would start with the file's LD_PRELOAD
		// loaded, and tcmalloc adds variables of its own (GLIBCXX_FORCE_NEW) as it loads.
		const out = run('env', ['-i', 'bash', '-c', `${script}for v in $(compgen -e); do printf '%s=%s\\0' "$v" "\${!v}"; done`], {cwd: dir});
		return new Map(out.split('\0').filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
	};
	// What bash puts in the environment by itself (PWD, SHLVL, a default PATH…) is not the file's.
	const own = read('');
	const sourced = read('set -a; . ./graviton-tune.env; set +a; ');
	return new Map([...sourced].filter(([key, value]) => key !== '_' && own.get(key) !== value));
}

// ---------------------------------------------------------------- tests

describe('graviton-tune.env', () => {
	const text = renderEnvFile({result: walk(), detection, model: 'resnet50', date: new Date('2025-06-01T12:00:00Z')});

	it('reads the same under bash, docker --env-file and systemd', async () => {
		const dir = await freshDir('env');
		await fs.writeFile(path.join(dir, 'graviton-tune.env'), text);
		const docker = parseDockerEnvFile(text);
		const systemd = parseSystemdEnvFile(text);
		const bash = parseBashSourced(dir);
		expect(Object.fromEntries(systemd)).toEqual(Object.fromEntries(docker));
		expect(Object.fromEntries(bash)).toEqual(Object.fromEntries(docker));
		expect(docker.get('LD_PRELOAD')).toBe('/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4');
		expect(docker.get('OMP_NUM_THREADS')).toBe('2');
		expect(docker.get('GT_BATCH_SIZE')).toBe('8');
		expect(docker.get('GT_CHANNELS_LAST')).toBe('1');
		expect(docker.get('GT_AUTOCAST')).toBe('bf16');
		expect(docker.get('GT_FP32_PRECISION')).toBe('none');
		expect(docker.get('GT_COMPILE')).toBe('1');
		expect(docker.get('GT_QUANTIZATION')).toBe('none');
		expect(docker.get('GT_BACKEND')).toBe('torch');
		expect(docker.get('GT_WORKERS')).toBe('2');
		expect(docker.get('GT_THREADS_PER_WORKER')).toBe('2');
		expect(docker.get('GT_CPU_LIST')).toBe('0-3');
	});

	it('never emits quotes, blanks, $, backslashes or export', () => {
		const assignments = text.split('\n').filter((line) => line !== '' && !line.startsWith('#'));
		expect(assignments.length).toBeGreaterThan(10);
		for (const line of assignments) expect(line).toMatch(/^[A-Za-z_][A-Za-z0-9_]*=[A-Za-z0-9_./:,@+={}-]*$/);
	});

	it('has a comment header with machine, model, figures and date', () => {
		expect(text).toMatch(/^# graviton-tune/);
		expect(text).toContain('AWS Graviton3 (Neoverse-V1), aarch64, 4 usable CPUs, c7g.xlarge');
		expect(text).toContain('# Model:   resnet50');
		// The verified pair and its own ratio (51.9 / 12.5), not the walk's ratio (52.2 / 12.6 = 4.14x) beside the verified figures.
		expect(text).toContain('# Figures: baseline 12.5 -> winner 51.9 samples/s (4.15x); winner p99 15.3 ms per batch of 8');
		expect(text).toContain('#          measured back to back at the end of the walk');
		expect(text).toContain('2025-06-01T12:00:00.000Z');
	});

	it.each([
		['LD_PRELOAD', '/a/libtcmalloc.so /b/libjemalloc.so', /":"/],
		['FOO', 'a"b', /unquoted/],
		['FOO', "it's", /unquoted/],
		['FOO', '$HOME/x', /unquoted/],
		['FOO', 'a#b', /unquoted/],
		['FOO', '~/lib.so', /unquoted/],
		['FOO', 'a\\b', /unquoted/],
		['BAD-NAME', '1', /variable name/],
	])('refuses %s=%s', (key, value, message) => {
		const best = candidate({}, {[key]: value});
		expect(() => envVariables(best)).toThrow(EnvValueError);
		expect(() => envVariables(best)).toThrow(message);
	});
});

describe('launch.sh', () => {
	async function setup(name: string, best: Candidate, app: string[]): Promise<string> {
		const dir = await freshDir(name);
		await fs.writeFile(path.join(dir, 'graviton-tune.env'), renderEnvFile({result: walk(best), detection, model: 'm', date: new Date()}));
		await fs.writeFile(path.join(dir, 'launch.sh'), renderLaunchScript({best, app, envFileName: 'graviton-tune.env'}), {mode: 0o755});
		// The app prints its argv one per line in brackets, then the variables we care about.
		await fs.writeFile(path.join(dir, 'printer.sh'), 'printf "<%s>\\n" "$@"\necho "OMP=$OMP_NUM_THREADS BS=$GT_BATCH_SIZE BIND=$OMP_PROC_BIND"\n');
		return dir;
	}

	it('loads the env file next to it and passes the app and user arguments through', async () => {
		const best = candidate({batchSize: 8, threadsPerWorker: 3}, {OMP_PROC_BIND: 'false'});
		const dir = await setup('launch1', best, ['sh', 'printer.sh', 'fixed arg', "it's"]);
		const elsewhere = await freshDir('launch1-cwd');
		await fs.copyFile(path.join(dir, 'printer.sh'), path.join(elsewhere, 'printer.sh'));
		// Started from another directory: the env file is still found next to the script.
		const out = run('bash', [path.join(dir, 'launch.sh'), 'user arg', '', '$HOME *'], {cwd: elsewhere});
		expect(out).toBe("<fixed arg>\n<it's>\n<user arg>\n<>\n<$HOME *>\nOMP=3 BS=8 BIND=false\n");
	});

	it('runs several workers under torchrun, arguments intact', async () => {
		const best = candidate({workers: 4, threadsPerWorker: 1});
		const dir = await setup('launch2', best, ['python', 'serve.py', '--port', '8080']);
		const text = await fs.readFile(path.join(dir, 'launch.sh'), 'utf8');
		expect(text).toContain('exec torchrun --standalone --nproc-per-node 4 serve.py --port 8080 "$@"');
		expect(text).toMatch(/^#!\/usr\/bin\/env bash\n/);
		expect(text).toContain('set -euo pipefail');
		// A stand-in torchrun on PATH shows exactly what it receives.
		const bin = await freshDir('launch2-bin');
		await fs.writeFile(path.join(bin, 'torchrun'), '#!/bin/sh\nprintf "<%s>\\n" "$@"\necho "OMP=$OMP_NUM_THREADS"\n', {mode: 0o755});
		const out = run('bash', ['launch.sh', 'a b'], {cwd: dir, env: {...process.env, PATH: `${bin}:${process.env['PATH']}`}});
		expect(out).toBe('<--standalone>\n<--nproc-per-node>\n<4>\n<serve.py>\n<--port>\n<8080>\n<a b>\nOMP=1\n');
	});

	it('defaults to python app.py', () => {
		expect(renderLaunchScript({best: candidate(), app: [], envFileName: 'graviton-tune.env'})).toContain('exec python app.py "$@"');
	});

	it('rewrites python to the distributed launcher only when there are several workers', () => {
		expect(launcherArgv(['python3', 'serve.py'], 1)).toEqual(['python3', 'serve.py']);
		expect(launcherArgv(['python3', 'serve.py'], 2)).toEqual(['torchrun', '--standalone', '--nproc-per-node', '2', 'serve.py']);
		expect(launcherArgv(['/opt/venv/bin/python', 'serve.py'], 2)).toEqual(['/opt/venv/bin/python', '-m', 'torch.distributed.run', '--standalone', '--nproc-per-node', '2', 'serve.py']);
		expect(launcherArgv(['python', '-m', 'myapp.serve', '-v'], 2)).toEqual(['torchrun', '--standalone', '--nproc-per-node', '2', '-m', 'myapp.serve', '-v']);
		expect(launcherArgv(['python', '-u', 'serve.py'], 2)).toEqual(['torchrun', '--standalone', '--nproc-per-node', '2', '--no-python', 'python', '-u', 'serve.py']);
		expect(launcherArgv(['gunicorn', 'app:app'], 2)).toEqual(['torchrun', '--standalone', '--nproc-per-node', '2', '--no-python', 'gunicorn', 'app:app']);
	});
});

describe('patching a launch script', () => {
	const original = [
		'#!/bin/sh',
		'set -e',
		'python3 -m pip install -r requirements.txt',
		'cd "$(dirname "$0")"',
		'exec python3 serve.py --port 8080 \\',
		'  --log-level info',
		'echo never',
		'',
	].join('\n');
	const four = candidate({workers: 4, threadsPerWorker: 1});
	const two = candidate({workers: 2, threadsPerWorker: 2});
	const one = candidate({workers: 1, threadsPerWorker: 4});

	it('adds the env block, rewrites the service line, and is idempotent', () => {
		const first = patchLaunchScript(original, {best: four, envFilePath: 'graviton-tune.env'});
		expect(first.changed).toBe(true);
		const lines = first.text.split('\n');
		expect(lines[0]).toBe('#!/bin/sh');
		expect(lines[1]).toBe('# >>> graviton-tune >>>');
		expect(first.text).toContain('. "$(dirname "$0")"/graviton-tune.env');
		expect(first.text).toContain('exec torchrun --standalone --nproc-per-node 4 serve.py --port 8080 \\\n  --log-level info\n# <<< graviton-tune launcher <<<');
		expect(first.text).toContain('#| exec python3 serve.py --port 8080 \\');
		expect(first.text).toContain('python3 -m pip install -r requirements.txt'); // not the service
		const second = patchLaunchScript(first.text, {best: four, envFilePath: 'graviton-tune.env'});
		expect(second.changed).toBe(false);
		expect(second.text).toBe(first.text);
	});

	it('updates in place for a different winner, and restores the line for one worker', () => {
		const four1 = patchLaunchScript(original, {best: four, envFilePath: '/etc/gt/graviton-tune.env'}).text;
		const two1 = patchLaunchScript(four1, {best: two, envFilePath: '/etc/gt/graviton-tune.env'});
		expect(two1.changed).toBe(true);
		expect(two1.text).toContain('--nproc-per-node 2 serve.py');
		expect(two1.text).not.toContain('--nproc-per-node 4');
		expect(two1.text.match(/# >>> graviton-tune/g)).toHaveLength(2); // one env block, one launcher block
		expect(two1.text).toBe(patchLaunchScript(original, {best: two, envFilePath: '/etc/gt/graviton-tune.env'}).text);
		const single = patchLaunchScript(two1.text, {best: one, envFilePath: '/etc/gt/graviton-tune.env'});
		expect(single.text).toContain('\nexec python3 serve.py --port 8080 \\\n  --log-level info\n');
		expect(single.text).not.toContain('launcher >>>');
		expect(single.text).toContain(". /etc/gt/graviton-tune.env");
	});

	it('only adds the env block when there is no python line, and says so', () => {
		const script = '#!/bin/bash\nexec gunicorn app:app\n';
		const patched = patchLaunchScript(script, {best: four, envFilePath: 'x.env'});
		expect(patched.text).toContain('# >>> graviton-tune >>>');
		expect(patched.text).toContain('exec gunicorn app:app');
		expect(patched.notes.join('\n')).toMatch(/no python invocation found/);
	});

	it('runs for real under sh after patching', async () => {
		const dir = await freshDir('patch-run');
		await fs.writeFile(path.join(dir, 'graviton-tune.env'), renderEnvFile({result: walk(four), detection, model: 'm', date: new Date()}));
		const bin = await freshDir('patch-run-bin');
		await fs.writeFile(path.join(bin, 'torchrun'), '#!/bin/sh\necho "$* OMP=$OMP_NUM_THREADS W=$GT_WORKERS"\n', {mode: 0o755});
		const script = '#!/bin/sh\nset -e\nexec python3 serve.py --port 8080 "$@"\n';
		await fs.writeFile(path.join(dir, 'start.sh'), patchLaunchScript(script, {best: four, envFilePath: 'graviton-tune.env'}).text);
		const out = run('sh', [path.join(dir, 'start.sh'), 'x'], {env: {...process.env, PATH: `${bin}:${process.env['PATH']}`}});
		expect(out).toBe('--standalone --nproc-per-node 4 serve.py --port 8080 x OMP=1 W=4\n');
	});

	it('patches the file in place with a backup, keeping its mode', async () => {
		const dir = await freshDir('patch-file');
		const file = path.join(dir, 'start.sh');
		await fs.writeFile(file, original, {mode: 0o750});
		await fs.chmod(file, 0o750);
		const dry = await patchFileInPlace(file, {best: four, envFilePath: path.join(dir, 'graviton-tune.env')}, {dryRun: true});
		expect(dry.changed).toBe(true);
		expect(dry.diff).toContain('+# >>> graviton-tune >>>');
		expect(await fs.readFile(file, 'utf8')).toBe(original);
		const done = await patchFileInPlace(file, {best: four, envFilePath: path.join(dir, 'graviton-tune.env')});
		expect(done.backupPath).toBe(`${file}.graviton-tune.bak`);
		expect(await fs.readFile(done.backupPath!, 'utf8')).toBe(original);
		expect((await fs.stat(file)).mode & 0o777).toBe(0o750);
		// Inside the script's directory: named relative to the script.
		expect(await fs.readFile(file, 'utf8')).toContain('. "$(dirname "$0")"/graviton-tune.env');
		const again = await patchFileInPlace(file, {best: four, envFilePath: path.join(dir, 'graviton-tune.env')});
		expect(again).toMatchObject({changed: false, backupPath: null, diff: ''});
		const other = await patchFileInPlace(file, {best: two, envFilePath: path.join(dir, 'graviton-tune.env')});
		expect(other.backupPath).toBe(`${file}.graviton-tune.bak.1`);
		expect(await fs.readFile(`${file}.graviton-tune.bak`, 'utf8')).toBe(original);
	});
});

describe('unifiedDiff', () => {
	it('is empty for equal texts and applies with patch(1)', async () => {
		expect(unifiedDiff('a\n', 'a\n', 'x')).toBe('');
		const before = Array.from({length: 30}, (_, i) => `line ${i}`).join('\n') + '\n';
		const after = before.replace('line 3\n', 'line 3\ninserted\n').replace('line 20\n', '').replace('line 28', 'changed 28');
		const diff = unifiedDiff(before, after, 'f.txt');
		expect(diff).toMatch(/^--- a\/f\.txt\n\+\+\+ b\/f\.txt\n@@ -2,6 \+2,7 @@\n line 1\n/);
		const dir = await freshDir('diff');
		await fs.writeFile(path.join(dir, 'f.txt'), before);
		await fs.writeFile(path.join(dir, 'f.diff'), diff);
		run('patch', ['-s', '-p1', '-i', 'f.diff'], {cwd: dir});
		expect(await fs.readFile(path.join(dir, 'f.txt'), 'utf8')).toBe(after);
	});

	it('handles empty sides', () => {
		expect(unifiedDiff('', 'a\nb\n', 'n')).toContain('@@ -0,0 +1,2 @@\n+a\n+b\n');
		expect(unifiedDiff('a\n', '', 'n')).toContain('@@ -1,1 +0,0 @@\n-a\n');
	});
});

describe('writeOutputs', () => {
	it('creates the directory, writes atomically, backs up changed files and skips unchanged ones', async () => {
		const dir = path.join(tmp, 'out', 'nested');
		const files = [
			{name: 'graviton-tune.env', content: 'A=1\n'},
			{name: 'launch.sh', content: '#!/usr/bin/env bash\n'},
		];
		const first = await writeOutputs(dir, files);
		expect(first.written).toHaveLength(2);
		expect(first.backups).toEqual([]);
		expect((await fs.stat(path.join(dir, 'launch.sh'))).mode & 0o777).toBe(0o755);
		expect((await fs.stat(path.join(dir, 'graviton-tune.env'))).mode & 0o777).toBe(0o644);

		const same = await writeOutputs(dir, files);
		expect(same).toEqual({written: [], backups: [], unchanged: files.map((f) => path.join(dir, f.name))});

		const changed = await writeOutputs(dir, [{name: 'graviton-tune.env', content: 'A=2\n'}], {backupSuffix: '.bak'});
		expect(changed.backups).toEqual([path.join(dir, 'graviton-tune.env.bak')]);
		expect(await fs.readFile(path.join(dir, 'graviton-tune.env.bak'), 'utf8')).toBe('A=1\n');
		const again = await writeOutputs(dir, [{name: 'graviton-tune.env', content: 'A=3\n'}], {backupSuffix: '.bak'});
		expect(again.backups).toEqual([path.join(dir, 'graviton-tune.env.bak.1')]);
		expect(await fs.readFile(path.join(dir, 'graviton-tune.env.bak'), 'utf8')).toBe('A=1\n');
		expect(await fs.readFile(path.join(dir, 'graviton-tune.env'), 'utf8')).toBe('A=3\n');

		const stamped = await writeOutputs(dir, [{name: 'graviton-tune.env', content: 'A=4\n'}]);
		expect(stamped.backups[0]).toMatch(/graviton-tune\.env\.bak-\d{8}T\d{6}Z$/);
		// No temp files left behind.
		expect((await fs.readdir(dir)).filter((n) => n.includes('.tmp-'))).toEqual([]);
	});
});

describe('report', () => {
	const report = buildReport({result: walk(), detection, python, model: {name: 'resnet50'}, options: {budget: '10m', auto: true}, startedAt: new Date('2025-06-01T11:55:00Z')});

	it('has a schema version and every probe with its configuration and figures', () => {
		const json = JSON.parse(JSON.stringify(report)) as typeof report;
		expect(json.schemaVersion).toBe(1);
		expect(json.tool.name).toBe('graviton-tune');
		expect(json.tool.version).toMatch(/^\d+\.\d+\.\d+/);
		expect(json.machine.cpu.platform).toBe('AWS Graviton3');
		expect(json.probes).toHaveLength(3);
		expect(json.probes.map((p) => p.outcome)).toEqual(['baseline', 'kept', 'failed']);
		expect(json.probes[1]!.config.channelsLast).toBe(true);
		expect(json.probes[1]!.env['OMP_PLACES']).toBe('cores');
		expect(json.probes[1]!.result!.samplesPerSecond.median).toBe(52.2);
		expect(json.probes[2]!.failure!.code).toBe('missing-package');
		expect(json.decisions).toHaveLength(3);
		expect(json.best.speedup).toBeCloseTo(4.14, 2);
		expect(json.best.envFile['OMP_NUM_THREADS']).toBe('2');
		expect(json.verification!.speedup).toBeCloseTo(4.15, 2);
		expect(json.options).toEqual({budget: '10m', auto: true});
		expect(json.files).toContain('report.md');
	});

	it('renders markdown with the probe table, decisions, winner and deployment', () => {
		const md = renderReportMarkdown(report);
		expect(md).toContain('| # | Step | Configuration | samples/s median [95% CI] | p99 ms | peak RSS MiB | check cosine | kernels | Outcome |');
		expect(md).toContain('| 1 | Baseline \\| fp32 | batch 1, 1 worker x 4 threads | 12.6 [12.3–12.9] | 15.3 | 118 | 0.9999 | — | baseline |');
		expect(md).toContain('failed: missing-package');
		expect(md).toContain('## Decisions');
		expect(md).toContain('**bf16 autocast**: kept (52.2 samples/s, 4.10x)');
		expect(md).toContain('## Winner');
		expect(md).toContain('from graviton_tune_runtime import optimize');
		expect(md).toContain('libtcmalloc.so.4');
	});

	it('renders every output file, the runtime helper included', async () => {
		const files = await renderOutputFiles({result: walk(), detection, python, model: {name: 'resnet50'}, options: {}, startedAt: new Date(), app: ['python', 'serve.py']});
		expect(files.map((f) => f.name)).toEqual(['graviton-tune.env', 'launch.sh', 'graviton_tune_runtime.py', 'report.json', 'report.md', 'report.html']);
		expect(files.find((f) => f.name === 'graviton_tune_runtime.py')!.content).toContain('def optimize(');
		expect(files.find((f) => f.name === 'launch.sh')!.mode).toBe(0o755);
	});
});

describe('the verdict', () => {
	it('is the one result view: report.json and the headless text quote the same figures', () => {
		const result = walk();
		const said = verdict(result);
		// The verified pair, not the walk's winner (52.2) against the verified ratio.
		expect(said.headline.verified).toBe(true);
		expect(said.headline.best.samplesPerSecond.median).toBe(51.9);
		expect(said.headline.speedup).toBeCloseTo(51.9 / 12.5, 6);
		expect(said.cost).toBeNull();
		const report = buildReport({result, detection, python, model: {name: 'resnet50'}, options: {}, startedAt: new Date()});
		expect(report.accuracy).toEqual(said.accuracy);
		expect(report.limits).toEqual(said.limits);
		expect(report.contendedNote).toEqual(said.contendedNote);
		const lines: string[] = [];
		createTextRenderer((line) => lines.push(line))({type: 'session-end', result, error: null} as never);
		const text = lines.join('\n');
		expect(text).toContain(`${said.headline.speedup.toFixed(2)}× the baseline`);
		expect(text).toContain('verified back to back');
		expect(text).toContain(said.accuracy.text);
	});

	it('says what the winner\'s kernels ran, and when its name promised more, in every face', () => {
		const result = walk();
		// The winner (bf16 autocast) whose convolutions ran fp32: oneDNN kept fp32 math.
		const kernels: KernelAccount = {source: 'oneDNN verbose and the torch profiler', pass: 'one untimed call after the timed ones', warnings: ['1 bf16 convolution(s) ran emulated'], groups: [{family: 'convolution', precision: 'fp32', kernel: 'jit:avx512_core', count: 53, seconds: 0.05}]};
		result.verification!.best = {...result.verification!.best, kernels};
		result.probes[0] = {...result.probes[0]!, result: {...result.probes[0]!.result!, kernels: {...kernels, groups: [{...kernels.groups[0]!, precision: 'int8'}]}}};
		const said = verdict(result);
		expect(said.kernels?.text).toBe('convolutions: 53 of 53 fp32 (jit:avx512_core)');
		expect(said.kernels?.shortfall?.words).toBe('no bf16 kernel ran: all fp32');
		const report = buildReport({result, detection, python, model: {name: 'resnet50'}, options: {}, startedAt: new Date()});
		expect(report.kernels).toEqual(said.kernels);
		const md = renderReportMarkdown(report);
		expect(md).toContain('Kernels (oneDNN verbose and the torch profiler, one untimed call after the timed ones): convolutions: 53 of 53 fp32 (jit:avx512_core) — below its name: no bf16 kernel ran: all fp32.');
		expect(md).toContain('- Warning: 1 bf16 convolution(s) ran emulated');
		expect(md).toMatch(/\| 1 \| Baseline [^\n]*\| int8 100% \| baseline \|/);
		const html = renderReportHtml(report);
		expect(html).toContain('<p id="kernels" class="warn"><strong>Kernels:</strong> convolutions: 53 of 53 fp32 (jit:avx512_core) — below its name: no bf16 kernel ran: all fp32');
		expect(html).toContain('title="convolutions: 53 of 53 int8 (jit:avx512_core)">int8 100%</td>');
		const lines: string[] = [];
		createTextRenderer((line) => lines.push(line))({type: 'session-end', result, error: null} as never);
		expect(lines.join('\n')).toContain('kernels: convolutions: 53 of 53 fp32 (jit:avx512_core) — below its name: no bf16 kernel ran: all fp32');
	});
});

describe('the headline with its interval', () => {
	it('is written wherever the headline is, when the verification ran in pairs', async () => {
		const base = walk();
		const result: WalkResult = {...base, verification: {...base.verification!, speedup: 4.1, interval: {low: 3.9, high: 4.3, ratios: [4.0, 4.1, 4.2]}}};
		const lines: string[] = [];
		createTextRenderer(line => lines.push(line))({type: 'session-end', result, error: null} as never);
		expect(lines.join('\n')).toContain('4.10× [3.90–4.30] the baseline');
		expect(lines.join('\n')).toContain('verified back to back (95% interval over 3 pairs of fresh processes)');
		const report = buildReport({result, detection, python, model: {name: 'resnet50'}, options: {}, startedAt: new Date()});
		const md = renderReportMarkdown(report);
		expect(md).toContain('(4.10x [3.90-4.30])');
		expect(md).toContain('alternating in fresh processes (95% interval over 3 pairs of fresh processes: 4.10x [3.90-4.30])');
		// Two pairs: their ratios, no interval.
		const two: WalkResult = {...base, verification: {...base.verification!, speedup: 1.9, interval: {low: 0.37, high: 9.86, ratios: [1.67, 2.16]}}};
		const said = verdict(two).headline;
		expect(speedupText(said)).toBe('1.90×');
		expect(intervalWords(said)).toBe('2 pairs of fresh processes: 1.67× and 2.16×');
		const env = (await renderOutputFiles({result, detection, python, model: {name: 'resnet50'}, options: {}, startedAt: new Date(), app: ['python', 'serve.py']})).find(f => f.name === 'graviton-tune.env')!.content;
		expect(env).toContain('(4.10x [3.90-4.30])');
		// One pair: no interval, the ratio alone.
		expect(speedupText(verdict(walk()).headline)).toBe('4.15×');
	});
});

describe('on what data accuracy was checked', () => {
	it('a lossy winner checked only on random inputs says so in the env file, report.md and report.json', () => {
		const random = walk();
		random.best.result = {...random.best.result, check: {cosine: 0.999, maxAbsError: 0.01, top1Agreement: 1, data: 'random', rows: 8}};
		random.verification = null;
		const env = renderEnvFile({result: random, detection, model: 'm', date: new Date()});
		expect(env).toMatch(/^# Accuracy: accuracy not checked on real data/m);
		const report = buildReport({result: random, detection, python, model: {name: 'm'}, options: {}, startedAt: new Date()});
		expect(report.accuracy).toMatchObject({lossy: true, data: 'random', rows: 8});
		expect(renderReportMarkdown(report)).toMatch(/- Accuracy: accuracy not checked on real data/);
	});

	it('a lossy winner checked on real samples, or a lossless one, does not carry the warning', () => {
		const real = walk();
		real.verification = null;
		real.best.result = {...real.best.result, check: {cosine: 0.999, maxAbsError: 0.01, top1Agreement: 1, data: 'samples', rows: 64}};
		expect(renderEnvFile({result: real, detection, model: 'm', date: new Date()})).toMatch(/# Accuracy: accuracy checked on 64 real samples/);
		const exact = walk(candidate({batchSize: 8}));
		expect(renderEnvFile({result: exact, detection, model: 'm', date: new Date()})).not.toMatch(/not checked on real data/);
	});
});
