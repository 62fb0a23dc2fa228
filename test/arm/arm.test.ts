// The Arm suite: the real tool inside an emulated Graviton2, 3 and 4
// (scripts/arm-emulation.sh: QEMU user mode, arm64 Debian, the tool's own setup inside).
// Emulation proves correctness, applicability, the kernels chosen and the whole flow;
// never speed, so no figure is compared here. Run by scripts/test.sh after
// `scripts/arm-emulation.sh build`; alone: npx vitest run --config vitest.arm.config.ts
import {execa} from 'execa';
import path from 'node:path';
import {beforeAll, describe, expect, it} from 'vitest';
import {defaultTorchSpec} from '../../source/core/machine/setup-pins.js';
import {kernelSummary, shortfall} from '../../source/core/report/kernels.js';

const repo = path.resolve(import.meta.dirname, '../..');
const script = path.join(repo, 'scripts/arm-emulation.sh');
const venvPython = '/root/.cache/graviton-tune/venv/bin/python';

/** A command inside the emulated machine as `cpu`; the repository is /repo there. */
async function inArm(cpu: string, command: string[], timeoutMs = 600_000) {
	const run = await execa('bash', [script, 'run', '--cpu', cpu, '--', ...command], {reject: false, timeout: timeoutMs, all: true});
	return run;
}

function jsonLines(text: string): any[] {
	return text.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line));
}

describe('the tool\'s setup inside the emulated machine', () => {
	it('installed the torch pinned for aarch64, a CPU build without NVIDIA wheels', async () => {
		const code = 'import json, torch, importlib.metadata as m; print(json.dumps({"torch": torch.__version__, "cuda": torch.version.cuda, "nvidia": sorted(d.metadata["Name"] for d in m.distributions() if d.metadata["Name"].lower().startswith(("nvidia", "cuda")))}))';
		const run = await inArm('graviton3', [venvPython, '-c', code]);
		expect(run.exitCode, run.all).toBe(0);
		const found = JSON.parse(run.stdout.trim().split('\n').pop()!);
		expect(found.torch.split('+')[0]).toBe(defaultTorchSpec('arm64').split('==')[1]);
		expect(found.cuda).toBeNull();
		expect(found.nvidia).toEqual([]);
	}, 600_000);
});

const status = (detect: any, id: string) => detect.recipes.find((r: any) => r.id === id);

/**
 * Runs started together the first time any of them is asked for: under emulation most of
 * each is one busy thread (importing torch, tracing, compiling), so runs side by side on
 * this host's CPUs take little longer than one. Nothing here compares speed.
 */
function together<K extends string, T>(jobs: Record<K, () => Promise<T>>): (key: K) => Promise<T> {
	let started: Record<K, Promise<T>> | null = null;
	return key => {
		started ??= Object.fromEntries(Object.entries<() => Promise<T>>(jobs).map(([k, job]) => [k, job()])) as Record<K, Promise<T>>;
		return started[key];
	};
}

const detectOn = (cpu: string) => () => inArm(cpu, ['node', 'dist/cli.js', 'detect', '--json']);
const detects = together({graviton2: detectOn('graviton2'), graviton3: detectOn('graviton3'), graviton4: detectOn('graviton4')});

/** One line per probe of a measure-recipes run: how long it took and where (the phases). */
function logTimings(cpu: string, lines: any[]) {
	const timed = lines.filter(l => typeof l.seconds === 'number');
	console.log(`${cpu}: ${timed.map(l => `${l.type === 'done' ? 'all' : l.id + (l.type === 'verbose' ? ' (verbose)' : '')} ${l.seconds.toFixed(0)} s${l.phases ? ` ${JSON.stringify(l.phases)}` : ''}`).join('; ')}`);
}

