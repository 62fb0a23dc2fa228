// The interactive face's reducer and choices, without rendering anything.
import {describe, expect, it} from 'vitest';
import {budgetChoices, defaultModelKey, defaultSelection, modelChoices, recipeList, windowAround} from '../source/ui/choices.js';
import {bestSoFar} from '../source/ui/run-log.js';
import {defaultModel, exitCode, initialState, needsRecheck, preferencesToSave, reduce} from '../source/ui/state.js';
import type {Action, Options, State} from '../source/ui/state.js';
import type {DeliveryPlan} from '../source/core/report/deliver.js';
import type {SessionEvent, WalkResult} from '../source/core/types.js';
import {verdict} from '../source/core/report/verdict.js';
import {applicability, candidate, prepared, probeRecord, python, walkResult} from './helpers/render.js';

function options(overrides: Partial<Options> = {}): Options {
	return {flagModel: {name: 'resnet50'}, flagRecipes: undefined, flagBudgetSeconds: 600, yes: false, preferences: {}, ...overrides};
}

function run(state: State, ...actions: Action[]): State {
	return actions.reduce(reduce, state);
}

const ev = (event: SessionEvent, at = 1000): Action => ({type: 'event', event, at});

function runningState(): State {
	return run(initialState(options()), {type: 'prepared', prepared: prepared()}, {type: 'model-chosen', model: {name: 'resnet50'}}, {type: 'recipes-done'}, {type: 'budget-chosen', seconds: 300});
}

describe('screen flow', () => {
	it('goes detect → model → recipes → budget → running with the defaults preselected', () => {
		let s = initialState(options());
		expect(s.screen).toBe('detecting');
		s = reduce(s, {type: 'prepared', prepared: prepared()});
		expect(s.screen).toBe('model');
		s = reduce(s, {type: 'model-chosen', model: {name: 'resnet50'}});
		expect(s.screen).toBe('recipes');
		// every applicable recipe except the always-run batch sweep is a toggle, all on
		expect(s.selected).toEqual(['channels-last', 'tcmalloc', 'bf16-fastmath']);
		expect(recipeList(s.prepared!.applicability)[s.cursor]!.recipe.id).toBe('channels-last');
		s = run(s, {type: 'cursor', delta: 1}, {type: 'toggle'});
		expect(s.selected).toEqual(['channels-last', 'bf16-fastmath']);
		s = run(s, {type: 'cursor', delta: 50});
		expect(s.cursor).toBe(recipeList(s.prepared!.applicability).length - 1);
		s = reduce(s, {type: 'toggle'}); // not applicable: no toggle
		expect(s.selected).toEqual(['channels-last', 'bf16-fastmath']);
		s = run(s, {type: 'toggle-all'});
		expect(s.selected).toEqual(['channels-last', 'tcmalloc', 'bf16-fastmath']);
		s = run(s, {type: 'toggle-all'});
		expect(s.selected).toEqual([]);
		s = run(s, {type: 'recipes-done'}, {type: 'budget-chosen', seconds: 1200});
		expect(s.screen).toBe('running');
		expect(s.budgetSeconds).toBe(1200);
		expect(s.run.budgetSeconds).toBe(1200);
	});

	it('keeps --recipes as the preselection', () => {
		const s = run(initialState(options({flagRecipes: ['tcmalloc', 'nonsense']})), {type: 'prepared', prepared: prepared()}, {type: 'model-chosen', model: {name: 'resnet50'}});
		expect(s.selected).toEqual(['tcmalloc']);
	});

	it('ends with exit 3 and the fix command when Python has a problem', () => {
		const problem = {code: 'no-torch' as const, message: 'torch is not installed in /usr/bin/python3', hint: 'graviton-tune setup'};
		const s = reduce(initialState(options()), {type: 'prepared', prepared: prepared({python: python({torch: null, problem})})});
		expect(s.ending).toEqual({kind: 'environment', message: problem.message, hint: 'graviton-tune setup'});
		expect(exitCode(s.ending!)).toBe(3);
		expect(reduce(s, {type: 'model-chosen', model: {name: 'resnet18'}})).toBe(s);
	});

	it('maps an unreadable machine to 3 and other prepare errors to 1', () => {
		expect(exitCode(reduce(initialState(options()), {type: 'prepare-failed', message: 'no cpuinfo', environment: true}).ending!)).toBe(3);
		expect(exitCode(reduce(initialState(options()), {type: 'prepare-failed', message: 'bug', environment: false}).ending!)).toBe(1);
	});

	it('with --yes goes straight from detection to running on the defaults', () => {
		const s = reduce(initialState(options({yes: true, flagBudgetSeconds: 90, preferences: {model: 'resnet18'}, inputKind: () => 'image'})), {type: 'prepared', prepared: prepared()});
		expect(s.screen).toBe('running');
		expect(s.model).toEqual({name: 'resnet18'});
		expect(s.budgetSeconds).toBe(90);
		expect(s.selected).toEqual(['channels-last', 'tcmalloc', 'bf16-fastmath']);
		// a model that needs its recipes re-checked still runs without questions after that
		const bert = run(initialState(options({yes: true, flagModel: {name: 'bert_base'}})), {type: 'prepared', prepared: prepared()});
		expect(bert.screen).toBe('running');
		const other = run(initialState(options({yes: true, preferences: {model: 'resnet18'}})), {type: 'prepared', prepared: prepared()});
		expect(other.screen).toBe('rechecking');
		expect(reduce(other, {type: 'prepared', prepared: prepared()}).screen).toBe('running');
	});

	it('re-checks the recipes when the chosen model takes another kind of input', () => {
		const kind = (m: {name?: string}) => (m.name === 'bert_base' ? 'tokens' : 'image');
		let s = run(initialState(options({inputKind: kind})), {type: 'prepared', prepared: prepared()});
		expect(reduce(s, {type: 'model-chosen', model: {name: 'vit_b_16'}}).screen).toBe('recipes');
		s = reduce(s, {type: 'model-chosen', model: {name: 'bert_base'}});
		expect(s.screen).toBe('rechecking');
		s = reduce(s, {type: 'prepared', prepared: prepared({applicability: applicability().slice(0, 2)})});
		expect(s.screen).toBe('recipes');
		expect(s.preparedFor).toEqual({name: 'bert_base'});
		expect(s.selected).toEqual(['channels-last']);
		// without an inputKind, any other model is re-checked
		expect(needsRecheck(options(), {name: 'resnet50'}, {name: 'resnet18'})).toBe(true);
		expect(needsRecheck(options(), {name: 'resnet50'}, {name: 'resnet50'})).toBe(false);
	});
});

