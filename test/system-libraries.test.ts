// `graviton-tune setup --system`: the real scripts/setup-system.sh, run against stand-in
// package managers on a PATH of our own (nothing is installed; each stand-in records how
// it was called). Also: nothing system-wide runs unless --system was asked for.
import {execa} from 'execa';
import {chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, expect, it} from 'vitest';
import {installSystemLibraries} from '../source/core/machine/system-libraries.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');

interface Machine {
	manager: 'apt-get' | 'dnf' | 'yum' | 'zypper' | null;
	uid: number;
	/** sudo -n works (passwordless). */
	sudo: boolean;
	/** The package manager fails. */
	fails?: boolean;
	/** The package manager fails whenever this package is among its arguments (one the distribution does not ship). */
	failsOn?: string;
	/** Every allocator library is installed already. */
	installed?: boolean;
}

/** A PATH with bash, grep and cat, and stand-ins for id, ldconfig, sudo and the package manager. */
function fakeMachine(m: Machine): {env: Record<string, string>; log: () => string[]} {
	const dir = mkdtempSync(path.join(os.tmpdir(), 'gt-system-'));
	const bin = path.join(dir, 'bin');
	mkdirSync(bin);
	const logFile = path.join(dir, 'calls.log');
	writeFileSync(logFile, '');
	for (const tool of ['bash', 'grep', 'cat']) {
		const found = ['/usr/bin', '/bin'].map(d => path.join(d, tool)).find(p => existsSync(p))!;
		symlinkSync(found, path.join(bin, tool));
	}
	const stub = (name: string, body: string) => {
		writeFileSync(path.join(bin, name), `#!/bin/bash\n${body}\n`);
		chmodSync(path.join(bin, name), 0o755);
	};
	stub('id', `echo ${m.uid}`);
	// ldconfig -p lists what is installed: nothing, or every allocator's versioned library.
	stub('ldconfig', m.installed ? 'printf "\\t%s (libc6,x86-64) => /usr/lib/%s\\n" libtcmalloc.so.4 libtcmalloc.so.4 libjemalloc.so.2 libjemalloc.so.2 libmimalloc.so.2 libmimalloc.so.2' : 'exit 0');
	if (m.uid !== 0) {
		stub('sudo', m.sudo ? `if [ "$1" = "-n" ]; then exit 0; fi\necho "sudo $*" >> ${logFile}\nexec "$@"` : 'exit 1');
	}
	const missing = m.failsOn ? `if [[ " $* " == *" ${m.failsOn} "* ]]; then echo "${m.manager}: no package ${m.failsOn}"; exit 1; fi\n` : '';
	if (m.manager) stub(m.manager, `echo "${m.manager} $*" >> ${logFile}\n${missing}echo "${m.manager}: pretending to install"\nexit ${m.fails ? 1 : 0}`);
	if (m.manager === 'apt-get') stub('apt-cache', '[ "$2" = libgoogle-perftools4t64 ]');
	return {
		env: {PATH: bin, HOME: dir, TMPDIR: dir, GRAVITON_TUNE_HOME: path.join(dir, 'home'), GRAVITON_TUNE_CONFIG_DIR: path.join(dir, 'config')},
		log: () => readFileSync(logFile, 'utf8').split('\n').filter(Boolean),
	};
}

