// deploy/: each provisioning example exercised by its platform's own tool and the real
// graviton-tune. The cloud-init user data: cloud-init's schema check, and the provisioning
// script it writes, run (a short walk of the toy model). The systemd unit and its drop-in:
// systemd-analyze verify over the files that run wrote, and the env file read by systemd's
// own parser. The Ansible role: ansible-playbook against localhost twice, the second run
// changing nothing, then a changed model file noticed. The tools come from
// scripts/setup-deploy-tests.sh (npm test runs it); one that is missing skips its test,
// saying so, except where GT_REQUIRE_DEPLOY_TOOLS=1 (CI), where that is a failure.
import {execa} from 'execa';
import {spawnSync} from 'node:child_process';
import {chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {beforeAll, describe, expect, it} from 'vitest';
import {toolHome} from '../source/core/paths.js';
import {ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, REPORT_JSON_NAME} from '../source/core/report/outputs/names.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const deploy = path.join(root, 'deploy');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-deploy-'));
const required = process.env['GT_REQUIRE_DEPLOY_TOOLS'] === '1';

// Every walk here is test/auto.test.ts's quick one: the toy model, one recipe, a short budget.
const MODEL = 'toy';
const BUDGET = '30s';
const WALK_ARGS = ['--recipes', 'channels-last', '--price-per-hour', '0.1'];
// The tool's own home (its venv is there already: npm test sets it up), a settings folder
// of the test's own, and no busy-machine check (the test runner shares the CPUs).
const toolEnv = {GRAVITON_TUNE_HOME: toolHome(), GRAVITON_TUNE_CONFIG_DIR: path.join(tmp, 'config'), GRAVITON_TUNE_BUSY_THRESHOLD: '1'};

function which(command: string): string | null {
	const found = spawnSync('sh', ['-c', `command -v ${command}`], {encoding: 'utf8'});
	return found.status === 0 ? found.stdout.trim() : null;
}

/** A tool a test needs: missing, the test is skipped with the reason, or fails where required. */
function needTool(ctx: {skip: (note?: string) => void}, found: string | null, what: string): string {
	if (found) return found;
	const reason = `${what} is not installed: bash scripts/setup-deploy-tests.sh installs it`;
	if (required) throw new Error(`${reason} (GT_REQUIRE_DEPLOY_TOOLS=1: required here)`);
	console.warn(`deploy tests: skipped: ${reason}`);
	ctx.skip(reason);
	return '';
}