describe('session events', () => {
	it('shows live progress, then moves a decided step into the log', () => {
		const base = candidate(1);
		let s = run(
			runningState(),
			ev({type: 'session-start', model: {name: 'resnet50'}, budgetSeconds: 300, usableCpus: 8}, 1000),
			ev({type: 'step-start', stepId: 'baseline', title: 'Baseline: fp32, eager, batch 1', candidate: base, budgetSeconds: 10, index: 1}, 2000),
			ev({type: 'probe', stepId: 'baseline', event: {type: 'phase', phase: 'measure'}}),
			ev({type: 'probe', stepId: 'baseline', event: {type: 'progress', samplesPerSecond: 41.5, iterations: 30, elapsedSeconds: 3, relativeCi: 0.04}}),
		);
		expect(s.run.startedAt).toBe(1000);
		expect(s.run.live).toMatchObject({stepId: 'baseline', phase: 'measure', samplesPerSecond: 41.5, iterations: 30, relativeCi: 0.04, startedAt: 2000});
		expect(s.run.log).toEqual([]);
		s = run(
			s,
			ev({type: 'step-end', stepId: 'baseline', record: probeRecord('baseline', 'Baseline: fp32, eager, batch 1', base, 40), decision: null}),
			ev({type: 'decision', decision: {stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'baseline', reason: 'reference', samplesPerSecond: 40, ratio: 1}}),
		);
		expect(s.run.live).toBeNull();
		expect(s.run.log).toHaveLength(1);
		expect(s.run.log[0]).toMatchObject({kind: 'step', title: 'Baseline', decision: {outcome: 'baseline'}, records: [{stepId: 'baseline'}]});
		expect(bestSoFar(s.run)).toEqual({baseline: 40, best: 40, title: 'Baseline'});
	});

	it('tracks best so far through kept and dropped steps', () => {
		const d = (stepId: string, outcome: 'baseline' | 'kept' | 'dropped', sps: number) => ev({type: 'decision', decision: {stepId, recipeId: null, title: stepId, outcome, reason: '', samplesPerSecond: sps, ratio: 1}});
		const s = run(runningState(), d('baseline', 'baseline', 40), d('01-a', 'kept', 60), d('02-b', 'dropped', 59), d('03-c', 'kept', 75), d('04-d', 'dropped', 50));
		expect(bestSoFar(s.run)).toEqual({baseline: 40, best: 75, title: '03-c'});
		expect(s.run.log.map(e => e.kind === 'step' && e.decision?.outcome)).toEqual(['baseline', 'kept', 'dropped', 'kept', 'dropped']);
	});

	it('groups a close call\'s re-measurements under the decision, and logs verification probes on their own', () => {
		const c = candidate(1, ['tcmalloc']);
		const start = (stepId: string, title: string) => ev({type: 'step-start', stepId, title, candidate: c, budgetSeconds: 10, index: 1});
		const endStep = (stepId: string, title: string) => ev({type: 'step-end', stepId, record: probeRecord(stepId, title, c, 50), decision: null});
		let s = run(
			runningState(),
			start('01-tcmalloc', 'tcmalloc'),
			endStep('01-tcmalloc', 'tcmalloc'),
			start('01-tcmalloc-recheck-best', 'Re-measure current best'),
			endStep('01-tcmalloc-recheck-best', 'Re-measure current best'),
			start('01-tcmalloc-recheck', 'Re-measure: tcmalloc'),
			endStep('01-tcmalloc-recheck', 'Re-measure: tcmalloc'),
		);
		expect(s.run.log).toEqual([]);
		expect(s.run.pending).toHaveLength(3);
		s = reduce(s, ev({type: 'decision', decision: {stepId: '01-tcmalloc', recipeId: 'tcmalloc', title: 'tcmalloc', outcome: 'dropped', reason: 'close', samplesPerSecond: 50, ratio: 1.005}}));
		expect(s.run.log).toHaveLength(1);
		expect(s.run.log[0]!.kind === 'step' && s.run.log[0]!.records.map(r => r.stepId)).toEqual(['01-tcmalloc', '01-tcmalloc-recheck-best', '01-tcmalloc-recheck']);
		expect(s.run.pending).toEqual([]);

		s = run(s, start('verify-baseline', 'Verify: baseline'), endStep('verify-baseline', 'Verify: baseline'), start('verify-best', 'Verify: best configuration'));
		expect(s.run.log.map(e => e.kind === 'step' && e.title)).toEqual(['tcmalloc', 'Verify: baseline']);
		s = run(s, endStep('verify-best', 'Verify: best configuration'), ev({type: 'session-end', result: walkResult(), error: null}));
		expect(s.run.log.map(e => e.kind === 'step' && e.title)).toEqual(['tcmalloc', 'Verify: baseline', 'Verify: best configuration']);
		expect(s.run.ended).toBe(true);
	});

	it('logs notes and probe warnings, and ignores progress for another step', () => {
		const s = run(
			runningState(),
			ev({type: 'note', level: 'info', message: 'Last time: 2.1×'}),
			ev({type: 'step-start', stepId: 'baseline', title: 'Baseline', candidate: candidate(), budgetSeconds: 10, index: 1}),
			ev({type: 'probe', stepId: 'other', event: {type: 'progress', samplesPerSecond: 1, iterations: 1, elapsedSeconds: 1, relativeCi: null}}),
			ev({type: 'probe', stepId: 'baseline', event: {type: 'log', level: 'warning', message: 'denormals'}}),
		);
		expect(s.run.live?.samplesPerSecond).toBeNull();
		expect(s.run.log).toMatchObject([{kind: 'note', level: 'info', message: 'Last time: 2.1×'}, {kind: 'note', level: 'warning', message: 'denormals'}]);
	});
});