describe.each([
	{cpu: 'graviton2', platform: 'AWS Graviton2', core: 'Neoverse-N1', bf16: false, sve: false, sve2: false, sveBits: null, i8mm: false, capability: 'DEFAULT'},
	{cpu: 'graviton3', platform: 'AWS Graviton3', core: 'Neoverse-V1', bf16: true, sve: true, sve2: false, sveBits: 256, i8mm: true, capability: 'SVE256'},
	// torch 2.9.1 has SVE 256 kernels only: on SVE 128 (Graviton4) it runs its NEON ones,
	// eager (capability DEFAULT) and compiled (inductor's VecNEON) alike.
	{cpu: 'graviton4', platform: 'AWS Graviton4', core: 'Neoverse-V2', bf16: true, sve: true, sve2: true, sveBits: 128, i8mm: true, capability: 'DEFAULT'},
])('detect --json on an emulated $cpu', expected => {
	let detect: any;
	beforeAll(async () => {
		const run = await detects(expected.cpu as 'graviton2' | 'graviton3' | 'graviton4');
		expect(run.exitCode, run.all).toBe(0);
		detect = JSON.parse(run.stdout);
	}, 600_000);

	it('names the platform, the core and the ISA', () => {
		expect(detect.live).toBe(true);
		expect(detect.cpu.arch).toBe('aarch64');
		expect(detect.cpu.platform).toBe(expected.platform);
		expect(detect.cpu.platformGuess).toBeNull();
		expect(detect.cpu.core).toBe(expected.core);
		expect(detect.cpu.isa).toMatchObject({bf16: expected.bf16, sve: expected.sve, sve2: expected.sve2, i8mm: expected.i8mm});
		expect(detect.cpu.sveVectorBits).toBe(expected.sveBits);
		// What the emulated CPU really offers torch (QEMU's HWCAPs, not the captured text).
		expect(detect.python.torch.version).toMatch(/^2\./);
		expect(detect.python.torch.cpuCapability).toBe(expected.capability);
	});

	it('lists the recipes that apply: bf16 fast math only with bf16', () => {
		const fastmath = status(detect, 'bf16-fastmath');
		const ortBf16 = status(detect, 'onnxruntime-bf16');
		const autocast = status(detect, 'bf16-autocast');
		if (expected.bf16) {
			expect(fastmath.status).toBe('applicable');
			expect(ortBf16.status).toBe('applicable');
			expect(autocast.status).toBe('applicable');
		} else {
			expect(fastmath.status).toBe('not-applicable');
			expect(fastmath.reason).toMatch(/bf16.*Graviton3/i);
			expect(ortBf16.status).toBe('not-applicable');
			expect(autocast.status).toBe('not-applicable');
		}
		for (const id of ['batch-size', 'channels-last', 'torch-compile', 'int8-pt2e', 'tcmalloc', 'jemalloc', 'mimalloc', 'workers', 'onnxruntime']) {
			expect(status(detect, id)?.status, id).toBe('applicable');
		}
	});
});