/** KEY=VALUE assignments as written (comments and blank lines left out). */
function assignments(text: string): Map<string, string> {
	const lines = text.split('\n').filter(line => line !== '' && !line.startsWith('#'));
	return new Map(lines.map(line => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
}

// ------------------------------------------------------------ cloud-init, then systemd

const userData = path.join(deploy, 'cloud-init', 'user-data.yaml');
const unitFile = path.join(deploy, 'systemd', 'graviton-tune-app.service');
const dropIn = path.join(deploy, 'systemd', 'graviton-tune-app.service.d', '50-app.conf');
// A machine's root as the user data leaves it: the tuned files in /etc/graviton-tune.
const machine = path.join(tmp, 'machine');
const tunedDir = path.join(machine, 'etc', 'graviton-tune');

/** The Python that runs cloud-init (its shebang), else python3. */
function cloudInitPython(): string {
	const cloudInit = which('cloud-init');
	const shebang = cloudInit ? /^#!(\S+)/.exec(readFileSync(cloudInit, 'utf8').split('\n')[0] ?? '')?.[1] : undefined;
	return shebang ?? 'python3';
}

/** The files the user data writes, by path (read with the YAML parser cloud-init uses). */
function writtenFiles(): Record<string, string> {
	const script = 'import json, sys, yaml; print(json.dumps({f["path"]: f["content"] for f in yaml.safe_load(open(sys.argv[1]))["write_files"]}))';
	const parsed = spawnSync(cloudInitPython(), ['-c', script, userData], {encoding: 'utf8'});
	if (parsed.status !== 0) throw new Error(`could not read ${userData} as YAML: ${parsed.stderr}`);
	return JSON.parse(parsed.stdout) as Record<string, string>;
}

let provisioned: {exitCode: number | undefined; stderr: string; seconds: number} | null = null;

/** Runs the provisioning script from the user data once (Node and the tool are here already). */
async function provision() {
	if (provisioned) return provisioned;
	const script = path.join(tmp, 'graviton-tune-provision');
	writeFileSync(script, writtenFiles()['/usr/local/sbin/graviton-tune-provision']!);
	chmodSync(script, 0o755);
	const started = Date.now();
	const run = await execa(script, [], {
		reject: false,
		stdin: 'ignore',
		timeout: 240_000,
		env: {...toolEnv, TUNE_TOOL_DIR: root, TUNE_MODEL: MODEL, TUNE_BUDGET: BUDGET, TUNE_EXTRA_ARGS: WALK_ARGS.join(' '), TUNE_OUT: tunedDir},
	});
	provisioned = {exitCode: run.exitCode, stderr: run.stderr, seconds: (Date.now() - started) / 1000};
	return provisioned;
}

describe('cloud-init user data', () => {
	it('passes cloud-init\'s own schema check, and a broken copy does not', async ctx => {
		const cloudInit = needTool(ctx, which('cloud-init'), 'cloud-init');
		const check = await execa(cloudInit, ['schema', '--config-file', userData], {reject: false});
		expect(check.exitCode, check.stdout + check.stderr).toBe(0);
		expect(check.stdout).toMatch(/^Valid (schema|cloud-config)/m);
		// The check is not vacuous: a file mode as a number instead of a string is refused.
		const broken = path.join(tmp, 'broken-user-data.yaml');
		writeFileSync(broken, readFileSync(userData, 'utf8').replace("permissions: '0755'", 'permissions: [755]'));
		const refused = await execa(cloudInit, ['schema', '--config-file', broken], {reject: false});
		expect(refused.exitCode, refused.stdout).not.toBe(0);
		expect(refused.stdout + refused.stderr).toMatch(/write_files\.0\.permissions/);
	});

	it('writes the systemd unit of deploy/systemd as it is, and a script bash parses', () => {
		const files = writtenFiles();
		expect(files['/etc/systemd/system/graviton-tune-app.service']).toBe(readFileSync(unitFile, 'utf8'));
		const syntax = spawnSync('bash', ['-n', '-c', files['/usr/local/sbin/graviton-tune-provision']!], {encoding: 'utf8'});
		expect(syntax.status, syntax.stderr).toBe(0);
	});

	it('its provisioning script tunes and leaves the env file and launch.sh where the unit reads them', async () => {
		const run = await provision();
		expect(run.exitCode, run.stderr).toBe(0);
		for (const name of [ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, REPORT_JSON_NAME]) expect(existsSync(path.join(tunedDir, name)), name).toBe(true);
		const result = JSON.parse(readFileSync(path.join(tunedDir, 'tune-result.json'), 'utf8').trim().split('\n').at(-1)!) as {type: string};
		expect(result.type).toBe('result');
		expect(run.stderr).toMatch(/systemd is not running here: graviton-tune-app.service not started|Created symlink/);
		// The unit reads the very files the tool names.
		const unit = readFileSync(unitFile, 'utf8');
		expect(unit).toMatch(new RegExp(`^EnvironmentFile=/etc/graviton-tune/${ENV_FILE_NAME.replace('.', '\\.')}$`, 'm'));
		expect(unit).toMatch(new RegExp(`^ExecStart=/etc/graviton-tune/${LAUNCH_SCRIPT_NAME.replace('.', '\\.')}$`, 'm'));
	});
});

describe('systemd unit', () => {
	beforeAll(async () => {
		await provision();
	});

	it('systemd reads graviton-tune.env as written (its own env-file parser)', async ctx => {
		// EnvironmentFile= and environment.d share systemd's env-file parser; the generator
		// prints what it parsed. (It expands $VAR, which EnvironmentFile= does not; the
		// tool's values never hold a $.)
		const generator = ['/usr/lib/systemd/user-environment-generators/30-systemd-environment-d-generator', '/lib/systemd/user-environment-generators/30-systemd-environment-d-generator'].find(existsSync) ?? null;
		needTool(ctx, generator, 'systemd (its environment.d generator)');
		const written = readFileSync(path.join(tunedDir, ENV_FILE_NAME), 'utf8');
		const config = path.join(tmp, 'xdg-config');
		mkdirSync(path.join(config, 'environment.d'), {recursive: true});
		writeFileSync(path.join(config, 'environment.d', `99-${ENV_FILE_NAME}.conf`), written);
		const parsed = await execa(generator!, [], {env: {XDG_CONFIG_HOME: config}, extendEnv: false, reject: false});
		expect(parsed.exitCode, parsed.stderr).toBe(0);
		const seen = assignments(parsed.stdout);
		const expected = assignments(written);
		expect(expected.size).toBeGreaterThan(2);
		for (const [key, value] of expected) expect(seen.get(key), key).toBe(value);
	});

	it('the unit and its drop-in pass systemd-analyze verify over the tuned files', async ctx => {
		const analyze = needTool(ctx, which('systemd-analyze'), 'systemd-analyze (systemd)');
		// The machine's own units (sysinit.target, network-online.target …) as this host has them.
		const systemUnits = ['/usr/lib/systemd/system', '/lib/systemd/system'].find(d => existsSync(path.join(d, 'sysinit.target')));
		needTool(ctx, systemUnits ?? null, 'systemd (its units: sysinit.target)');
		cpSync(systemUnits!, path.join(machine, 'usr', 'lib', 'systemd', 'system'), {recursive: true, verbatimSymlinks: true});
		const units = path.join(machine, 'etc', 'systemd', 'system');
		mkdirSync(path.join(units, 'graviton-tune-app.service.d'), {recursive: true});
		cpSync(unitFile, path.join(units, 'graviton-tune-app.service'));
		cpSync(dropIn, path.join(units, 'graviton-tune-app.service.d', '50-app.conf'));
		const verify = await execa(analyze, ['verify', `--root=${machine}`, '--man=no', '/etc/systemd/system/graviton-tune-app.service'], {reject: false});
		expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
		expect(verify.stderr).toBe('');
		// Not vacuous: without the tuned launch.sh there is nothing to start, and verify says so.
		const bare = path.join(tmp, 'bare-machine');
		for (const dir of [path.join('usr', 'lib', 'systemd', 'system'), path.join('etc', 'systemd', 'system')]) {
			cpSync(path.join(machine, dir), path.join(bare, dir), {recursive: true, verbatimSymlinks: true});
		}
		const missing = await execa(analyze, ['verify', `--root=${bare}`, '--man=no', '/etc/systemd/system/graviton-tune-app.service'], {reject: false});
		expect(missing.exitCode).not.toBe(0);
		expect(missing.stderr).toMatch(/launch\.sh/);
		// And the drop-in folder is read: a mistake in a file there is reported.
		writeFileSync(path.join(units, 'graviton-tune-app.service.d', '99-typo.conf'), '[Service]\nExecStartt=/bin/true\n');
		const typo = await execa(analyze, ['verify', `--root=${machine}`, '--man=no', '/etc/systemd/system/graviton-tune-app.service'], {reject: false});
		expect(typo.stderr).toMatch(/99-typo\.conf:\d+: Unknown key 'ExecStartt'/);
	});
});

// ------------------------------------------------------------ Ansible

const ansibleVenv = path.join(spawnSync('bash', [path.join(root, 'scripts', 'setup-deploy-tests.sh'), '--where'], {encoding: 'utf8'}).stdout.trim(), 'ansible');

describe('Ansible role', () => {
	const out = path.join(tmp, 'ansible-out');
	const fleet = path.join(tmp, 'fleet');
	const modelNotes = path.join(tmp, 'model-notes.txt');

	function playbook(extra: string[] = []) {
		const inventory = path.join(tmp, 'inventory.ini');
		writeFileSync(inventory, `[tuning]\nlocalhost ansible_connection=local ansible_become=false ansible_python_interpreter=${path.join(ansibleVenv, 'bin', 'python')}\n`);
		const vars = path.join(tmp, 'vars.json');
		writeFileSync(vars, JSON.stringify({
			graviton_tune_cmd: ['node', cli],
			graviton_tune_environment: toolEnv,
			graviton_tune_model: MODEL,
			graviton_tune_model_files: [modelNotes],
			graviton_tune_budget: BUDGET,
			graviton_tune_args: WALK_ARGS,
			graviton_tune_out: out,
			graviton_tune_fleet_dir: fleet,
			graviton_tune_timeout: 600,
		}));
		const home = path.join(tmp, 'ansible-home');
		return execa(path.join(ansibleVenv, 'bin', 'ansible-playbook'), ['-i', inventory, '-e', `@${vars}`, ...extra, path.join(deploy, 'ansible', 'playbook.yml')], {
			reject: false,
			timeout: 300_000,
			env: {ANSIBLE_HOME: home, ANSIBLE_LOCAL_TEMP: path.join(home, 'tmp'), ANSIBLE_ASYNC_DIR: path.join(home, 'async'), ANSIBLE_NOCOLOR: '1', ANSIBLE_RETRY_FILES_ENABLED: '0', LC_ALL: 'C.UTF-8'},
		});
	}

	/** PLAY RECAP's counts for localhost. */
	function recap(stdout: string): Record<string, number> {
		const line = /^localhost\s+:\s+(.*)$/m.exec(stdout)?.[1] ?? '';
		return Object.fromEntries([...line.matchAll(/(\w+)=(\d+)/g)].map(m => [m[1]!, Number(m[2])]));
	}

	it('tunes on the first run, fetches the report to fleet/<host>/ and compares; the second run changes nothing', async ctx => {
		needTool(ctx, existsSync(path.join(ansibleVenv, 'bin', 'ansible-playbook')) ? ansibleVenv : null, 'ansible-core (in its venv)');
		writeFileSync(modelNotes, 'weights v1\n');
		const first = await playbook();
		expect(first.exitCode, first.stdout + first.stderr).toBe(0);
		expect(recap(first.stdout)).toMatchObject({failed: 0, unreachable: 0});
		expect(recap(first.stdout)['changed']).toBeGreaterThanOrEqual(3); // tuned, fingerprint kept, report fetched
		const fetched = JSON.parse(readFileSync(path.join(fleet, 'localhost', REPORT_JSON_NAME), 'utf8')) as {model: {name: string}};
		expect(fetched.model.name).toBe(MODEL);
		expect(existsSync(path.join(out, ENV_FILE_NAME))).toBe(true);
		// compare over the fleet folder, shown by the play: the host's row.
		expect(first.stdout).toMatch(/"1\s+fleet\/localhost\s+/);

		const second = await playbook();
		expect(second.exitCode, second.stdout + second.stderr).toBe(0);
		expect(recap(second.stdout)).toMatchObject({changed: 0, failed: 0});
		expect(second.stdout).toMatch(/TASK \[graviton_tune : Tune [^\n]*\]\s*\*+\nskipping: \[localhost\]/);

		// A changed model file is noticed (in --check mode: what would run, without a walk).
		writeFileSync(modelNotes, 'weights v2\n');
		const changed = await playbook(['--check']);
		expect(changed.exitCode, changed.stdout + changed.stderr).toBe(0);
		expect(changed.stdout).toMatch(/TASK \[graviton_tune : Remember what was tuned\]\s*\*+\nchanged: \[localhost\]/);
	});
});

// ------------------------------------------------------------ the container

/**
 * CPU limits as a container runtime sets them (--cpuset-cpus 0 --cpus 1): a cgroup of its
 * own with a cpuset and a quota, v2 or v1, made here. Null where this host cannot (not root,
 * no writable cpu and cpuset controllers), with the reason.
 */
function limitedCgroup(): {enter: string; remove: () => void} | {reason: string} {
	if (process.getuid?.() !== 0) return {reason: 'not root: cannot make a cgroup'};
	const name = `graviton-tune-test-${process.pid}`;
	if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
		const controllers = readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8');
		if (!/\bcpu\b/.test(controllers) || !/\bcpuset\b/.test(controllers)) return {reason: 'cgroup v2 without the cpu and cpuset controllers'};
		writeFileSync('/sys/fs/cgroup/cgroup.subtree_control', '+cpu +cpuset');
		const dir = path.join('/sys/fs/cgroup', name);
		mkdirSync(dir);
		writeFileSync(path.join(dir, 'cpuset.cpus'), '0');
		writeFileSync(path.join(dir, 'cpu.max'), '100000 100000');
		return {enter: `echo $$ > ${dir}/cgroup.procs`, remove: () => spawnSync('rmdir', [dir])};
	}
	const cpu = ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/cpu,cpuacct'].find(d => existsSync(path.join(d, 'cpu.cfs_quota_us')));
	const cpuset = existsSync('/sys/fs/cgroup/cpuset/cpuset.cpus') ? '/sys/fs/cgroup/cpuset' : null;
	if (!cpu || !cpuset) return {reason: 'no cgroup cpu and cpuset controllers mounted'};
	const dirs = [path.join(cpu, name), path.join(cpuset, name)];
	for (const dir of dirs) mkdirSync(dir);
	writeFileSync(path.join(dirs[0]!, 'cpu.cfs_period_us'), '100000');
	writeFileSync(path.join(dirs[0]!, 'cpu.cfs_quota_us'), '100000');
	writeFileSync(path.join(dirs[1]!, 'cpuset.mems'), readFileSync(path.join(cpuset, 'cpuset.mems'), 'utf8').trim());
	writeFileSync(path.join(dirs[1]!, 'cpuset.cpus'), '0');
	return {enter: dirs.map(d => `echo $$ > ${d}/cgroup.procs`).join(' && '), remove: () => spawnSync('rmdir', dirs)};
}

describe('container', () => {
	it('inside the CPU limits a runtime sets (cpuset 0, a quota of one CPU), graviton-tune sees one usable CPU', async ctx => {
		const group = limitedCgroup();
		if ('reason' in group) {
			console.warn(`deploy tests: skipped the CPU-limit check: ${group.reason}`);
			ctx.skip(group.reason);
			return;
		}
		try {
			const run = await execa('sh', ['-c', `${group.enter} && exec node ${cli} detect --json`], {reject: false, env: toolEnv});
			expect(run.exitCode, run.stderr).toBe(0);
			const seen = JSON.parse(run.stdout) as {usableCpus: number; usableCpuList: number[]; cpuQuota: number; fingerprint: {label: string}};
			expect(seen).toMatchObject({usableCpus: 1, usableCpuList: [0], cpuQuota: 1});
			expect(seen.fingerprint.label).toMatch(/, 1 CPUs, torch /);
		} finally {
			group.remove();
		}
	});

	it('builds and tunes with podman, where a container runtime and the base image are here', async ctx => {
		const containerfile = readFileSync(path.join(deploy, 'container', 'Containerfile'), 'utf8');
		const base = /^FROM (\S+)/m.exec(containerfile)![1]!;
		const podman = which('podman');
		const have = podman ? spawnSync(podman, ['image', 'exists', base]).status === 0 : false;
		if (!have) {
			const reason = podman ? `the base image ${base} is not here (podman pull ${base})` : 'podman is not installed';
			console.warn(`deploy tests: skipped the container build: ${reason}`);
			ctx.skip(reason);
			return;
		}
		const pack = await execa('npm', ['pack', '--ignore-scripts', '--pack-destination', path.join(deploy, 'container')], {cwd: root, reject: false});
		expect(pack.exitCode, pack.stderr).toBe(0);
		const build = await execa(podman!, ['build', '-t', 'graviton-tune-test', path.join(deploy, 'container')], {reject: false, timeout: 1_800_000});
		expect(build.exitCode, build.stderr).toBe(0);
		const mounted = path.join(tmp, 'container-out');
		mkdirSync(mounted);
		const run = await execa(podman!, ['run', '--rm', '--cpus', '1', '--cpuset-cpus', '0', '-v', `${mounted}:/out`, 'graviton-tune-test', '--auto', '--model', MODEL, '--budget', BUDGET, ...WALK_ARGS, '--out', '/out'], {reject: false, timeout: 300_000});
		expect(run.exitCode, run.stderr).toBe(0);
		const report = JSON.parse(readFileSync(path.join(mounted, REPORT_JSON_NAME), 'utf8')) as {machine: {usableCpus: number}};
		expect(report.machine.usableCpus).toBe(1);
	}, 2_400_000);
});

// ------------------------------------------------------------ the names deploy/ spells

describe('deploy/ spells the tool\'s own names', () => {
	it('the role\'s report name is the one the tool writes', () => {
		const defaults = readFileSync(path.join(deploy, 'ansible', 'roles', 'graviton_tune', 'defaults', 'main.yml'), 'utf8');
		expect(defaults).toMatch(new RegExp(`^graviton_tune_report_name: ${REPORT_JSON_NAME.replace('.', '\\.')}$`, 'm'));
	});
});