describe('endings', () => {
	it('Ctrl+C while running: stopping, then 130 when the session returns', () => {
		let s = reduce(runningState(), {type: 'interrupt'});
		expect(s.stopping).toBe(true);
		expect(s.ending).toBeNull();
		s = reduce(s, {type: 'session-returned', result: walkResult({interrupted: true}), aborted: true});
		expect(s.ending).toEqual({kind: 'interrupted'});
		expect(exitCode(s.ending!)).toBe(130);
	});

	it('a second Ctrl+C does not wait; Ctrl+C on a question ends at once', () => {
		expect(run(runningState(), {type: 'interrupt'}, {type: 'interrupt', force: true}).ending).toEqual({kind: 'interrupted'});
		const asking = reduce(initialState(options()), {type: 'prepared', prepared: prepared()});
		expect(reduce(asking, {type: 'interrupt'}).ending).toEqual({kind: 'interrupted'});
	});

	it('a failed baseline ends with 4 and its reason', () => {
		const s = run(
			runningState(),
			ev({type: 'decision', decision: {stepId: 'baseline', recipeId: null, title: 'Baseline', outcome: 'failed', reason: 'out of memory (use a smaller batch)', samplesPerSecond: null, ratio: null}}),
			{type: 'session-returned', result: null, aborted: false},
		);
		expect(s.ending).toEqual({kind: 'baseline-failed', message: 'out of memory (use a smaller batch)'});
		expect(exitCode(s.ending!)).toBe(4);
	});

	it('planned → confirm → written is 0; declined is 0; a write failure is 5', () => {
		// The reducer never reads the plan's input (the effects do): left out here.
		const plan = {dir: '/tmp/out', files: [{name: 'graviton-tune.env', content: ''}], patch: null} as Omit<DeliveryPlan, 'input'> as DeliveryPlan;
		const delivered = {written: ['/tmp/out/graviton-tune.env'], backups: [], patched: null, files: {env: '/tmp/out/graviton-tune.env', launch: '/tmp/out/launch.sh', report: '/tmp/out/report.json', reportMarkdown: '/tmp/out/report.md', reportHtml: '/tmp/out/report.html'}};
		const summary = run(runningState(), {type: 'session-returned', result: walkResult(), aborted: false});
		expect(summary.screen).toBe('planning');
		const confirm = reduce(summary, {type: 'planned', plan});
		expect(confirm.screen).toBe('confirm');
		expect(confirm.plan).toBe(plan);
		const writing = reduce(confirm, {type: 'confirm', write: true});
		expect(writing.screen).toBe('writing');
		expect(exitCode(reduce(writing, {type: 'written', delivered}).ending!)).toBe(0);
		expect(exitCode(reduce(writing, {type: 'write-failed', message: 'EACCES'}).ending!)).toBe(5);
		const declined = reduce(confirm, {type: 'confirm', write: false});
		expect(declined.ending).toEqual({kind: 'declined'});
		expect(exitCode(declined.ending!)).toBe(0);
		// --yes writes without asking
		const yes = run({...summary, options: {...summary.options, yes: true}}, {type: 'planned', plan});
		expect(yes.screen).toBe('writing');
	});

	it('the headline uses the verified figures when there are some', () => {
		const figures = (r: WalkResult) => {
			const h = verdict(r).headline;
			return {baseline: h.baseline.samplesPerSecond.median, best: h.best.samplesPerSecond.median, speedup: h.speedup, verified: h.verified};
		};
		expect(figures(walkResult())).toEqual({baseline: 40, best: 100, speedup: 2.5, verified: true});
		expect(figures(walkResult({verification: null}))).toMatchObject({best: 98, verified: false});
	});
});

