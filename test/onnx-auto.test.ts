// --auto on an .onnx file as a new user runs it: the built CLI, real ONNX Runtime, a small
// convnet exported in the test by torch.onnx.export (dynamic batch), and a file that does
// not load (exit 2, nothing written).
import {execa} from 'execa';
import {existsSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {beforeAll, describe, expect, it} from 'vitest';
import {findPython} from '../source/core/machine/python-env.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const cli = path.join(root, 'dist', 'cli.js');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'gt-onnx-'));

function run(args: string[]) {
	return execa('node', [cli, ...args], {
		stdin: 'ignore',
		reject: false,
		timeout: 300_000,
		cwd: tmp,
		env: {GRAVITON_TUNE_CONFIG_DIR: path.join(tmp, 'config'), GRAVITON_TUNE_BUSY_THRESHOLD: '1'},
	});
}

const exportNet = `
import torch
from torch import nn
torch.manual_seed(0)
net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5)).eval()
torch.onnx.export(net, (torch.randn(1, 3, 32, 32),), "net.onnx", input_names=["image"], dynamo=False,
                  dynamic_axes={"image": {0: "batch"}})
`;

let ready = false;
beforeAll(async () => {
	if (!existsSync(cli)) await execa('npm', ['run', 'build'], {cwd: root});
	const python = (await findPython({})).interpreter;
	if (!python) return;
	const done = await execa(python, ['-c', exportNet], {cwd: tmp, reject: false});
	ready = done.exitCode === 0;
}, 300_000);

describe('graviton-tune --auto --model FILE.onnx', () => {
	it('walks ONNX Runtime from its default session and writes files that serve the file', async ({skip}) => {
		if (!ready) skip('no Python with torch.onnx.export and onnxruntime here');
		const r = await run(['--auto', '--model', 'net.onnx', '--budget', '40s', '--recipes', 'onnxruntime-threads', '--out', 'out', '--json']);
		expect(r.exitCode, r.stderr).toBe(0);
		expect(r.stderr).toMatch(/Model: net\.onnx \(onnx\), inputs image \[1, 3, 32, 32\] float32/);
		expect(r.stderr).toMatch(/Baseline: ONNX Runtime's default CPU session, fp32, batch 1/);
		const result = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {decisions: Array<{stepId: string; outcome: string}>};
		expect(result.decisions.some(d => d.stepId.endsWith('onnxruntime-threads'))).toBe(true);
		const env = readFileSync(path.join(tmp, 'out', 'graviton-tune.env'), 'utf8');
		expect(env).toMatch(/^GT_BACKEND=onnxruntime$/m);
		expect(env).toMatch(/^GT_ORT_OPTIONS=(default|intra_op_num_threads=threads)$/m);
		expect(env).toContain(`GT_MODEL=${path.join(tmp, 'net.onnx')}`);
		const report = JSON.parse(readFileSync(path.join(tmp, 'out', 'report.json'), 'utf8')) as {probes: Array<{result: {check: {cosine: number}} | null}>};
		expect(report.probes[0]!.result!.check.cosine).toBeGreaterThan(0.9999); // against ONNX Runtime's fp32 session
	}, 300_000);

	it('refuses a file that does not load before any probe: exit 2, nothing written', async () => {
		writeFileSync(path.join(tmp, 'broken.onnx'), 'not a protobuf');
		const r = await run(['--auto', '--model', 'broken.onnx', '--out', 'never']);
		expect(r.exitCode).toBe(2);
		expect(r.stderr).toMatch(/broken\.onnx is not a readable ONNX model/);
		expect(r.stderr).not.toMatch(/Baseline/);
		expect(existsSync(path.join(tmp, 'never'))).toBe(false);
	}, 120_000);
});
