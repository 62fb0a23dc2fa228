// The interactive face end to end with fake core functions: what the screen shows,
// which keys move it on, what gets called, and the exit code.
import {mkdtempSync, rmSync} from 'node:fs';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {stripVTControlCharacters} from 'node:util';
import {afterEach, describe, expect, it} from 'vitest';
import type {Delivered, DeliveryInput, DeliveryPlan} from '../source/core/report/deliver.js';
import type {Prepared, SessionOptions} from '../source/core/walk/session.js';
import {Settings} from '../source/core/settings.js';
import type {Applicability, Recipe, SessionEvent, WalkResult} from '../source/core/types.js';
import type {TuneFlags} from '../source/options.js';
import {App} from '../source/ui/app.js';
import type {UiDeps} from '../source/ui/deps.js';
import {candidate, cleanup, deferred, keys, prepared, probeRecord, python, render, tuneFlags, walkResult} from './helpers/render.js';

const dirs: string[] = [];
afterEach(() => {
	cleanup();
	for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true});
});

type Script = (emit: (e: SessionEvent) => void, opts: SessionOptions) => Promise<WalkResult | null>;

/** The walk most tests see: a baseline with live progress (held until `gate` opens), two steps, verification. */
function scriptedWalk(gate: Promise<void>): Script {
	return async emit => {
		const base = candidate(1);
		const b8 = candidate(8, ['batch-size']);
		const cl = candidate(8, ['batch-size', 'channels-last']);
		emit({type: 'session-start', model: {name: 'resnet50'}, budgetSeconds: 600, usableCpus: 8});
		emit({type: 'step-start', stepId: 'baseline', title: 'Baseline: fp32, eager, batch 1', candidate: base, budgetSeconds: 10, index: 1});
		emit({type: 'probe', stepId: 'baseline', event: {type: 'phase', phase: 'measure'}});
		emit({type: 'probe', stepId: 'baseline', event: {type: 'progress', samplesPerSecond: 39.25, iterations: 42, elapsedSeconds: 2, relativeCi: 0.031}});
		await gate;
		emit({type: 'step-end', stepId: 'baseline', record: probeRecord('baseline', 'Baseline: fp32, eager, batch 1', base, 40), decision: null});
		emit({type: 'decision', decision: {stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: 'reference', samplesPerSecond: 40, ratio: 1}});
		emit({type: 'step-start', stepId: '01-batch-size', title: 'Batch size 8', candidate: b8, budgetSeconds: 10, index: 2});
		emit({type: 'step-end', stepId: '01-batch-size', record: probeRecord('01-batch-size', 'Batch size 8', b8, 80), decision: null});
		emit({type: 'decision', decision: {stepId: '01-batch-size', recipeId: 'batch-size', title: 'Batch size 8', outcome: 'kept', reason: '2.00× faster, beyond the noise', samplesPerSecond: 80, ratio: 2}});
		emit({type: 'step-start', stepId: '02-channels-last', title: 'channels_last memory format', candidate: cl, budgetSeconds: 10, index: 3});
		emit({type: 'step-end', stepId: '02-channels-last', record: probeRecord('02-channels-last', 'channels_last memory format', cl, 98), decision: null});
		emit({type: 'decision', decision: {stepId: '02-channels-last', recipeId: 'channels-last', title: 'channels_last memory format', outcome: 'kept', reason: '1.22× faster', samplesPerSecond: 98, ratio: 1.22}});
		emit({type: 'step-start', stepId: '03-bf16', title: 'bf16 fast math', candidate: cl, budgetSeconds: 10, index: 4});
		emit({type: 'step-end', stepId: '03-bf16', record: probeRecord('03-bf16', 'bf16 fast math', cl, null), decision: null});
		emit({type: 'decision', decision: {stepId: '03-bf16', recipeId: 'bf16-fastmath', title: 'bf16 fast math', outcome: 'failed', reason: 'out of memory (use a smaller batch)', samplesPerSecond: null, ratio: null}});
		const result = walkResult();
		emit({type: 'session-end', result, error: null});
		return result;
	};
}