describe('choices', () => {
	it('offers bert_base only with transformers, and the --model file first', () => {
		expect(modelChoices({name: 'resnet50'}, python()).map(c => c.key)).toEqual(['resnet50', 'resnet18', 'mobilenet_v3_large', 'vit_b_16', 'own-new']);
		expect(modelChoices({name: 'resnet50'}, python({packages: {transformers: '4.46.0'}})).map(c => c.key)).toContain('bert_base');
		const withFile = modelChoices({path: './net.py', inputShape: [3, 32, 32]}, python());
		expect(withFile[0]).toMatchObject({key: 'flag', model: {path: './net.py'}});
		expect(defaultModelKey({path: './net.py'}, withFile, {model: 'resnet18'})).toBe('flag');
		expect(modelChoices({name: 'toy'}, python()).map(c => c.key)).toContain('toy');
	});

	it('preselects --model, then the last choice, then resnet50', () => {
		const choices = modelChoices({name: 'resnet50'}, python());
		expect(defaultModelKey({name: 'vit_b_16'}, choices, {model: 'resnet18'})).toBe('vit_b_16');
		expect(defaultModelKey({name: 'resnet50'}, choices, {model: 'resnet18'})).toBe('resnet18');
		expect(defaultModelKey({name: 'resnet50'}, choices, {model: 'bert_base'})).toBe('resnet50');
	});

	it('lists recipes applicable → needs → not applicable, advisories left out', () => {
		expect(recipeList(applicability()).map(a => a.status)).toEqual(['applicable', 'applicable', 'applicable', 'applicable', 'needs', 'not-applicable']);
		expect(defaultSelection(applicability(), undefined)).toEqual(['channels-last', 'tcmalloc', 'bf16-fastmath']);
	});

	it('budget choices include a --budget that is not one of them', () => {
		expect(budgetChoices(600).map(c => c.seconds)).toEqual([300, 600, 1200]);
		expect(budgetChoices(900).map(c => c.seconds)).toEqual([300, 600, 900, 1200]);
	});

	it('windows a long list around the cursor', () => {
		expect(windowAround(5, 4, 10)).toEqual({start: 0, end: 5});
		expect(windowAround(30, 0, 10)).toEqual({start: 0, end: 10});
		expect(windowAround(30, 15, 10)).toEqual({start: 10, end: 20});
		expect(windowAround(30, 29, 10)).toEqual({start: 20, end: 30});
	});
});