describe('every recipe that applies on an emulated Graviton3, through the probe', () => {
	let machine: any;
	const probes = new Map<string, any>();
	let verbose: any;
	beforeAll(async () => {
		const run = await inArm('graviton3', ['node', 'test/arm/measure-recipes.mjs', '--jobs', '2'], 3_000_000);
		const lines = jsonLines(run.stdout);
		logTimings('graviton3', lines);
		expect(run.exitCode, run.all.slice(-4000)).toBe(0);
		machine = lines.find(l => l.type === 'machine');
		for (const line of lines) if (line.type === 'probe') probes.set(line.id, line);
		verbose = lines.find(l => l.type === 'verbose');
	}, 3_000_000);

	// What applies there: a recipe added later must be measured here too.
	const expected = ['batch-size', 'channels-last', 'bf16-autocast', 'bf16-fastmath', 'tcmalloc', 'jemalloc', 'mimalloc', 'thp',
		'lru-cache', 'omp-placement', 'torch-compile', 'workers', 'int8-pt2e', 'onnxruntime', 'onnxruntime-bf16', 'openvino', 'openvino-int8',
		'mkldnn-matmul-min-dim', 'ideep-matmul-reorders', 'inductor-cpp-wrapper'];
	// The output check's floor: NNCF's int8 of this small random-weight model gave cosine 0.965
	// under the emulated Graviton3 (PT2E int8 stays above 0.99); the walk's own --min-cosine
	// decides whether such a step may win, this only asks that it ran and stayed close.
	const minCosine = (id: string) => (id === 'openvino-int8' ? 0.95 : 0.99);

	it('applies exactly the expected recipes', () => {
		expect(machine.platform).toBe('AWS Graviton3');
		// THP is the host kernel's: the recipe applies where it is not "never" (as on Graviton).
		const want = machine.thp === 'never' ? expected.filter(id => id !== 'thp') : expected;
		const measured = [...probes.keys()].filter(id => id !== 'baseline');
		expect(measured.sort()).toEqual([...want].sort());
	});

	it.each(['baseline', ...expected])('%s: measured, not failed', id => {
		if (id === 'thp' && machine.thp === 'never') return;
		const probe = probes.get(id);
		expect(probe, `${id} was not run`).toBeDefined();
		expect(probe.outcome, JSON.stringify(probe.failure)).toBe('measured');
		expect(probe.result.samplesPerSecond.median).toBeGreaterThan(0);
		expect(probe.result.check).not.toBeNull();
		expect(probe.result.check.cosine).toBeGreaterThan(minCosine(id));
	});

	it('bf16 fast math ran the Arm Compute Library kernels with bf16 math', () => {
		expect(probes.get('bf16-fastmath').env).toMatchObject({DNNL_DEFAULT_FPMATH_MODE: 'BF16'});
		expect(verbose.exitCode).toBe(0);
		expect(verbose.execLines).toBeGreaterThan(0);
		const kernels = verbose.sample.join('\n');
		expect(kernels).toMatch(/acl/);
		expect(kernels).toMatch(/fpmath:bf16/);
		// rounded to bf16: no longer bit-identical to fp32
		expect(probes.get('bf16-fastmath').result.check.maxAbsError).toBeGreaterThan(0);
	});

	it('every probe carries the account of the kernels that ran', () => {
		for (const [id, probe] of probes) {
			if (probe.outcome !== 'measured') continue;
			expect(probe.result.kernels?.groups.length, `${id}: ${JSON.stringify(probe.result.kernels)}`).toBeGreaterThan(0);
		}
		// bf16 fast math's convolutions: bf16 math in the Arm Compute Library, from oneDNN's own log.
		const fastmath = probes.get('bf16-fastmath').result.kernels;
		expect(fastmath.groups.some((g: any) => g.family === 'convolution' && g.precision === 'bf16' && /acl/.test(g.kernel)), kernelSummary(fastmath)).toBe(true);
	});

	it('PT2E int8 through the Arm inductor quantizer is caught computing in fp32 (quantize/dequantize around fp32 kernels)', () => {
		// torch 2.9.1 under emulated Graviton3: the graph has its q/dq nodes (the test below) and
		// the numerics change, but no int8 kernel runs: oneDNN's log and the profiler show the
		// convolutions and matmuls in fp32 (gemm:acl, indirect_gemm:acl, aten). A walk drops the
		// step as not what its name says; x86's int8 probe (probes/tests/test_kernels.py) runs int8.
		const int8 = probes.get('int8-pt2e').result.kernels;
		const short = shortfall(int8, 'int8');
		expect(short, kernelSummary(int8)).not.toBeNull();
		expect(short!.none, kernelSummary(int8)).toBe(true);
	});

	it('OpenVINO int8 is caught running below its name: most of its compute is not int8 on Arm', () => {
		const ov = probes.get('openvino-int8').result.kernels;
		const short = shortfall(ov, 'int8');
		expect(short, kernelSummary(ov)).not.toBeNull();
		expect(short!.words).toMatch(/% of compute ran int8, the rest fp(32|16)|no int8 kernel ran/);
	});

	it('int8 through the Arm inductor quantizer really quantized', () => {
		const int8 = probes.get('int8-pt2e');
		const logs = int8.logs.join('\n');
		expect(logs).toMatch(/ArmInductorQuantizer/);
		const nodes = /int8: (\d+) quantize and (\d+) dequantize nodes/.exec(logs);
		expect(nodes, logs).not.toBeNull();
		expect(Number(nodes![1])).toBeGreaterThan(0);
		expect(Number(nodes![2])).toBeGreaterThan(0);
		expect(int8.result.check.maxAbsError).toBeGreaterThan(0);
	});

	it('torch.compile on SVE 256 compiled (precompiled header off: GCC 12 crashed on it)', () => {
		const logs = probes.get('torch-compile').logs.join('\n');
		expect(logs).toMatch(/precompiled header is off/);
	});

	it('ONNX Runtime bf16 fast math is set for the bf16 recipe only, not for fp32 ONNX Runtime', () => {
		const fp32 = probes.get('onnxruntime');
		const bf16 = probes.get('onnxruntime-bf16');
		expect(bf16.logs.join('\n')).toMatch(/enable_gemm_fastmath_arm64_bfloat16=1/);
		expect(fp32.logs.join('\n')).not.toMatch(/enable_gemm_fastmath_arm64_bfloat16=1/);
		// Not asserted: that it changes the MatMul results. With onnxruntime 1.32 under
		// emulation it did not (max error 2.8e-8 with the option on; README, Known gaps).
	});

	it('two pinned workers ran under torchrun', () => {
		const workers = probes.get('workers');
		expect(workers.config.workers).toBe(2);
		expect(workers.result.workers).toHaveLength(2);
	});
});

