// Headless --auto end to end, as a provisioning script runs it: the built CLI, stdin from
// /dev/null, no TTY, real probes on the tiny built-in model. Also every exit code.
import {execa} from 'execa';
import {existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {beforeAll, describe, expect, it} from 'vitest';
import {Settings} from '../source/core/settings.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-auto-'));
const configDir = path.join(tmp, 'config');
// The walks' own temporary folder: the cache of converted models each walk makes there must be gone when it ends.
const walkTmp = path.join(tmp, 'tmpdir');
mkdirSync(walkTmp);
const leftCaches = () => readdirSync(walkTmp).filter(name => name.startsWith('graviton-tune-cache-'));

function run(args: string[], opts: {env?: Record<string, string>; timeout?: number} = {}) {
	return execa('node', [cli, ...args], {
		stdin: 'ignore',
		reject: false,
		timeout: opts.timeout ?? 240_000,
		// This machine is shared: these tests are about the walk and its files, not about
		// contention (test/contention.test.ts), so a busy machine must not stop them.
		env: {GRAVITON_TUNE_CONFIG_DIR: configDir, GRAVITON_TUNE_BUSY_THRESHOLD: '1', ...opts.env},
	});
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
	return stdout.trim().split('\n').filter(Boolean).map(line => JSON.parse(line) as Record<string, unknown>);
}

beforeAll(async () => {
	if (!existsSync(cli)) await execa('npm', ['run', 'build'], {cwd: root});
});

