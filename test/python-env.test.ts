import {execFileSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {afterAll, beforeAll, describe, expect, it} from 'vitest';
import {managedPython, managedVenvDir} from '../source/core/paths.js';
import {findPython, whichOnPath} from '../source/core/machine/python-env.js';
import type {FoundPython} from '../source/core/machine/python-env.js';
import {inspectPython} from '../source/core/machine/python-survey.js';
import {readStamp, setupVenv, SetupError} from '../source/core/machine/venv-setup.js';

const here = path.dirname(fileURLToPath(import.meta.url));
let tmp: string;

beforeAll(async () => {
	tmp = await fs.mkdtemp(path.join(os.tmpdir(), 'gt-python-env-'));
});

afterAll(async () => {
	await fs.rm(tmp, {recursive: true, force: true});
});

async function fakeExecutable(file: string, body = 'exit 0'): Promise<string> {
	await fs.mkdir(path.dirname(file), {recursive: true});
	await fs.writeFile(file, `#!/bin/sh\n${body}\n`, {mode: 0o755});
	return file;
}

/** A base interpreter for making venvs: the real one behind any pyenv shim. */
async function basePython(): Promise<string> {
	const onPath = await whichOnPath('python3');
	if (!onPath) throw new Error('python3 is needed for these tests');
	return execFileSync(onPath, ['-c', 'import sys; print(sys.executable)'], {encoding: 'utf8'}).trim();
}

describe('findPython', () => {
	let root: string;
	let env: NodeJS.ProcessEnv;

	beforeAll(async () => {
		root = path.join(tmp, 'find');
		await fakeExecutable(path.join(root, 'path-bin', 'python3'));
		await fakeExecutable(path.join(root, 'active', 'bin', 'python'));
		await fakeExecutable(path.join(root, 'home', 'venv', 'bin', 'python'));
		await fakeExecutable(path.join(root, 'mine', 'python'));
		await fs.writeFile(path.join(root, 'not-executable'), '');
		env = {PATH: path.join(root, 'path-bin'), VIRTUAL_ENV: path.join(root, 'active'), GRAVITON_TUNE_HOME: path.join(root, 'home')};
	});

	it('prefers --python', async () => {
		const found = await findPython({python: path.join(root, 'mine', 'python'), env});
		expect(found).toMatchObject({interpreter: path.join(root, 'mine', 'python'), source: 'flag', reason: '--python was given'});
	});

	it('looks a bare --python name up on PATH', async () => {
		const found = await findPython({python: 'python3', env});
		expect(found).toMatchObject({interpreter: path.join(root, 'path-bin', 'python3'), source: 'flag'});
	});

	it('says why a --python is unusable, without falling back', async () => {
		const missing = await findPython({python: path.join(root, 'nope', 'python'), env});
		expect(missing).toMatchObject({interpreter: null, source: 'flag'});
		expect(missing.reason).toMatch(/does not exist/);
		const notExec = await findPython({python: path.join(root, 'not-executable'), env});
		expect(notExec.interpreter).toBeNull();
		expect(notExec.reason).toMatch(/not an executable/);
	});

	it('then the active virtualenv', async () => {
		const found = await findPython({env});
		expect(found).toMatchObject({interpreter: path.join(root, 'active', 'bin', 'python'), source: 'virtualenv'});
		expect(found.reason).toBe(`VIRTUAL_ENV is set (${path.join(root, 'active')})`);
	});

	it('then the managed venv, noting a VIRTUAL_ENV without python', async () => {
		const found = await findPython({env: {...env, VIRTUAL_ENV: path.join(root, 'gone')}});
		expect(found).toMatchObject({interpreter: path.join(root, 'home', 'venv', 'bin', 'python'), source: 'managed'});
		expect(found.reason).toMatch(/^graviton-tune's managed venv \(/);
		expect(found.tried[0]).toMatch(/gone\/bin\/python \(VIRTUAL_ENV is set/);
	});

	it('then python3 on PATH, then nothing', async () => {
		const onPath = await findPython({env: {PATH: env['PATH'], GRAVITON_TUNE_HOME: path.join(root, 'empty-home')}});
		expect(onPath).toMatchObject({interpreter: path.join(root, 'path-bin', 'python3'), source: 'path', reason: 'python3 on PATH'});
		const none = await findPython({env: {PATH: path.join(root, 'nothing'), GRAVITON_TUNE_HOME: path.join(root, 'empty-home')}});
		expect(none).toMatchObject({interpreter: null, source: null});
		expect(none.tried).toHaveLength(2);
	});
});

describe('inspectPython', () => {
	const hasManaged = existsSync(managedPython());

	it.skipIf(!hasManaged)('describes the managed venv: torch and friends', async () => {
		const found: FoundPython = {interpreter: managedPython(), source: 'managed', reason: 'managed', tried: []};
		const env = await inspectPython(found);
		expect(env.problem).toBeNull();
		expect(env.interpreter).toBe(managedPython());
		expect(env.pythonVersion).toMatch(/^3\.\d+/);
		expect(env.torch?.version).toMatch(/^2\./);
		expect(env.torch?.cpuCapability).toBeTruthy();
		expect(env.torch?.numThreads).toBeGreaterThan(0);
		expect(Object.keys(env.packages)).toEqual(expect.arrayContaining(['torchvision', 'onnxruntime', 'openvino', 'transformers', 'torchao']));
		// Either a working torchvision, or absent, or installed-but-broken with the reason.
		const tv = env.packages['torchvision'];
		if (tv === null && env.importErrors['torchvision']) expect(env.importErrors['torchvision']).toMatch(/\w/);
		else if (tv !== null) expect(tv).toMatch(/^\d/);
	});

	it('says no-torch for an interpreter without torch', async () => {
		const venv = path.join(tmp, 'no-torch');
		execFileSync(await basePython(), ['-m', 'venv', '--without-pip', venv]);
		const found: FoundPython = {interpreter: path.join(venv, 'bin', 'python'), source: 'virtualenv', reason: 'VIRTUAL_ENV is set', tried: []};
		const env = await inspectPython(found);
		expect(env.torch).toBeNull();
		expect(env.pythonVersion).toMatch(/^3\./);
		expect(env.problem?.code).toBe('no-torch');
		expect(env.problem?.hint).toContain('-m pip install torch');
		expect(env.packages['onnx']).toBeNull();
	});

	it('says no-python when nothing was found', async () => {
		const env = await inspectPython({interpreter: null, source: null, reason: 'no Python interpreter found', tried: []});
		expect(env.problem).toMatchObject({code: 'no-python', message: 'no Python interpreter found'});
		expect(env.problem?.hint).toMatch(/apt-get install python3/);
	});

	it('says python-broken with the stderr of a crashing interpreter', async () => {
		const broken = await fakeExecutable(path.join(tmp, 'broken', 'python'), 'echo "fatal: cannot find libpython" >&2\nexit 1');
		const env = await inspectPython({interpreter: broken, source: 'flag', reason: '--python was given', tried: []});
		expect(env.problem?.code).toBe('python-broken');
		expect(env.problem?.message).toContain('cannot find libpython');
	});
});

describe('setupVenv with tiny local packages', () => {
	let wheels: string;
	let venv: string;
	const options = () => ({
		dir: venv,
		torchSpec: null,
		torchvision: false,
		extras: ['gt-fake-ok', 'gt-fake-broken', 'gt-fake-missing'],
		pipArgs: ['--no-index', '--find-links', wheels],
	});

	beforeAll(async () => {
		wheels = path.join(tmp, 'wheels');
		venv = path.join(tmp, 'small', 'venv');
		execFileSync(await basePython(), [path.join(here, 'fixtures', 'make_fake_wheels.py'), wheels]);
	});

	it('creates the venv, keeps what imports, removes what does not, reports what failed', async () => {
		const lines: string[] = [];
		const report = await setupVenv({...options(), python: await basePython(), onLine: line => lines.push(line)});
		expect(report.created).toBe(true);
		expect(report.ok).toBe(true);
		expect(report.installed).toEqual([{name: 'gt-fake-ok', version: '1.0'}]);
		expect(report.removed).toEqual([{name: 'gt-fake-broken', reason: expect.stringContaining('broken on purpose')}]);
		expect(report.failed.map(entry => entry.name)).toEqual(['gt-fake-missing']);
		expect(report.failed[0]?.reason).toMatch(/ERROR/);
		expect(lines.some(line => /Successfully installed gt-fake-ok/.test(line))).toBe(true);
		expect(await readStamp(venv)).not.toBeNull();
	});

	it('skips what is already there on a second run', async () => {
		const report = await setupVenv(options());
		expect(report.created).toBe(false);
		expect(report.skipped).toEqual(['gt-fake-ok']);
		expect(report.installed).toEqual([]);
	});

	it('makes an unfinished venv again', async () => {
		const dir = path.join(tmp, 'unfinished');
		await fs.mkdir(path.join(dir, 'bin'), {recursive: true});
		await fs.writeFile(path.join(dir, 'pyvenv.cfg'), 'home = /nowhere\n');
		const report = await setupVenv({...options(), dir, extras: [], python: await basePython()});
		expect(report.created).toBe(true);
		expect(await readStamp(dir)).not.toBeNull();
	});

	it('refuses a directory that is not a venv', async () => {
		const dir = path.join(tmp, 'foreign');
		await fs.mkdir(dir, {recursive: true});
		await fs.writeFile(path.join(dir, 'precious.txt'), 'keep me');
		await expect(setupVenv({...options(), dir})).rejects.toMatchObject({code: 'not-a-venv'});
		expect(existsSync(path.join(dir, 'precious.txt'))).toBe(true);
	});

	it('interrupted in the middle of pip, the next setup repairs the venv', async () => {
		const dir = path.join(tmp, 'mid-pip');
		await setupVenv({...options(), dir, extras: [], python: await basePython()});
		const controller = new AbortController();
		const seen: string[] = [];
		const running = setupVenv({
			...options(),
			dir,
			extras: ['gt-fake-ok'],
			signal: controller.signal,
			onLine: line => {
				seen.push(line);
				// pip has started on the package: stop it there.
				if (/gt-fake-ok|gt_fake_ok|Looking in links/i.test(line)) controller.abort();
			},
		});
		const error = await running.catch((caught: unknown) => caught);
		expect(error, seen.join('\n')).toBeInstanceOf(SetupError);
		expect((error as SetupError).code).toBe('cancelled');
		const again = await setupVenv({...options(), dir, extras: ['gt-fake-ok']});
		expect(again.ok).toBe(true);
		expect(again.created).toBe(false);
		expect(again.installed).toEqual([{name: 'gt-fake-ok', version: '1.0'}]);
		expect(await readStamp(dir)).not.toBeNull();
	});

	it('stops on abort and leaves no half-made venv behind', async () => {
		const dir = path.join(tmp, 'aborted');
		const controller = new AbortController();
		const running = setupVenv({...options(), dir, python: await basePython(), signal: controller.signal});
		setTimeout(() => controller.abort(), 300);
		const error = await running.catch((caught: unknown) => caught);
		expect(error).toBeInstanceOf(SetupError);
		expect((error as SetupError).code).toBe('cancelled');
		expect(existsSync(dir)).toBe(false);
	});
});

// The real thing, on a copy of the managed venv made of hard links: instant, and nothing
// pip does there (new files, uninstalls) touches the original.
describe.skipIf(!existsSync(managedPython()))('setupVenv on a copy of the managed venv', () => {
	let copy: string;

	beforeAll(() => {
		copy = path.join(tmp, 'managed-copy', 'venv');
		execFileSync('mkdir', ['-p', path.dirname(copy)]);
		execFileSync('cp', ['-al', managedVenvDir(), copy]);
	});

	it('adopts it, keeps torch, settles torchvision, skips the extras', async () => {
		const report = await setupVenv({dir: copy});
		console.log(`first setup: ${report.seconds.toFixed(1)} s`, JSON.stringify(report));
		expect(report.ok).toBe(true);
		expect(report.created).toBe(false);
		expect(report.torch).toMatch(/^2\.13\.0/);
		expect(report.skipped).toEqual(expect.arrayContaining(['torch', 'onnx', 'onnxruntime', 'openvino', 'transformers', 'torchao']));
		// Settled one way or another: installed, removed, failed, already there, or (when the
		// managed venv's stamp says it did not import with this torch) not retried.
		const torchvision = [...report.installed, ...report.removed, ...report.failed].filter(entry => entry.name === 'torchvision');
		const notRetried = report.notes.some(note => note.startsWith('torchvision: not retried'));
		expect(torchvision.length + (report.skipped.includes('torchvision') ? 1 : 0) + (notRetried ? 1 : 0)).toBe(1);
	}, 600_000);

	it('installs nothing the second time', async () => {
		const report = await setupVenv({dir: copy});
		console.log(`second setup: ${report.seconds.toFixed(1)} s`, JSON.stringify(report));
		expect(report.ok).toBe(true);
		expect(report.installed).toEqual([]);
		expect(report.removed).toEqual([]);
	}, 120_000);
});
