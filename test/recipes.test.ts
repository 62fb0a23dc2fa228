import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {afterEach, beforeAll, describe, expect, it} from 'vitest';
import {recipesDir} from '../source/core/paths.js';
import {selectSteps} from '../source/core/walk/session.js';
import {advisories} from '../source/core/recipes/advisories.js';
import {applicability} from '../source/core/recipes/applicability.js';
import {libraryInstallCommand} from '../source/core/recipes/install-commands.js';
import {formatApplicability} from '../source/core/recipes/recipe-listing.js';
import {effectiveRecipe} from '../source/core/recipes/recipe-variants.js';
import {loadRecipes, RecipeError} from '../source/core/recipes/recipes.js';
import type {Applicability, CpuInfo, Detection, IsaFlags, PythonEnv, Recipe} from '../source/core/types.js';

// ---------------------------------------------------------------- factories

const noIsa: IsaFlags = {bf16: false, i8mm: false, sve: false, sve2: false, avx512: false, avx512bf16: false, vnni: false, amx: false};

function cpu(overrides: Partial<CpuInfo>): CpuInfo {
	return {
		arch: 'aarch64',
		vendor: 'Arm',
		core: null,
		platform: null,
		platformGuess: null,
		modelName: null,
		logicalCpus: 4,
		features: [],
		isa: noIsa,
		sveVectorBits: null,
		implementer: null,
		part: null,
		variant: null,
		revision: null,
		bogomips: null,
		...overrides,
	};
}

const debian12 = {id: 'debian', idLike: [], versionId: '12', prettyName: 'Debian GNU/Linux 12 (bookworm)'};
const amazonLinux = {id: 'amzn', idLike: ['fedora'], versionId: '2023', prettyName: 'Amazon Linux 2023'};