describe('setup-system.sh through installSystemLibraries', () => {
	it.each([
		[{manager: 'apt-get', uid: 0, sudo: false}, ['apt-get install -y --no-install-recommends libgoogle-perftools4t64 libjemalloc2 libmimalloc2.0'], 'running: apt-get install'],
		[{manager: 'dnf', uid: 1000, sudo: true}, ['sudo dnf install -y gperftools-libs jemalloc mimalloc', 'dnf install -y gperftools-libs jemalloc mimalloc'], 'running: sudo dnf install -y gperftools-libs jemalloc mimalloc'],
		[{manager: 'yum', uid: 0, sudo: false}, ['yum install -y gperftools-libs jemalloc mimalloc'], 'running: yum install'],
		[{manager: 'zypper', uid: 0, sudo: false}, ['zypper --non-interactive install libtcmalloc4 libjemalloc2 libmimalloc2'], 'running: zypper --non-interactive install'],
	] as Array<[Machine, string[], string]>)('%o: runs the package manager and says what it runs', async (machine, calls, said) => {
		const fake = fakeMachine(machine);
		const r = await installSystemLibraries({env: fake.env});
		expect(r.ok, r.lines.join('\n')).toBe(true);
		expect(fake.log()).toEqual(calls);
		expect(r.lines.join('\n')).toContain(said);
		expect(r.lines.at(-1)).toBe('setup-system: installed tcmalloc, jemalloc and mimalloc');
	});

	it('not root and no passwordless sudo: installs nothing and prints the command to run', async () => {
		const fake = fakeMachine({manager: 'zypper', uid: 1000, sudo: false});
		const r = await installSystemLibraries({env: fake.env});
		expect(r.ok).toBe(true);
		expect(fake.log()).toEqual([]);
		expect(r.lines.join('\n')).toMatch(/not root and no passwordless sudo; to enable the allocator recipes run: sudo zypper --non-interactive install libtcmalloc4 libjemalloc2 libmimalloc2/);
	});

	it('no known package manager: says so', async () => {
		const fake = fakeMachine({manager: null, uid: 0, sudo: false});
		const r = await installSystemLibraries({env: fake.env});
		expect(r.lines.join('\n')).toMatch(/no apt-get, dnf, yum or zypper here/);
	});

	it('a failing package manager is a failure, with its output', async () => {
		const fake = fakeMachine({manager: 'dnf', uid: 0, sudo: false, fails: true});
		const r = await installSystemLibraries({env: fake.env});
		expect(r.ok).toBe(false);
		expect(r.lines.join('\n')).toMatch(/dnf: pretending to install/);
		expect(r.lines.at(-1)).toMatch(/installed none of them/);
	});

	it('a package the distribution does not ship: the others are installed one by one, and it is named', async () => {
		const fake = fakeMachine({manager: 'dnf', uid: 0, sudo: false, failsOn: 'mimalloc'});
		const r = await installSystemLibraries({env: fake.env});
		expect(r.ok, r.lines.join('\n')).toBe(true);
		expect(fake.log()).toEqual(['dnf install -y gperftools-libs jemalloc mimalloc', 'dnf install -y gperftools-libs', 'dnf install -y jemalloc', 'dnf install -y mimalloc']);
		expect(r.lines.at(-1)).toMatch(/^setup-system: installed tcmalloc and jemalloc; could not install mimalloc \(mimalloc\), so its allocator step is skipped/);
	});

	it('already installed: nothing runs', async () => {
		const fake = fakeMachine({manager: 'apt-get', uid: 0, sudo: false, installed: true});
		const r = await installSystemLibraries({env: fake.env});
		expect(r.ok).toBe(true);
		expect(fake.log()).toEqual([]);
		expect(r.lines).toEqual(['setup-system: tcmalloc, jemalloc and mimalloc already installed']);
	});
});

describe('the CLI asks before installing anything system-wide', () => {
	it('setup --system runs it (and says so); setup, detect and --auto without it never do', async () => {
		const fake = fakeMachine({manager: 'dnf', uid: 0, sudo: false});
		const node = process.execPath;
		const opts = {env: fake.env, extendEnv: false, reject: false, stdin: 'ignore' as const, timeout: 60_000};
		// Without --system: the venv part fails fast on a Python that is not there, and no package manager ran.
		const plain = await execa(node, [cli, 'setup', '--python', '/nonexistent/python3'], opts);
		expect(plain.exitCode).toBe(3);
		await execa(node, [cli, 'detect'], opts);
		await execa(node, [cli, '--auto', '--model', 'toy', '--budget', '10s', '--python', '/nonexistent/python3'], opts);
		expect(fake.log()).toEqual([]);
		const system = await execa(node, [cli, 'setup', '--system', '--python', '/nonexistent/python3'], opts);
		expect(system.stderr).toMatch(/setup-system: running: dnf install -y gperftools-libs jemalloc mimalloc/);
		expect(fake.log()).toEqual(['dnf install -y gperftools-libs jemalloc mimalloc']);
		expect(system.exitCode).toBe(3); // the venv still could not be made with that Python
	});

	it('--system belongs to setup only', async () => {
		const r = await execa(process.execPath, [cli, 'detect', '--system'], {reject: false});
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/--system does not apply to `graviton-tune detect`; it belongs to `graviton-tune setup`/);
	});
});