describe('your own model', () => {
	const ok = {ok: true as const, info: {label: 'm.py', kind: 'python', inputKind: 'tokens' as const, inputs: [], evaluate: false, samples: null}, notes: []};
	const noFactory = {ok: false as const, code: 'factory-failed', message: 'm.py has no function build_model(); it defines make', hint: 'name the function that builds the model: --model m.py:NAME (or --factory NAME)'};
	const noShape = {ok: false as const, code: 'needs-input-shape', message: 'm.py: the per-sample input shape is needed', hint: 'give it with --input-shape'};

	it('asks the path, then the factory of a .py, checks the model, and asks again where the answer was wrong', () => {
		let s = run(initialState(options()), {type: 'prepared', prepared: prepared()}, {type: 'own-model'});
		expect(s.screen).toBe('own-model');
		expect(s.own?.field).toBe('path');
		s = reduce(s, {type: 'own-answer', value: ''});
		expect(s.own?.error).toMatch(/give the path/);
		s = run(s, {type: 'own-answer', value: './m.py'});
		expect(s.own?.field).toBe('factory');
		s = reduce(s, {type: 'own-answer', value: ''}); // enter keeps build_model
		expect(s.screen).toBe('rechecking');
		expect(s.model).toEqual({path: './m.py'});
		s = reduce(s, {type: 'prepared', prepared: {...prepared(), model: noFactory}});
		expect(s.screen).toBe('own-model');
		expect(s.own?.field).toBe('factory');
		expect(s.own?.error).toMatch(/has no function build_model\(\).*--model m.py:NAME/);
		s = reduce(s, {type: 'own-answer', value: 'make'});
		expect(s.model).toEqual({path: './m.py', factory: 'make'});
		s = reduce(s, {type: 'prepared', prepared: {...prepared(), model: noShape}});
		expect(s.own?.field).toBe('inputShape');
		s = reduce(s, {type: 'own-answer', value: '3,a'});
		expect(s.own?.error).toMatch(/per-sample shape/);
		s = run(s, {type: 'own-answer', value: '3,32,32'});
		expect(s.model).toEqual({path: './m.py', factory: 'make', inputShape: [3, 32, 32]});
		s = reduce(s, {type: 'prepared', prepared: {...prepared(), model: ok}});
		expect(s.screen).toBe('recipes');
	});

	it('takes path:factory in one answer, and a folder with no further question', () => {
		let s = run(initialState(options()), {type: 'prepared', prepared: prepared()}, {type: 'own-model'}, {type: 'own-answer', value: 'm.py:make'});
		expect(s.model).toEqual({path: 'm.py', factory: 'make'});
		s = run(initialState(options()), {type: 'prepared', prepared: prepared()}, {type: 'own-model'}, {type: 'own-answer', value: './my-bert'});
		expect(s).toMatchObject({screen: 'rechecking', model: {path: './my-bert'}});
		expect(run(s, {type: 'own-back'})).toBe(s); // only on the own-model screen
		const flags = run(initialState(options({flagModel: {name: 'resnet50', samples: 's.pt', seqLen: 64}})), {type: 'prepared', prepared: prepared()}, {type: 'own-model'}, {type: 'own-answer', value: './my-bert'});
		expect(flags.model).toEqual({path: './my-bert', seqLen: 64, samples: 's.pt'}); // --samples and --seq-len carry over
	});

	it('takes an .onnx file: no factory question; a symbolic dimension asks the input shape, naming the input', () => {
		let s = run(initialState(options()), {type: 'prepared', prepared: prepared()}, {type: 'own-model'}, {type: 'own-answer', value: './net.onnx'});
		expect(s).toMatchObject({screen: 'rechecking', model: {path: './net.onnx'}});
		const symbolic = {ok: false as const, code: 'needs-input-shape', message: "./net.onnx: input 'image' has a symbolic dimension h (3,N,N per sample) that cannot be guessed", hint: "give the per-sample shape of 'image' with --input-shape, e.g. --input-shape 3,224,224"};
		s = reduce(s, {type: 'prepared', prepared: {...prepared(), model: symbolic}});
		expect(s.own?.field).toBe('inputShape');
		expect(s.own?.error).toMatch(/input 'image' has a symbolic dimension/);
		s = run(s, {type: 'own-answer', value: '3,96,96'});
		expect(s.model).toEqual({path: './net.onnx', inputShape: [3, 96, 96]});
		const onnx = {ok: true as const, info: {label: './net.onnx', kind: 'onnx', inputKind: 'image' as const, inputs: [], evaluate: false, samples: null, fixedBatch: null}, notes: []};
		s = reduce(s, {type: 'prepared', prepared: {...prepared(), model: onnx}});
		expect(s.screen).toBe('recipes');
	});

	it('is remembered and offered first next time', () => {
		let s = run(initialState(options()), {type: 'prepared', prepared: prepared()}, {type: 'own-model'}, {type: 'own-answer', value: './my-bert'}, {type: 'prepared', prepared: {...prepared(), model: ok}}, {type: 'recipes-done'}, {type: 'budget-chosen', seconds: 120});
		const saved = preferencesToSave(s);
		expect(saved).toMatchObject({model: 'own-0', ownModels: [{path: './my-bert'}]});
		const choices = modelChoices({name: 'resnet50'}, python(), saved);
		expect(choices[0]).toMatchObject({key: 'own-0', model: {path: './my-bert'}});
		expect(choices.at(-1)!.label).toMatch(/^your own model…/);
		expect(defaultModelKey({name: 'resnet50'}, choices, saved)).toBe('own-0');
		s = run(initialState(options({preferences: saved})), {type: 'prepared', prepared: prepared()});
		expect(defaultModel(s)).toEqual({path: './my-bert'});
	});

	it('shows why the model given with --model cannot be tuned, on the model screen', () => {
		const s = reduce(initialState(options({flagModel: {path: 'm.py'}})), {type: 'prepared', prepared: {...prepared(), model: noFactory}});
		expect(s.screen).toBe('model');
		expect(s.modelError).toMatch(/has no function build_model/);
		const yes = reduce(initialState(options({flagModel: {path: 'm.py'}, yes: true})), {type: 'prepared', prepared: {...prepared(), model: noFactory}});
		expect(yes.ending).toMatchObject({kind: 'error', message: expect.stringMatching(/has no function/)});
	});
});