const few: Array<{cpu: 'graviton2' | 'graviton4'; ids: string[]; absent: string[]}> = [
	{cpu: 'graviton2', ids: ['baseline', 'int8-pt2e'], absent: ['bf16-fastmath', 'bf16-autocast', 'onnxruntime-bf16']},
	{cpu: 'graviton4', ids: ['baseline', 'bf16-fastmath', 'torch-compile'], absent: []},
];
const fewOn = ({cpu, ids, absent}: (typeof few)[number]) => () => inArm(cpu, ['node', 'test/arm/measure-recipes.mjs', ...ids, ...absent], 1_800_000);

// The --auto walk inside the emulated Graviton3 (its own describe below). Its busy-machine
// check is off, as in the host tests that run walks: the runs beside it are this suite's own.
const walkOut = '/root/gt-arm-walk';
const walkSteps = [
	`rm -rf ${walkOut}`,
	`GRAVITON_TUNE_BUSY_THRESHOLD=1 node dist/cli.js --auto --budget 10m --model test/arm/small_model.py --input-shape 3,32,32 --recipes bf16-fastmath,bf16-autocast,lru-cache --out ${walkOut} --app "${venvPython} /repo/test/arm/apply_winner.py ${walkOut}" --json > /tmp/walk.json`,
	'echo "walk-exit $?"',
	'tail -1 /tmp/walk.json',
	'echo "walk-seconds $SECONDS"',
	`ls ${walkOut}`,
	`echo ===report; cat ${walkOut}/report.json; echo; echo ===env; cat ${walkOut}/graviton-tune.env; echo ===applied`,
	`bash ${walkOut}/launch.sh`,
];
// The Graviton2 and Graviton4 recipes and the walk start together: most of each is one busy
// thread under emulation (a walk's probes run one at a time), so side by side they take
// little longer than the longest (in CI on 2 CPUs: 257 s and 235 s one after the other).
// A language model generating on the emulated Graviton3: fp32, bf16 autocast and int4 weights,
// each a probe through the CLI on a Llama-style folder whose greedy tokens are robust (a
// "confident" model, test/fixtures/make_llama.py), so the token check speaks for the path.
const llama = '/tmp/gt-arm-llama';
const generating = {fp32: [], bf16: ['--autocast', 'bf16'], int4: ['--weight-quantization', 'int4']} as const;
const generateSteps = [
	`rm -rf ${llama} && ${venvPython} test/fixtures/make_llama.py ${llama} --confident`,
	...Object.entries(generating).map(([name, flags]) => `node dist/cli.js probe --model ${llama} --prompt-len 16 --new-tokens 16 --batch-size 2 --seconds 1 --json ${flags.join(' ')} > /tmp/gen-${name}.json; echo "probe-${name} $? $(grep -c . /tmp/gen-${name}.json)"; grep '"type":"result"\\|"type":"error"\\|"type":"log"' /tmp/gen-${name}.json | sed 's/^/${name} /'`),
];
const lateRuns = together({
	graviton2: fewOn(few[0]!),
	graviton4: fewOn(few[1]!),
	walk: () => inArm('graviton3', ['bash', '-c', walkSteps.join('\n')], 1_500_000),
	generate: () => inArm('graviton3', ['bash', '-c', generateSteps.join('\n')], 1_500_000),
});

describe.each(few)('a few recipes on an emulated $cpu', ({cpu, ids, absent}) => {
	let lines: any[];
	beforeAll(async () => {
		const run = await lateRuns(cpu);
		lines = jsonLines(run.stdout);
		logTimings(cpu, lines);
		expect(run.exitCode, run.all.slice(-4000)).toBe(0);
	}, 1_800_000);

	it.each(ids)('%s: measured, not failed', id => {
		const probe = lines.find(l => l.type === 'probe' && l.id === id);
		expect(probe, `${id} was not run`).toBeDefined();
		expect(probe.outcome, JSON.stringify(probe.failure)).toBe('measured');
		expect(probe.result.check.cosine).toBeGreaterThan(0.99);
		// What ran, from the runtime's own account, on this CPU too.
		expect(probe.result.kernels?.groups.length, JSON.stringify(probe.result.kernels)).toBeGreaterThan(0);
	});

	it('does not offer what this CPU cannot do', () => {
		const machine = lines.find(l => l.type === 'machine');
		for (const id of absent) expect(machine.applicable).not.toContain(id);
		expect(lines.filter(l => l.type === 'probe' && absent.includes(l.id))).toEqual([]);
	});
});