function setup(opts: {prepared?: Prepared; script?: Script; tune?: Partial<TuneFlags>; plan?: Partial<DeliveryPlan>; commit?: () => Promise<Delivered>; preparedSequence?: Prepared[]; installSystem?: UiDeps['installSystem']} = {}) {
	const dir = mkdtempSync(path.join(tmpdir(), 'gt-ui-'));
	dirs.push(dir);
	const settings = new Settings(dir);
	const gate = deferred();
	const calls = {prepare: 0, preparedFor: [] as unknown[], runSession: [] as SessionOptions[], plan: [] as DeliveryInput[], commit: [] as DeliveryPlan[]};
	const out = '/srv/app/graviton-tune-out';
	// The screens never read the plan's input (commitDelivery does, and is faked here).
	const plan = {
		dir: out,
		files: ['graviton-tune.env', 'launch.sh', 'report.json', 'report.md'].map(name => ({name, content: ''})),
		patch: null,
		...opts.plan,
	} as DeliveryPlan;
	const delivered: Delivered = {
		written: plan.files.map(f => path.join(out, f.name)),
		backups: [],
		patched: null,
		files: {env: `${out}/graviton-tune.env`, launch: `${out}/launch.sh`, report: `${out}/report.json`, reportMarkdown: `${out}/report.md`, reportHtml: `${out}/report.html`},
	};
	const script = opts.script ?? scriptedWalk(gate.promise);
	const deps: UiDeps = {
		prepare: async o => {
			calls.prepare += 1;
			calls.preparedFor.push(o.model);
			return opts.preparedSequence?.[calls.prepare - 1] ?? opts.prepared ?? prepared();
		},
		runSession: async (_p, sessionOpts, emit) => {
			calls.runSession.push(sessionOpts);
			return script(emit, sessionOpts);
		},
		planDelivery: async input => {
			calls.plan.push(input);
			return plan;
		},
		commitDelivery: async p => {
			calls.commit.push(p);
			return opts.commit ? opts.commit() : delivered;
		},
		settings,
		inputKind: m => (m.name === 'bert_base' ? 'tokens' : 'image'),
		...(opts.installSystem ? {installSystem: opts.installSystem} : {}),
	};
	const controller = new AbortController();
	const exited = deferred<number>();
	let code: number | null = null;
	const app = render(
		<App
			tune={tuneFlags(opts.tune)}
			controller={controller}
			deps={deps}
			onExit={c => {
				code = c;
				exited.resolve(c);
			}}
		/>,
	);
	/** Model, recipes and budget questions, each answered with its default. */
	const acceptQuestions = async () => {
		await app.waitForText('Which model should be measured?');
		await app.press(keys.enter);
		await app.waitForText('Which recipes');
		await app.press(keys.enter);
		await app.waitForText('How long');
		await app.press(keys.enter);
	};
	return {...app, calls, controller, settings, gate, acceptQuestions, exited: exited.promise, code: () => code};
}