describe('graviton-tune --auto', () => {
	const out = path.join(tmp, 'out');
	let first: Awaited<ReturnType<typeof run>>;

	beforeAll(async () => {
		first = await run(['--auto', '--model', 'toy', '--budget', '45s', '--recipes', 'channels-last', '--out', out, '--json', '--price-per-hour', '0.1'], {env: {TMPDIR: walkTmp}});
	});

	it('walks, writes every file, and ends stdout with the result line', () => {
		expect(first.exitCode, first.stderr).toBe(0);
		const lines = jsonLines(first.stdout);
		expect(lines.some(l => l['type'] === 'step-start')).toBe(true);
		const result = lines.at(-1)!;
		expect(result['type']).toBe('result');
		const baseline = result['baseline'] as {samplesPerSecond: number};
		const best = result['best'] as {samplesPerSecond: number; speedup: number; config: {batchSize: number}};
		expect(baseline.samplesPerSecond).toBeGreaterThan(0);
		expect(best.samplesPerSecond).toBeGreaterThan(0);
		expect(best.speedup).toBeGreaterThan(0);
		expect((result['probes'] as unknown[]).length).toBeGreaterThanOrEqual(3);
		const files = result['files'] as Record<string, string>;
		for (const file of [files['env']!, files['launch']!, files['report']!, path.join(out, 'report.md'), path.join(out, 'graviton_tune_runtime.py')]) {
			expect(existsSync(file), file).toBe(true);
		}
		expect(statSync(files['launch']!).mode & 0o111).not.toBe(0);
		const report = JSON.parse(readFileSync(files['report']!, 'utf8')) as {schemaVersion: number; probes: unknown[]};
		expect(report.schemaVersion).toBe(1);
		expect(report.probes.length).toBe((result['probes'] as unknown[]).length);
		expect(readFileSync(files['env']!, 'utf8')).toMatch(new RegExp(`^GT_BATCH_SIZE=${best.config.batchSize}$`, 'm'));
		// Progress is for people, on stderr; stdout held JSON only (parsed above).
		expect(first.stderr).toMatch(/Baseline: fp32, eager, batch 1/);
		expect(leftCaches()).toEqual([]);
	});

	it('counts the budget from the command start: the checks before the walk come out of it', () => {
		const spent = /(\d+) s of the 45 s budget went to detection and the model check: the walk has (\d+) s\./.exec(first.stderr);
		expect(spent, first.stderr).not.toBeNull();
		expect(Number(spent![1]) + Number(spent![2])).toBeGreaterThanOrEqual(44);
		expect(Number(spent![1]) + Number(spent![2])).toBeLessThanOrEqual(46);
		// The plan is made for what is left, not for the whole 45 s.
		expect(first.stderr).toMatch(new RegExp(`Plan for the ${spent![2]} s budget`));
	});

	it('writes report.html, names it, and costs a million inferences at the given price', () => {
		const result = jsonLines(first.stdout).at(-1)!;
		const files = result['files'] as Record<string, string>;
		expect(files['reportHtml']).toBe(path.join(path.resolve(out), 'report.html'));
		expect(readFileSync(files['reportHtml']!, 'utf8')).toMatch(/^<!doctype html>[\s\S]*<svg class="chart scatter"/);
		expect(first.stderr).toContain(`Report: ${files['reportHtml']}`);
		const best = result['best'] as {samplesPerSecond: number};
		const cost = result['cost'] as {known: boolean; winnerPerMillion: number; price: {perHour: number; origin: string}};
		expect(cost).toMatchObject({known: true, price: {perHour: 0.1, origin: 'flag'}});
		expect(cost.winnerPerMillion).toBeCloseTo((0.1 / (best.samplesPerSecond * 3600)) * 1e6, 9);
		expect(first.stderr).toMatch(/^Cost: \$[\d.]+ per million inferences \(baseline \$[\d.]+\) at \$0\.100\/h, given with --price-per-hour$/m);
		const report = JSON.parse(readFileSync(files['report']!, 'utf8')) as {cost: unknown};
		expect(report.cost).toEqual(cost);
	});

	it('check: the deployed configuration still wins here, within the recorded interval (exit 0)', async () => {
		const checked = await run(['check', '--out', out, '--json']);
		expect(checked.exitCode, checked.stderr + checked.stdout).toBe(0);
		const line = jsonLines(checked.stdout).at(-1)!;
		expect(line['ok']).toBe(true);
		expect((line['measured'] as {ratios: number[]}).ratios).toHaveLength(3);
		expect((line['kernels'] as {changed: boolean}).changed).toBe(false);
		expect(checked.stderr).toMatch(/deployed \(pair 3\)/);
	});

	it('check: an env file edited back to the baseline\'s batch fails, with the reason (exit 7)', async () => {
		const edited = path.join(tmp, 'edited');
		mkdirSync(edited);
		for (const name of ['report.json', 'graviton-tune.env']) writeFileSync(path.join(edited, name), readFileSync(path.join(out, name)));
		const env = readFileSync(path.join(edited, 'graviton-tune.env'), 'utf8');
		expect(env).toMatch(/^GT_BATCH_SIZE=(\d+)$/m);
		expect(Number(/^GT_BATCH_SIZE=(\d+)$/m.exec(env)![1])).toBeGreaterThan(1); // the walk kept a larger batch
		writeFileSync(path.join(edited, 'graviton-tune.env'), env.replace(/^GT_BATCH_SIZE=\d+$/m, 'GT_BATCH_SIZE=1').replace(/^GT_CHANNELS_LAST=1$/m, 'GT_CHANNELS_LAST=0'));
		const checked = await run(['check', '--out', edited]);
		expect(checked.exitCode, checked.stderr + checked.stdout).toBe(7);
		expect(checked.stdout).toMatch(/FAILED: (slower by \d+%|no longer faster than the baseline)/);
		expect(checked.stdout).toMatch(/batch 1/);
		const missing = await run(['check', '--out', path.join(tmp, 'nowhere')]);
		expect(missing.exitCode).toBe(2);
		expect(missing.stderr).toMatch(/graviton-tune check: .*nowhere: no such file or folder/);
	});

	it('with --resume, reuses what was measured on this unchanged machine', async () => {
		// The matmul rates the first run kept, made to read far too low (as if measured in a busy minute).
		const settings = new Settings(configDir);
		const history = (JSON.parse(readFileSync(settings.path, 'utf8')) as {history: Record<string, unknown>}).history;
		const kept = Object.keys(history).filter(key => key.startsWith('matmul:'));
		expect(kept).toHaveLength(1);
		const machineKey = kept[0]!.slice('matmul:'.length);
		expect(settings.matmulRates(machineKey)?.fp32).toBeGreaterThan(1);
		settings.recordMatmulRates(machineKey, 'rates', {at: '2026-01-01T00:00:00.000Z', threads: 1, fp32: 1e-6});
		const again = await run(['--auto', '--model', 'toy', '--budget', '45s', '--recipes', 'channels-last', '--out', out, '--resume']);
		expect(again.exitCode, again.stderr).toBe(0);
		expect(again.stderr).toMatch(/Last time on this machine/);
		expect(again.stderr).toMatch(/reused \(--resume\)/);
		// Unchanged files are left alone; changed ones (report dates) are backed up, never clobbered.
		expect(again.stderr).toMatch(/backup: .*\.bak-/);
		// A walk that outran the kept rate says the rate reads low, not a share past 100% as a verdict, and the rate is forgotten.
		expect(again.stderr).toMatch(/so: not known: this walk outran the fp32 matmul rate kept for this machine/);
		expect(new Settings(configDir).matmulRates(machineKey)).toBeUndefined();
	});
});