describe('a --auto walk (10m budget) inside an emulated Graviton3', () => {
	let walk: any;
	let files: string[];
	let report: any;
	let applied: any;
	let envFile: string;
	beforeAll(async () => {
		const run = await lateRuns('walk');
		expect(run.exitCode, run.all.slice(-4000)).toBe(0);
		const text = run.stdout;
		console.log(`graviton3 --auto walk: ${/walk-seconds (\d+)/.exec(text)?.[1] ?? '?'} s`);
		expect(text, run.all.slice(-4000)).toContain('walk-exit 0');
		walk = JSON.parse(text.split('walk-exit 0\n')[1]!.split('\n')[0]!);
		files = text.split('\n').filter(line => /^[\w.-]+$/.test(line));
		report = JSON.parse(text.split('===report\n')[1]!.split('\n===env')[0]!);
		envFile = text.split('===env\n')[1]!.split('===applied')[0]!;
		applied = JSON.parse(text.split('===applied\n')[1]!.trim().split('\n').pop()!);
	}, 1_500_000);

	it('every probe of the walk carries its kernel account, and the winner\'s is in report.json', () => {
		const measured = report.probes.filter((p: any) => p.result);
		expect(measured.length).toBeGreaterThan(1);
		for (const p of measured) expect(p.result.kernels?.groups.length, `${p.title}: ${JSON.stringify(p.result.kernels)}`).toBeGreaterThan(0);
		expect(report.kernels?.text).toMatch(/convolutions?: /);
	});

	it('writes the env file, launch.sh, the runtime helper and the reports', () => {
		expect(walk).toBeTruthy();
		expect(files).toEqual(expect.arrayContaining(['graviton-tune.env', 'launch.sh', 'graviton_tune_runtime.py', 'report.json', 'report.md']));
		expect(report.machine.cpu.platform).toBe('AWS Graviton3');
		expect(report.best.result.samplesPerSecond.median).toBeGreaterThan(0);
		for (const [key, value] of Object.entries(report.best.envFile)) expect(envFile).toContain(`${key}=${value}`);
	});

	it('the deployed runtime helper applies the winner there', () => {
		expect(applied.helper).toBe(`${walkOut}/graviton_tune_runtime.py`);
		for (const [key, value] of Object.entries(report.best.envFile)) {
			if (/^(GT_|DNNL_|OMP_|LD_PRELOAD|THP_|LRU_)/.test(key)) expect(applied.environ[key], key).toBe(value);
		}
		const config = report.best.config;
		expect(applied.settings).toMatchObject({
			batch_size: config.batchSize,
			channels_last: config.channelsLast,
			autocast: config.autocast ?? 'none',
			compile: config.compile,
			backend: config.backend,
		});
		expect(applied.outputShape).toEqual([config.batchSize, 10]);
	});
});

describe('a language model generating on an emulated Graviton3: fp32, bf16 and int4 weights (KleidiAI)', () => {
	const results = new Map<string, any>();
	const logs = new Map<string, string>();
	beforeAll(async () => {
		const run = await lateRuns('generate');
		expect(run.exitCode, run.all.slice(-4000)).toBe(0);
		for (const name of Object.keys(generating)) {
			const lines = run.stdout.split('\n').filter(line => line.startsWith(`${name} {`)).map(line => JSON.parse(line.slice(name.length + 1)));
			const result = lines.find(l => l.type === 'result');
			expect(result, `${name}: ${JSON.stringify(lines.find(l => l.type === 'error')) ?? run.all.slice(-3000)}`).toBeDefined();
			results.set(name, result);
			logs.set(name, lines.filter(l => l.type === 'log').map(l => l.message).join('\n'));
		}
	}, 1_500_000);

	it.each(Object.keys(generating))('%s: measured in tokens, the greedy tokens those of fp32 eager', name => {
		const r = results.get(name);
		expect(r.generation.newTokens).toBe(16);
		expect(r.generation.sequences).toBe(2);
		expect(r.generation.ttftMs.p50).toBeGreaterThan(0);
		expect(r.check.tokens).toEqual({compared: 16, sequences: 2, identical: 2, firstDivergence: null});
		expect(r.check.cosine).toBeGreaterThan(0.99);
	});

	it('bf16 and int4 really changed the numerics, and int4 quantized the Linear layers', () => {
		expect(results.get('bf16').check.maxAbsError).toBeGreaterThan(0);
		expect(results.get('int4').check.maxAbsError).toBeGreaterThan(0);
		// torch 2.9's aarch64 build has the KleidiAI kernels: int4 runs them, not the weight-only unpacking.
		expect(logs.get('int4')).toMatch(/int4 weights \(groups of \d+\) via KleidiAI, int8 dynamic activations: \d+ Linear layers/);
	});
});