describe('setup --system, offered on the machine screen', () => {
	const withAll = () => {
		const p = prepared();
		return {...p, detection: {...p.detection, allocators: {tcmalloc: '/usr/lib/libtcmalloc.so.4', jemalloc: '/usr/lib/libjemalloc.so.2', mimalloc: '/usr/lib/libmimalloc.so.2'}}};
	};

	it('runs only when s is pressed, shows what it runs, then reads the machine again', async () => {
		const installs: string[] = [];
		const t = setup({
			preparedSequence: [prepared(), withAll()],
			installSystem: async ({onLine}) => {
				installs.push('run');
				onLine('setup-system: running: apt-get install -y --no-install-recommends libgoogle-perftools4t64 libjemalloc2 libmimalloc2.0');
				onLine('setup-system: installed tcmalloc, jemalloc and mimalloc');
				return {ok: true, lines: [], exitCode: 0, cancelled: false};
			},
		});
		await t.waitForText('Which model should be measured?');
		expect(t.frame()).toMatch(/s: install tcmalloc, jemalloc and mimalloc system-wide now \(graviton-tune\s+setup\s+--system/);
		expect(installs).toEqual([]);
		await t.press('s');
		await t.waitForText('setup-system: installed tcmalloc, jemalloc and mimalloc');
		expect(installs).toEqual(['run']);
		expect(t.calls.prepare).toBe(2);
		// Every library is there now: no more offer.
		expect(t.frame()).toContain('Which model should be measured?');
		expect(t.frame()).not.toMatch(/s: install tcmalloc/);
	});

	it('is never run without the key: a whole walk goes by without it', async () => {
		let installs = 0;
		const t = setup({
			tune: {yes: true},
			installSystem: async () => {
				installs += 1;
				return {ok: true, lines: [], exitCode: 0, cancelled: false};
			},
		});
		t.gate.resolve();
		expect(await t.exited).toBe(0);
		expect(installs).toBe(0);
		expect(t.calls.commit).toHaveLength(1);
	});
});

describe('interactive flow', () => {
	it('detect → model → recipes → budget → live probes → summary → write', async () => {
		const t = setup();
		await t.waitForText(/Machine {2}AWS Graviton3 \(Neoverse-V1\), 8 vCPU, SVE 256-bit, BF16, I8MM\s+—\sc7g\.2xlarge/);
		expect(t.frame()).toContain('8 usable CPUs · 16 GiB · THP madvise · tcmalloc installed');
		expect(t.frame()).toContain('torch 2.5.1 (SVE256)');

		await t.waitForText('Which model should be measured?');
		expect(t.frame()).not.toContain('BERT base'); // no transformers in this Python
		expect(t.frame()).toContain('bert_base needs transformers in this Python');
		await t.press(keys.enter); // resnet50, preselected

		await t.waitForText('Which recipes should the walk try?');
		expect(t.frame()).toContain('(3 of 3 on)');
		expect(t.frame()).toContain('pip install onnxruntime');
		expect(t.frame()).toContain('libjemalloc is not installed');
		await t.press(keys.down, keys.space); // tcmalloc off
		await t.waitForText('(2 of 3 on)');
		await t.press(keys.enter);

		await t.waitForText('How long may the walk take?');
		await t.press(keys.enter); // 10m, from --budget

		await t.waitForText('39.3 samples/s · 42 iterations · ±3.1%');
		expect(t.frame()).toContain('[1] Baseline: fp32, eager, batch 1');
		expect(t.frame()).toMatch(/elapsed .* of 10m/);
		expect(t.calls.runSession).toHaveLength(1);
		expect(t.calls.runSession[0]).toMatchObject({model: {name: 'resnet50'}, budgetSeconds: 600, recipes: ['channels-last', 'bf16-fastmath'], resume: false});
		expect(t.calls.runSession[0]!.signal).toBe(t.controller.signal);

		t.gate.resolve();
		await t.waitForText('Write these files? [Y/n]');
		const frame = t.frame();
		expect(frame).toMatch(/baseline\s+Baseline/);
		expect(frame).toMatch(/kept\s+Batch size 8\s+80\.0 samples\/s ±1\.0%\s+2\.00×/);
		expect(frame).toContain('out of memory (use a smaller batch)');
		expect(frame).toContain('Result — verified back to back');
		expect(frame).toMatch(/speedup\s+2\.50×/);
		expect(frame).toMatch(/accuracy\s+exact fp32 numerics \(no lossy step\)/);
		expect(frame).toContain('Batch size 8, channels_last memory format');
		// c7g.2xlarge from DMI, priced from the shipped table ($0.29/h); the verified winner's rate.
		expect(frame).toMatch(/cost\s+\$[\d.]+ per million inferences \(baseline \$[\d.]+\) at\s+\$0\.290\/h for\s+c7g\.2xlarge/);
		expect(frame).toContain('graviton-tune.env  launch.sh  report.json  report.md');
		expect(t.calls.plan[0]!.tune).toMatchObject({model: {name: 'resnet50'}, recipes: ['channels-last', 'bf16-fastmath']});
		expect(t.calls.commit).toHaveLength(0);

		await t.press('y');
		expect(await t.exited).toBe(0);
		expect(t.calls.commit).toHaveLength(1);
		await t.waitForText('source /srv/app/graviton-tune-out/graviton-tune.env');
		expect(t.frame()).toContain('/srv/app/graviton-tune-out/launch.sh');
		expect(t.frame()).toContain('report: /srv/app/graviton-tune-out/report.html');
		expect(t.settings.preferences()).toMatchObject({model: 'resnet50', budget: '600s', recipes: ['channels-last', 'bf16-fastmath']});
		// every frame of the session fits an 80-column terminal
		const lines = t.frames.flatMap(f => stripVTControlCharacters(f).split('\n'));
		expect(lines.filter(l => l.length > 80)).toEqual([]);
	});

	it('keeps a long recipe list inside a 24-row screen, scrolling with the cursor', async () => {
		const many: Applicability[] = Array.from({length: 20}, (_, i) => {
			const r: Recipe = {id: `r${i}`, title: `Recipe ${i}`, stage: i === 0 ? 'batch' : 'runtime', why: `Why recipe ${i} helps.`, source: '', changes: {}, requires: {}, risks: {}, lossy: false};
			const status = i < 12 ? 'applicable' : i < 15 ? 'needs' : 'not-applicable';
			return {recipe: r, status, reason: `reason ${i}`, install: status === 'needs' ? `pip install thing${i}` : null, changes: {}};
		});
		const t = setup({prepared: prepared({applicability: many})});
		await t.waitForText('Which model');
		await t.press(keys.enter);
		await t.waitForText('Which recipes should the walk try? (11 of 11 on)');
		const live = () => t.frame().slice(t.frame().indexOf('Which recipes')).split('\n');
		expect(live().length).toBeLessThanOrEqual(24);
		expect(t.frame()).toContain('more');
		await t.press(...Array.from({length: 18}, () => keys.down));
		await t.waitForText('❯     Recipe 19');
		expect(t.frame()).toContain('reason 19');
		expect(live().length).toBeLessThanOrEqual(24);
		await t.press(keys.space); // not applicable: nothing to toggle
		expect(t.frame()).toContain('(11 of 11 on)');
		await t.press('a');
		await t.waitForText('(0 of 11 on)');
	});

	it('shows a patched launch script as a diff before writing', async () => {
		const t = setup({plan: {patch: {path: '/srv/app/start.sh', diff: '--- start.sh\n+++ start.sh\n+# >>> graviton-tune\n+source graviton-tune.env\n+# <<< graviton-tune\n', changed: true, notes: ['kept your exec line']}}});
		await t.acceptQuestions();
		t.gate.resolve();
		await t.waitForText('Write these files?');
		expect(t.frame()).toContain('Patch /srv/app/start.sh (a backup is kept):');
		expect(t.frame()).toContain('+source graviton-tune.env');
		expect(t.frame()).toContain('note: kept your exec line');
	});

	it("'n' at the summary writes nothing and exits 0", async () => {
		const t = setup();
		await t.acceptQuestions();
		t.gate.resolve();
		await t.waitForText('Write these files?');
		await t.press('n');
		expect(await t.exited).toBe(0);
		await t.waitForText('Nothing written');
		expect(t.calls.commit).toHaveLength(0);
	});

	it('Ctrl+C while probes run aborts the one controller, waits for the session, exits 130', async () => {
		const t = setup({
			script: async (emit, opts) => {
				emit({type: 'session-start', model: {name: 'resnet50'}, budgetSeconds: 600, usableCpus: 8});
				emit({type: 'step-start', stepId: 'baseline', title: 'Baseline: fp32, eager, batch 1', candidate: candidate(), budgetSeconds: 10, index: 1});
				emit({type: 'probe', stepId: 'baseline', event: {type: 'progress', samplesPerSecond: 12, iterations: 3, elapsedSeconds: 1, relativeCi: null}});
				await new Promise(resolve => opts.signal!.addEventListener('abort', resolve, {once: true}));
				await t.gate.promise; // the session takes a moment to stop its probes
				emit({type: 'session-end', result: null, error: 'cancelled'});
				return null;
			},
		});
		await t.acceptQuestions();
		await t.waitForText('12.0 samples/s');
		await t.press(keys.ctrlC);
		expect(t.controller.signal.aborted).toBe(true);
		await t.waitForText('Stopping probes…');
		expect(t.code()).toBeNull();
		t.gate.resolve();
		expect(await t.exited).toBe(130);
		await t.waitForText('Interrupted: probes stopped, no files written.');
		expect(t.calls.plan).toHaveLength(0);
		expect(t.calls.commit).toHaveLength(0);
	});

	it('a language model: tokens/s live, the first token in the log, the token figures in the summary', async () => {
		const llama = {path: './tiny-llama', task: 'generate' as const, promptLen: 32, newTokens: 16};
		const generating = (median: number, batchSize = 1) => ({
			...probeRecord('x', 'x', candidate(batchSize), median).result!,
			latencyMs: {p50: 9, p90: 12, p99: 14},
			generation: {promptTokens: 32, newTokens: 16, sequences: batchSize, ttftMs: {p50: 41.6, p99: 60}, interTokenMs: {p50: 9, p99: 14}, decodeTokensPerSecond: {perSequence: median / batchSize, total: median}, endToEndTokensPerSecond: median * 0.8},
		});
		const t = setup({
			script: async emit => {
				const base = {...candidate(1), config: {...candidate(1).config, model: llama}};
				emit({type: 'session-start', model: llama, budgetSeconds: 600, usableCpus: 8});
				emit({type: 'step-start', stepId: 'baseline', title: 'Baseline: fp32, eager, batch 1', candidate: base, budgetSeconds: 10, index: 1});
				emit({type: 'probe', stepId: 'baseline', event: {type: 'progress', samplesPerSecond: 180.4, iterations: 6, elapsedSeconds: 2, relativeCi: null}});
				await t.gate.promise;
				emit({type: 'step-end', stepId: 'baseline', record: {...probeRecord('baseline', 'Baseline: fp32, eager, batch 1', base, 180), result: generating(180)}, decision: null});
				emit({type: 'decision', decision: {stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: 'reference', samplesPerSecond: 180, ratio: 1}});
				const result = walkResult({
					baseline: {candidate: base, result: generating(180)},
					best: {candidate: base, result: generating(720, 8), speedup: 4},
					verification: {baseline: generating(180), best: generating(720, 8), speedup: 4},
				});
				emit({type: 'session-end', result, error: null});
				return result;
			},
		});
		await t.acceptQuestions();
		await t.waitForText('180 tokens/s · 6 iterations');
		t.gate.resolve();
		await t.waitForText('Write these files? [Y/n]');
		const frame = t.frame();
		expect(frame).toMatch(/180 tokens\/s ±1\.0% ·\s+first token 42 ms/);
		expect(frame).toMatch(/cost\s+\$0\.112 per million tokens/);
		expect(frame).toMatch(/best\s+720 tokens\/s/);
		expect(frame).toMatch(/latency\s+p99 14\.0 ms between tokens/);
		expect(frame).toMatch(/tokens\s+first token 41\.6 ms/);
		expect(frame).not.toContain('samples/s');
	});

	it('Ctrl+C on a question exits 130 at once', async () => {
		const t = setup();
		await t.waitForText('Which model');
		await t.press(keys.ctrlC);
		expect(await t.exited).toBe(130);
		expect(t.controller.signal.aborted).toBe(true);
		expect(t.calls.runSession).toHaveLength(0);
	});

	it('no torch: shows the problem and the fix command, exits 3 without asking anything', async () => {
		const t = setup({prepared: prepared({python: python({torch: null, problem: {code: 'no-torch', message: 'torch is not installed in /usr/bin/python3', hint: 'npx graviton-tune setup'}})})});
		expect(await t.exited).toBe(3);
		await t.waitForText('fix: npx graviton-tune setup');
		expect(t.frame()).toContain('torch is not installed in /usr/bin/python3');
		expect(t.frame()).toContain('AWS Graviton3'); // the machine is still described
		expect(t.frame()).not.toContain('Which model');
		expect(t.calls.runSession).toHaveLength(0);
	});

	it('--yes asks nothing and writes at once', async () => {
		const t = setup({tune: {yes: true, budgetSeconds: 300}});
		t.gate.resolve();
		expect(await t.exited).toBe(0);
		expect(t.calls.runSession[0]).toMatchObject({budgetSeconds: 300, recipes: ['channels-last', 'tcmalloc', 'bf16-fastmath']});
		expect(t.calls.commit).toHaveLength(1);
		await t.waitForText('Wrote ');
	});

	it('a failed baseline exits 4 with its reason', async () => {
		const t = setup({
			tune: {yes: true},
			script: async emit => {
				emit({type: 'decision', decision: {stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'failed', reason: 'No module named torchvision (pip install torchvision)', samplesPerSecond: null, ratio: null}});
				emit({type: 'session-end', result: null, error: 'the baseline probe failed: nothing to compare with'});
				return null;
			},
		});
		expect(await t.exited).toBe(4);
		await t.waitForText('pip install torchvision');
	});

	it('a write failure exits 5', async () => {
		const t = setup({tune: {yes: true}, commit: () => Promise.reject(new Error('EACCES: permission denied, open /srv/app/graviton-tune-out/launch.sh'))});
		t.gate.resolve();
		expect(await t.exited).toBe(5);
		await t.waitForText('Could not write the output files: EACCES');
	});

	it('"your own model…": a path typed in, checked, tuned, and offered first next time', async () => {
		const t = setup();
		await t.waitForText('your own model…');
		await t.press(keys.down, keys.down, keys.down, keys.down); // the last entry, after the four built-ins
		await t.waitForText(/❯\s*your own model…/);
		await t.press(keys.enter);
		await t.waitForText('Path of your model:');
		await t.press(...'./my-bert');
		await t.waitForText('› ./my-bert');
		await t.press(keys.enter);
		await t.waitForText('Which recipes');
		expect(t.calls.preparedFor.at(-1)).toEqual({path: './my-bert'});
		await t.press(keys.enter);
		await t.waitForText('How long');
		await t.press(keys.enter);
		await t.waitForText('Baseline');
		expect(t.calls.runSession[0]).toMatchObject({model: {path: './my-bert'}});
		expect(t.settings.preferences()).toMatchObject({model: 'own-0', ownModels: [{path: './my-bert'}]});
		t.gate.resolve();
		await t.waitForText('Write these files?');
	});

	it('choosing a model with another input re-checks the recipes for it', async () => {
		const t = setup({prepared: prepared({python: python({packages: {transformers: '4.46.0'}})})});
		await t.waitForText('bert_base');
		await t.press(keys.down, keys.down, keys.down, keys.down);
		expect(t.frame()).toContain('❯ bert_base');
		await t.press(keys.enter);
		await t.waitForText('Which recipes');
		expect(t.calls.prepare).toBe(2);
		expect(t.frames.some(f => f.includes('Checking which recipes apply to bert_base…'))).toBe(true);
	});
});