describe('exit codes', () => {
	it('2 for bad usage, naming the flag', async () => {
		const r = await run(['--auto', '--budget', 'soon']);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/--budget soon: expected a duration/);
	});

	it('2 for a zero budget, and for a flag of another command', async () => {
		expect((await run(['--auto', '--budget', '0'])).stderr).toMatch(/--budget 0: expected a duration/);
		const r = await run(['--auto', '--batch-size', '8']);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/--batch-size does not apply to `graviton-tune`; it belongs to `graviton-tune probe`/);
	});

	it('2 before any probe runs when --launch-script does not exist', async () => {
		const r = await run(['--auto', '--model', 'toy', '--launch-script', path.join(tmp, 'no-such-script.sh')]);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/--launch-script .*no-such-script.sh: not a file this user can read and write/);
		expect(r.stderr).not.toMatch(/Baseline/);
	});

	it('2 for the interactive mode without a terminal, naming --auto', async () => {
		const r = await run([]);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/Pass --auto/);
	});

	it('3 when the Python given has no torch, with the fix', async () => {
		const r = await run(['--auto', '--model', 'toy', '--python', '/usr/bin/python3']);
		expect(r.exitCode).toBe(3);
		expect(r.stderr).toMatch(/torch/);
		expect(r.stderr).toMatch(/fix: /);
	});

	it('3 when the Python given does not exist', async () => {
		const r = await run(['--auto', '--model', 'toy', '--python', path.join(tmp, 'no-such-python')]);
		expect(r.exitCode).toBe(3);
	});

	it('2 before any probe when the model cannot be built (a factory that raises), with the fix', async () => {
		const model = path.join(tmp, 'broken_model.py');
		writeFileSync(model, 'def build_model():\n    raise RuntimeError("weights are on holiday")\n');
		const r = await run(['--auto', '--model', model, '--input-shape', '3,32,32', '--budget', '30s', '--out', path.join(tmp, 'never')]);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/build_model\(\) in .* raised RuntimeError: weights are on holiday/);
		expect(r.stderr).toMatch(/fix: /);
		expect(r.stderr).not.toMatch(/Baseline/); // no probe started
		expect(existsSync(path.join(tmp, 'never'))).toBe(false);
	});

	it('2 before any probe for a path that does not exist, and for example_inputs of the wrong batch size', async () => {
		const missing = await run(['--auto', '--model', path.join(tmp, 'nope.py'), '--out', path.join(tmp, 'never')]);
		expect(missing.exitCode).toBe(2);
		expect(missing.stderr).toMatch(/--model .*nope\.py: cannot read the model file: no such file.*\n {2}fix: check the path given with --model/);
		const model = path.join(tmp, 'wrong_batch.py');
		writeFileSync(model, 'import torch\ndef build_model():\n    return torch.nn.Linear(4, 2)\ndef example_inputs(batch_size):\n    return torch.randn(3, 4)\n');
		const wrong = await run(['--auto', '--model', model, '--out', path.join(tmp, 'never')]);
		expect(wrong.exitCode).toBe(2);
		expect(wrong.stderr).toMatch(/returned the wrong batch size: input has 3 rows \(expected 1\)/);
		expect(existsSync(path.join(tmp, 'never'))).toBe(false);
	});

	it('4 when the baseline probe fails (a model that fails in the probe only)', async () => {
		const model = path.join(tmp, 'broken_in_probe.py');
		writeFileSync(model, 'import sys\nimport torch\ndef build_model():\n    if "run" in sys.argv:\n        raise RuntimeError("weights are on holiday")\n    return torch.nn.Flatten()\n');
		const r = await run(['--auto', '--model', model, '--input-shape', '3,32,32', '--budget', '30s', '--out', path.join(tmp, 'never')]);
		expect(r.exitCode).toBe(4);
		expect(r.stderr).toMatch(/weights are on holiday/);
		expect(existsSync(path.join(tmp, 'never'))).toBe(false);
	});

	it('5 when the output files cannot be written', async () => {
		const blocker = path.join(tmp, 'a-file');
		writeFileSync(blocker, 'not a directory');
		const r = await run(['--auto', '--model', 'toy', '--budget', '20s', '--recipes', 'channels-last', '--out', path.join(blocker, 'out'), '--json']);
		expect(r.exitCode).toBe(5);
		expect(r.stderr).toMatch(/could not write the output files/);
		expect(jsonLines(r.stdout).at(-1)!['files']).toBeNull();
	});

	it('130 when interrupted, with no probe left running and no files written', async () => {
		const outDir = path.join(tmp, 'interrupted');
		const child = execa('node', [cli, '--auto', '--model', 'toy', '--budget', '60s', '--out', outDir], {
			stdin: 'ignore',
			reject: false,
			env: {GRAVITON_TUNE_CONFIG_DIR: configDir, GRAVITON_TUNE_BUSY_THRESHOLD: '1', TMPDIR: walkTmp},
		});
		let stderr = '';
		child.stderr!.on('data', (chunk: Buffer) => {
			stderr += chunk.toString();
		});
		// Wait until a probe is measuring, then Ctrl+C.
		for (let i = 0; i < 600 && !/\[1\] Baseline/.test(stderr); i++) await new Promise(r => setTimeout(r, 100));
		await new Promise(r => setTimeout(r, 1500));
		child.kill('SIGINT');
		const r = await child;
		expect(r.exitCode).toBe(130);
		expect(r.stderr).toMatch(/interrupted; no files written/);
		expect(existsSync(outDir)).toBe(false);
		expect(leftCaches()).toEqual([]);
		const ps = await execa('ps', ['-eo', 'args'], {reject: false});
		expect(ps.stdout).not.toMatch(/graviton_tune_probe run --config \{"model":\{"name":"toy"/);
	});
});