function detection(cpuInfo: CpuInfo, overrides: Partial<Detection> = {}): Detection {
	const cpus = cpuInfo.logicalCpus;
	return {
		root: '/',
		live: false,
		cpu: cpuInfo,
		usableCpus: cpus,
		usableCpuList: Array.from({length: cpus}, (_, i) => i),
		cpuQuota: null,
		numaNodes: null,
		memoryBytes: 16 * 2 ** 30,
		thp: 'madvise',
		allocators: {tcmalloc: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4', jemalloc: null, mimalloc: null},
		cloud: {provider: 'aws', instanceType: null},
		os: debian12,
		notes: [],
		...overrides,
	};
}

const graviton2 = () =>
	detection(cpu({core: 'Neoverse-N1', platform: 'AWS Graviton2', part: '0xd0c', features: ['fp', 'asimd', 'asimddp', 'crc32']}));
const graviton3 = () =>
	detection(
		cpu({
			core: 'Neoverse-V1',
			platform: 'AWS Graviton3',
			part: '0xd40',
			features: ['fp', 'asimd', 'asimddp', 'sve', 'bf16', 'i8mm'],
			isa: {...noIsa, bf16: true, i8mm: true, sve: true},
		}),
	);
const x86 = (modelName: string, isa: Partial<IsaFlags>, features: string[]) =>
	detection(cpu({arch: 'x86_64', vendor: null, modelName, features, isa: {...noIsa, ...isa}}), {
		allocators: {tcmalloc: '/usr/lib/x86_64-linux-gnu/libtcmalloc.so.4', jemalloc: null, mimalloc: null},
	});
const zen4 = () =>
	x86('AMD EPYC 9R14 96-Core Processor', {avx512: true, avx512bf16: true, vnni: true}, ['avx2', 'avx512f', 'avx512_bf16', 'avx512_vnni']);
const skylake = () => x86('Intel(R) Xeon(R) Platinum 8175M CPU @ 2.50GHz', {avx512: true}, ['avx2', 'avx512f']);

function python(overrides: Partial<PythonEnv> = {}, torch = '2.6.0+cpu'): PythonEnv {
	return {
		interpreter: '/opt/venv/bin/python',
		source: 'virtualenv',
		reason: 'VIRTUAL_ENV is set',
		pythonVersion: '3.12.3',
		torch: {version: torch, cpuCapability: 'DEFAULT', numThreads: 4, mkldnn: true},
		packages: {torchao: '0.12.0', onnxruntime: null, onnx: null, onnxscript: null, openvino: null, nncf: null},
		importErrors: {},
		problem: null,
		...overrides,
	};
}

// ---------------------------------------------------------------- helpers

let recipes: Recipe[];
beforeAll(async () => {
	recipes = await loadRecipes();
});

function find(list: Applicability[], id: string): Applicability {
	const found = list.find(a => a.recipe.id === id);
	if (!found) throw new Error(`no applicability for ${id}`);
	return found;
}

const judge = (d: Detection, py: PythonEnv | null = python(), inputKind?: 'image' | 'tokens' | 'other') =>
	applicability(recipes, d, py, inputKind ? {inputKind} : {});

// ---------------------------------------------------------------- loading

describe('shipped recipes', () => {
	it('all load and validate, in walk order', () => {
		const ids = recipes.map(r => r.id);
		for (const id of [
			'batch-size', 'channels-last', 'bf16-autocast', 'tcmalloc', 'jemalloc', 'thp', 'bf16-fastmath', 'lru-cache',
			'omp-placement', 'torch-compile', 'workers', 'int8-pt2e', 'onnxruntime', 'openvino', 'openvino-int8',
			'old-torch', 'thp-never', 'allocator-missing', 'cpu-quota',
		]) {
			expect(ids).toContain(id);
		}
		expect(recipes[0]!.stage).toBe('batch');
		expect(ids.indexOf('jemalloc')).toBeGreaterThan(ids.indexOf('tcmalloc'));
		expect(ids.indexOf('openvino-int8')).toBeGreaterThan(ids.indexOf('openvino'));
		for (const r of recipes) {
			expect(r.why.length, r.id).toBeGreaterThan(80);
			expect(r.source, r.id).toMatch(/https:\/\//);
			expect(r.file).toBe(path.join(recipesDir, `${r.id}.json`));
		}
	});

	it('an allocator step says when torch keeps its tensors in its own bundled allocator', () => {
		const plain = find(judge(graviton3()), 'tcmalloc');
		expect(plain.status).toBe('applicable');
		expect(plain.reason).toBe('tcmalloc at /usr/lib/aarch64-linux-gnu/libtcmalloc.so.4');
		const py = python();
		const bundled = find(judge(graviton3(), {...py, torch: {...py.torch!, version: '2.10.0', bundledAllocator: 'mimalloc'}}), 'tcmalloc');
		expect(bundled.reason).toBe("tcmalloc at /usr/lib/aarch64-linux-gnu/libtcmalloc.so.4; torch 2.10.0 allocates its tensors with its bundled mimalloc, so this step replaces the allocator of everything else (glibc's malloc), not the tensors'");
		// The mimalloc step, where torch bundles mimalloc: it takes the rest, and says so.
		const both = {...graviton3(), allocators: {...graviton3().allocators, mimalloc: '/usr/lib/aarch64-linux-gnu/libmimalloc.so.2'}};
		const mimalloc = find(judge(both, {...py, torch: {...py.torch!, version: '2.10.0', bundledAllocator: 'mimalloc'}}), 'mimalloc');
		expect(mimalloc.status).toBe('applicable');
		expect(mimalloc.reason).toMatch(/^mimalloc at \/usr\/lib\/aarch64-linux-gnu\/libmimalloc.so.2; torch 2.10.0 allocates its tensors with its bundled mimalloc, so this step replaces/);
		expect(mimalloc.changes.env?.['LD_PRELOAD']).toBe('/usr/lib/aarch64-linux-gnu/libmimalloc.so.2');
	});

	it('advisory recipes carry a condition and are not offered as steps', () => {
		for (const r of recipes.filter(r => r.stage === 'advisory')) expect(r.advisory, r.id).toBeDefined();
		expect(judge(graviton3()).some(a => a.recipe.stage === 'advisory')).toBe(false);
	});

	it('merges per-arch variants and drops them from the result', () => {
		const omp = recipes.find(r => r.id === 'omp-placement')!;
		const arm = effectiveRecipe(omp, 'aarch64');
		const intel = effectiveRecipe(omp, 'x86_64');
		expect(arm.changes.env).toEqual({OMP_PROC_BIND: 'false', OMP_PLACES: 'cores'});
		expect(intel.changes.env).toEqual({OMP_PROC_BIND: 'close', OMP_PLACES: 'cores'});
		expect(intel.why.startsWith(omp.why)).toBe(true);
		expect(intel.why.length).toBeGreaterThan(omp.why.length);
		expect(intel.variants).toBeUndefined();
		expect(effectiveRecipe(omp, 'riscv64').changes).toEqual(omp.changes);
	});
});

describe('malformed recipes', () => {
	let dir: string;
	afterEach(async () => {
		if (dir) await rm(dir, {recursive: true, force: true});
	});

	async function recipeDir(files: Record<string, string>): Promise<string> {
		dir = await mkdtemp(path.join(os.tmpdir(), 'gt-recipes-'));
		for (const [name, body] of Object.entries(files)) await writeFile(path.join(dir, name), body);
		return dir;
	}

	const good = {
		title: 'Something',
		stage: 'memory',
		why: 'Because it helps.',
		source: 'https://example.org',
		changes: {env: {FOO: '1'}},
		requires: {},
		risks: {},
		lossy: false,
	};
	const json = (id: string, overrides: Record<string, unknown> = {}, drop: string[] = []) => {
		const body: Record<string, unknown> = {id, ...good, ...overrides};
		for (const key of drop) delete body[key];
		return JSON.stringify(body);
	};

	async function problems(dirPath: string): Promise<string[]> {
		const error = await loadRecipes(dirPath).then(
			() => null,
			(e: unknown) => e,
		);
		expect(error).toBeInstanceOf(RecipeError);
		return (error as RecipeError).problems;
	}

	it('reports every problem by file name and field', async () => {
		const found = await problems(
			await recipeDir({
				'fine.json': json('fine'),
				'wrong-stage.json': json('wrong-stage', {stage: 'speed'}),
				'no-why.json': json('no-why', {}, ['why']),
				'extra-key.json': json('extra-key', {colour: 'blue'}),
				'bad.json': '{"id": "bad",',
				'bad-nested.json': json('bad-nested', {requires: {isa: ['avx9000']}, changes: {batchSizes: [0]}}),
			}),
		);
		const name = path.basename(dir);
		expect(found).toContain(`${name}/wrong-stage.json: field "stage" must be one of batch, memory, precision, runtime, compile, workers, quantize, backend, advisory`);
		expect(found).toContain(`${name}/no-why.json: field "why" is missing`);
		expect(found.find(p => p.startsWith(`${name}/extra-key.json: field "colour" is unknown`))).toBeDefined();
		expect(found.find(p => p.startsWith(`${name}/bad.json: not valid JSON`))).toBeDefined();
		expect(found.find(p => p.startsWith(`${name}/bad-nested.json: field "requires.isa[0]" must be one of bf16`))).toBeDefined();
		expect(found).toContain(`${name}/bad-nested.json: field "changes.batchSizes[0]" must be a whole number, at least 1`);
		expect(found.some(p => p.includes('fine.json'))).toBe(false);
	});

	it('checks the expected figures: a known CPU class, a [low, high] gain or null, a cost', async () => {
		const figure = {gain: [1, 1.2], costSeconds: 8, source: 'measured'};
		const found = await problems(
			await recipeDir({
				'ok.json': json('ok', {expected: {byCpu: {'x86-avx2': figure, default: {gain: null, costSeconds: 8, source: 'none'}}}}),
				'typo.json': json('typo', {expected: {byCpu: {'x86-avx-2': figure}}}),
				'short-gain.json': json('short-gain', {expected: {byCpu: {default: {...figure, gain: [1.2]}}}}),
				'no-cost.json': json('no-cost', {expected: {byCpu: {default: {gain: null, source: 'none'}}}}),
			}),
		);
		const all = found.join('\n');
		expect(all).not.toContain('ok.json');
		expect(all).toContain('typo.json: field "expected.byCpu.x86-avx-2": the name must be one of x86-amx, x86-avx512-bf16, x86-avx512, x86-avx2, graviton2, graviton3, graviton4, default');
		expect(found.filter(p => p.includes('short-gain.json'))).toEqual([expect.stringMatching(/short-gain\.json: field "expected\.byCpu\.default\.gain" must be the factor on samples\/s .*\[low, high\]/)]);
		expect(all).toContain('no-cost.json: field "expected.byCpu.default.costSeconds" is missing');
	});

	it('the error message lists the problems', async () => {
		const error = await loadRecipes(await recipeDir({'x.json': json('x', {lossy: 'yes'})})).then(
			() => new Error('loaded'),
			(e: unknown) => e as Error,
		);
		expect(error.message).toMatch(/a problem in the recipes:\n {2}.*x\.json: field "lossy" must be true or false/);
	});

	it('rejects a duplicate id: the id must match the file name', async () => {
		const found = await problems(await recipeDir({'tcmalloc.json': json('tcmalloc'), 'tcmalloc-copy.json': json('tcmalloc')}));
		expect(found).toEqual([`${path.basename(dir)}/tcmalloc-copy.json: field "id" must match the file name ("tcmalloc-copy"), so that no two recipes share an id`]);
	});

	it('checks placeholders, advisory fields and ordering references', async () => {
		const found = await problems(
			await recipeDir({
				'a.json': json('a', {changes: {env: {LD_PRELOAD: '${hoard}'}}}),
				'b.json': json('b', {changes: {env: {LD_PRELOAD: '${tcmalloc}'}}}),
				'c.json': json('c', {stage: 'advisory'}),
				'd.json': json('d', {after: ['nowhere']}),
			}),
		);
		expect(found.join('\n')).toContain('a.json: field "changes.env.LD_PRELOAD" uses an unknown placeholder ${hoard}');
		expect(found.join('\n')).toContain('b.json: field "changes.env.LD_PRELOAD" uses ${tcmalloc}, so requires.library must be "tcmalloc"');
		expect(found.join('\n')).toContain('c.json: field "advisory" is required when stage is advisory');
		expect(found.join('\n')).toContain('d.json: field "after" names "nowhere"');
	});

	it('reports an ordering cycle', async () => {
		const found = await problems(await recipeDir({'a.json': json('a', {after: ['b']}), 'b.json': json('b', {after: ['a']})}));
		expect(found.join('\n')).toMatch(/a\.json.*b\.json: field "after" forms a cycle/);
	});

	it('reports an empty or missing directory', async () => {
		expect((await problems(await recipeDir({'notes.txt': 'hi'})))[0]).toMatch(/no recipe files/);
		expect((await problems(path.join(dir, 'missing')))[0]).toMatch(/cannot read the recipes directory \(ENOENT\)/);
	});
});

// ---------------------------------------------------------------- applicability

describe('applicability', () => {
	it('Graviton2: bf16 steps are not applicable, naming Neoverse-N1', () => {
		const list = judge(graviton2());
		for (const id of ['bf16-autocast', 'bf16-fastmath']) {
			const a = find(list, id);
			expect(a.status).toBe('not-applicable');
			expect(a.reason).toBe('needs BF16 (Graviton3 or newer); this CPU is Neoverse-N1 (AWS Graviton2)');
		}
		// int8 still has the dot-product path on N1.
		expect(find(list, 'int8-pt2e').status).toBe('applicable');
		expect(find(list, 'int8-pt2e').reason).toContain('asimddp');
	});

	it('Graviton3: bf16 steps apply through the Arm variant', () => {
		const list = judge(graviton3());
		expect(find(list, 'bf16-autocast').status).toBe('applicable');
		const fastmath = find(list, 'bf16-fastmath');
		expect(fastmath.status).toBe('applicable');
		expect(fastmath.changes).toEqual({env: {DNNL_DEFAULT_FPMATH_MODE: 'BF16'}});
		expect(fastmath.reason).toContain('Neoverse-V1 (AWS Graviton3) has BF16');
	});

	it('Zen 4 with avx512_bf16: bf16 fast math applies through fp32Precision, not the oneDNN env var', () => {
		const list = judge(zen4());
		const fastmath = find(list, 'bf16-fastmath');
		expect(fastmath.status).toBe('applicable');
		expect(fastmath.changes).toEqual({probe: {fp32Precision: 'bf16'}});
		expect(find(list, 'bf16-autocast').status).toBe('applicable');
		expect(find(list, 'onnxruntime-bf16').status).toBe('not-applicable');
	});

	it('x86 without AVX-512 BF16 or AMX: bf16 steps are not applicable, naming the CPU', () => {
		const a = find(judge(skylake()), 'bf16-fastmath');
		expect(a.status).toBe('not-applicable');
		expect(a.reason).toBe('needs AVX-512 BF16 or AMX; this CPU is Intel Xeon Platinum 8175M CPU @ 2.50GHz');
		// AVX-512 without VNNI still has oneDNN int8 kernels.
		expect(find(judge(skylake()), 'int8-pt2e').status).toBe('applicable');
	});

	it('AVX2-only x86: PyTorch and OpenVINO int8 are ordinary steps (measured 2.2-2.4x there); ONNX Runtime int8 runs only when asked for', () => {
		const zen3 = () => x86('AMD EPYC 7R13 Processor', {}, ['avx2', 'fma']);
		const withOpenvino = python({packages: {torchao: '0.12.0', onnxruntime: '1.32.0', onnx: '1.23.2', onnxscript: null, openvino: '2026.4.1', nncf: '3.4.0'}});
		for (const id of ['int8-pt2e', 'openvino-int8']) {
			const a = find(judge(zen3(), withOpenvino), id);
			expect(a.status, id).toBe('applicable');
			expect(a.optIn, id).toBeUndefined();
		}
		expect(selectSteps(judge(zen3(), withOpenvino)).map(a => a.recipe.id)).toEqual(expect.arrayContaining(['int8-pt2e', 'openvino-int8']));
		// ONNX Runtime int8 (an .onnx file's step) keeps a speed-only ISA requirement: offered, unticked.
		const onnxModel = {model: {format: 'onnx' as const, fixedBatch: null}};
		const onnx = applicability(recipes, zen3(), withOpenvino, onnxModel);
		const ortInt8 = find(onnx, 'onnxruntime-int8');
		expect(ortInt8.status).toBe('applicable');
		expect(ortInt8.optIn).toBe(true);
		expect(ortInt8.reason).toContain('only when asked for (--recipes onnxruntime-int8): needs VNNI');
		expect(selectSteps(onnx).map(a => a.recipe.id)).not.toContain('onnxruntime-int8');
		expect(selectSteps(onnx, ['onnxruntime-int8']).map(a => a.recipe.id)).toEqual(['batch-size', 'onnxruntime-int8']);
		// With the ISA it is an ordinary step.
		expect(find(applicability(recipes, zen4(), withOpenvino, onnxModel), 'onnxruntime-int8').optIn).toBeUndefined();
		// bf16 needs the ISA for correctness of the claim: never opt-in.
		expect(find(judge(zen3()), 'bf16-autocast').status).toBe('not-applicable');
	});

	it('tcmalloc missing on Debian: needs, with the apt command', () => {
		const d = {...graviton3(), allocators: {tcmalloc: null, jemalloc: null, mimalloc: null}};
		const a = find(judge(d), 'tcmalloc');
		expect(a.status).toBe('needs');
		expect(a.install).toBe('sudo apt-get install -y libgoogle-perftools4');
		expect(a.reason).toContain('libtcmalloc.so.4');
		expect(find(judge(d), 'jemalloc').install).toBe('sudo apt-get install -y libjemalloc2');
		expect(find(judge(d), 'mimalloc').install).toBe('sudo apt-get install -y libmimalloc2.0');
		expect(find(judge(d), 'mimalloc').reason).toContain('libmimalloc.so.2');
	});

	it('tcmalloc install command follows the distribution', () => {
		const d = {...graviton3(), allocators: {tcmalloc: null, jemalloc: null, mimalloc: null}, os: amazonLinux};
		expect(find(judge(d), 'tcmalloc').install).toBe('sudo dnf install -y gperftools-libs');
		expect(find(judge(d), 'jemalloc').install).toBe('sudo dnf install -y jemalloc');
		expect(find(judge(d), 'mimalloc').install).toBe('sudo dnf install -y mimalloc');
		const os = (id: string, versionId: string | null, idLike: string[] = []) => ({id, idLike, versionId, prettyName: null});
		expect(libraryInstallCommand('tcmalloc', os('ubuntu', '24.04', ['debian']))).toBe('sudo apt-get install -y libgoogle-perftools4t64');
		expect(libraryInstallCommand('tcmalloc', os('ubuntu', '22.04', ['debian']))).toBe('sudo apt-get install -y libgoogle-perftools4');
		expect(libraryInstallCommand('tcmalloc', os('debian', '13'))).toBe('sudo apt-get install -y libgoogle-perftools4t64');
		expect(libraryInstallCommand('tcmalloc', os('rocky', '9.4', ['rhel', 'centos', 'fedora']))).toBe('sudo dnf install -y gperftools-libs');
		expect(libraryInstallCommand('tcmalloc', os('amzn', '2', ['centos', 'rhel', 'fedora']))).toBe('sudo yum install -y gperftools-libs');
		expect(libraryInstallCommand('tcmalloc', os('alpine', '3.20'))).toBeNull();
	});

	it('tcmalloc present: applicable with LD_PRELOAD resolved to the library path', () => {
		const a = find(judge(graviton3()), 'tcmalloc');
		expect(a.status).toBe('applicable');
		expect(a.changes.env).toEqual({LD_PRELOAD: '/usr/lib/aarch64-linux-gnu/libtcmalloc.so.4', TBB_ENABLE_SANITIZERS: '1'});
		expect(a.install).toBeNull();
	});

	it('onnxruntime missing from the Python environment: needs, with the pip command for that interpreter', () => {
		const a = find(judge(graviton3()), 'onnxruntime');
		expect(a.status).toBe('needs');
		expect(a.install).toBe('/opt/venv/bin/python -m pip install onnxruntime onnx onnxscript');
		const installed = python({packages: {onnxruntime: '1.20.1', onnx: '1.17.0', onnxscript: '0.1.0'}});
		expect(find(judge(graviton3(), installed), 'onnxruntime').status).toBe('applicable');
	});

	it('a package that fails to import is named with its error', () => {
		const py = python({packages: {onnxruntime: null, onnx: '1.17.0', onnxscript: '0.1.0'}, importErrors: {onnxruntime: 'libgomp.so.1: cannot open'}});
		const a = find(judge(graviton3(), py), 'onnxruntime');
		expect(a.reason).toContain('onnxruntime is installed but fails to import (libgomp.so.1: cannot open)');
		expect(a.install).toBe('/opt/venv/bin/python -m pip install --force-reinstall onnxruntime');
	});

	it('no Python environment: package and torch requirements could not be checked', () => {
		const list = judge(graviton3(), null);
		for (const id of ['onnxruntime', 'torch-compile']) {
			expect(find(list, id).status).toBe('needs');
			expect(find(list, id).reason).toContain('could not check: no Python environment');
		}
		expect(find(list, 'int8-pt2e').reason).toBe('needs torch 2.3 or newer and Python packages torchao; could not check: no Python environment');
		expect(find(list, 'int8-pt2e').install).toBeNull();
		expect(find(list, 'tcmalloc').status).toBe('applicable');
	});

	it('torch too old for compile: needs, with an upgrade command; Arm asks for 2.3.1', () => {
		const a = find(judge(zen4(), python({}, '2.2.2')), 'torch-compile');
		expect(a.status).toBe('needs');
		expect(a.install).toBe("/opt/venv/bin/python -m pip install --upgrade 'torch>=2.3'");
		expect(find(judge(zen4(), python({}, '2.3.0')), 'torch-compile').status).toBe('applicable');
		expect(find(judge(graviton3(), python({}, '2.3.0')), 'torch-compile').reason).toContain('needs torch 2.3.1 or newer');
		expect(find(judge(graviton3(), python({}, '2.10.0')), 'torch-compile').status).toBe('applicable');
	});

	it('channels_last is not applicable for token models', () => {
		const a = find(judge(graviton3(), python(), 'tokens'), 'channels-last');
		expect(a.status).toBe('not-applicable');
		expect(a.reason).toBe('only for image models; this model takes token ids');
		expect(find(judge(graviton3(), python(), 'image'), 'channels-last').status).toBe('applicable');
		// A model of plain feature vectors is neither: said as such, not called tokens.
		expect(find(judge(graviton3(), python(), 'other'), 'channels-last').reason).toBe('only for image models; this model takes inputs that are neither images nor token ids');
	});

	it('workers are not applicable with one usable CPU', () => {
		const one = {...graviton3(), usableCpus: 1, usableCpuList: [0]};
		const a = find(judge(one), 'workers');
		expect(a.status).toBe('not-applicable');
		expect(a.reason).toBe('needs at least 2 usable CPUs; only 1 is usable here');
		expect(find(judge(graviton3()), 'workers').changes).toEqual({workers: 'sweep'});
	});

	it('THP never: the THP step needs a command', () => {
		const a = find(judge({...graviton3(), thp: 'never'}), 'thp');
		expect(a.status).toBe('needs');
		expect(a.install).toBe('echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled');
	});

	it('hardware limits outrank missing installs', () => {
		const a = find(judge(graviton2()), 'onnxruntime-bf16');
		expect(a.status).toBe('not-applicable');
		expect(a.install).toBeNull();
	});

	it('formats grouped lines for detect within 80 columns, commands whole', () => {
		const text = formatApplicability(judge({...graviton2(), allocators: {tcmalloc: null, jemalloc: null, mimalloc: null}}));
		expect(text).toMatch(/^ {2}Applicable \(\d+\)/);
		expect(text).toContain('  Needs something first (');
		expect(text).toContain('  Not applicable here (');
		expect(text).toContain('      sudo apt-get install -y libgoogle-perftools4');
		for (const line of text.split('\n')) {
			if (!line.includes(' -m pip ')) expect(line.length, line).toBeLessThanOrEqual(80);
		}
	});
});

// ---------------------------------------------------------------- advisories

describe('advisories', () => {
	const ids = (advice: ReturnType<typeof advisories>) => advice.map(a => a.id);

	it('nothing to say about a well set-up machine', () => {
		expect(advisories(recipes, graviton3(), python())).toEqual([]);
	});

	it('THP never', () => {
		const [advice] = advisories(recipes, {...graviton3(), thp: 'never'}, python());
		expect(advice?.id).toBe('thp-never');
		expect(advice?.command).toBe('echo madvise | sudo tee /sys/kernel/mm/transparent_hugepage/enabled');
	});

	it('CPU quota below the visible CPUs', () => {
		const advice = advisories(recipes, {...graviton3(), cpuQuota: 1.5, usableCpus: 1}, python());
		expect(ids(advice)).toEqual(['cpu-quota']);
		expect(advice[0]!.message).toContain('the CPU quota is 1.5 CPUs but 4 are visible');
		expect(advisories(recipes, {...graviton3(), cpuQuota: 4}, python())).toEqual([]);
	});

	it('old torch, with the upgrade command', () => {
		const advice = advisories(recipes, graviton3(), python({}, '2.1.2'));
		expect(ids(advice)).toEqual(['old-torch']);
		expect(advice[0]!.message).toContain('torch 2.1.2 is older than 2.3');
		expect(advice[0]!.command).toBe("/opt/venv/bin/python -m pip install --upgrade 'torch>=2.3'");
		expect(advisories(recipes, graviton3(), null)).toEqual([]);
	});

	it('no allocator installed, with the command for this distribution', () => {
		const advice = advisories(recipes, {...graviton3(), allocators: {tcmalloc: null, jemalloc: null, mimalloc: null}, os: amazonLinux}, python());
		expect(ids(advice)).toEqual(['allocator-missing']);
		expect(advice[0]!.command).toBe('sudo dnf install -y gperftools-libs');
		const jemallocOnly = {...graviton3(), allocators: {tcmalloc: null, jemalloc: '/usr/lib64/libjemalloc.so.2', mimalloc: null}};
		expect(advisories(recipes, jemallocOnly, python())).toEqual([]);
		expect(advice[0]!.message).toBe('none of tcmalloc, jemalloc or mimalloc is installed, so no allocator step can run');
	});
});

describe('recipe files stay readable', () => {
	it('are tab-indented JSON', async () => {
		for (const r of recipes) {
			const text = await readFile(r.file!, 'utf8');
			expect(text.split('\n')[1], r.id).toMatch(/^\t"/);
		}
	});
});
