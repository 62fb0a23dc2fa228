// Runs INSIDE the emulated Arm machine (scripts/arm-emulation.sh run --cpu …): the tool's
// own detection, Python inspection and recipe applicability (core/session prepare), then
// every recipe that applies there measured once through the real probe (core/probe-runner)
// on test/arm/small_model.py, each as one step on top of the fp32 baseline, the way the
// walk builds its candidates (core/planner applyChanges). One JSON line per probe on stdout,
// with its wall time and the probe's phases, so a slow run shows where the time went.
//
//   node test/arm/measure-recipes.mjs [--jobs N] [recipe-id…]   (default: every applicable recipe)
//
// --jobs N runs N probes at a time (default 1). Under emulation most of a probe is one
// busy thread (importing torch, tracing, compiling), so two at a time on two CPUs nearly
// halve the wall time; the figures mean nothing here anyway (emulation proves correctness,
// not speed), and each probe still runs in its own fresh process with its own environment.
//
// The bf16 fast-math probe also runs with ONEDNN_VERBOSE=1 and reports which oneDNN
// kernels ran.
import {parseArgs} from 'node:util';
import {execa} from 'execa';
import {applyChanges, baselineCandidate} from '../../dist/core/walk/candidates.js';
import {buildProbeCommand, buildProbeEnv, runProbe} from '../../dist/core/walk/probe-runner.js';
import {prepare, selectSteps} from '../../dist/core/walk/session.js';

const {values, positionals: only} = parseArgs({options: {jobs: {type: 'string', default: '1'}}, allowPositionals: true});
const jobs = Math.max(1, Number(values.jobs) || 1);
const model = {path: new URL('small_model.py', import.meta.url).pathname, inputShape: [3, 32, 32]};
const began = Date.now();
const prepared = await prepare({model});
const {detection, python} = prepared;
const base = baselineCandidate(model, detection.usableCpus, detection.usableCpuList);
base.config.budgetSeconds = 1;
base.config.targetRelativeCi = 0.2;

const print = value => process.stdout.write(`${JSON.stringify(value)}\n`);
print({
	type: 'machine',
	platform: detection.cpu.platform,
	core: detection.cpu.core,
	isa: detection.cpu.isa,
	sveVectorBits: detection.cpu.sveVectorBits,
	thp: detection.thp,
	torch: python.torch,
	applicable: prepared.applicability.filter(a => a.status === 'applicable').map(a => a.recipe.id),
	prepareSeconds: (Date.now() - began) / 1000,
});

/** The candidate one recipe makes of the baseline (batch and workers are sweeps in the walk: one point here). */
function candidateFor(step) {
	if (step.changes.batchSizes) return {...base, config: {...base.config, batchSize: 4}, recipes: [step.recipe.id]};
	if (step.changes.workers === 'sweep') {
		return {...base, config: {...base.config, workers: 2, threadsPerWorker: 1}, recipes: [step.recipe.id]};
	}
	return applyChanges(base, step.changes, step.recipe.id);
}

/** The probe's phases and how long each took (the events with seconds). */
const phases = events => Object.fromEntries(events.filter(e => e.type === 'phase' && typeof e.seconds === 'number').map(e => [e.phase, Math.round(e.seconds * 10) / 10]));

async function measure(id, candidate) {
	const outcome = await runProbe(candidate.config, {python: python.interpreter, env: candidate.env, timeoutMs: 1_500_000});
	const logs = outcome.events.filter(e => e.type === 'log').map(e => e.message);
	const timing = {seconds: outcome.durationMs / 1000, phases: phases(outcome.events)};
	print(outcome.ok
		? {type: 'probe', id, outcome: 'measured', config: candidate.config, env: candidate.env, result: outcome.result, logs, ...timing}
		: {type: 'probe', id, outcome: 'failed', config: candidate.config, env: candidate.env, failure: outcome.failure, logs, ...timing});
}

/** The probe process started by hand, to read oneDNN's verbose log from its stderr. */
async function onednnVerbose(id, candidate) {
	const started = Date.now();
	const {file, args} = buildProbeCommand(candidate.config, {python: python.interpreter});
	const env = buildProbeEnv(candidate.config, {env: {...candidate.env, ONEDNN_VERBOSE: '1'}});
	const run = await execa(file, args, {env, extendEnv: false, reject: false, timeout: 600_000});
	const lines = run.stderr.split('\n').filter(line => line.startsWith('onednn_verbose') && line.includes(',exec,'));
	print({type: 'verbose', id, exitCode: run.exitCode, execLines: lines.length, sample: lines.slice(0, 40), seconds: (Date.now() - started) / 1000});
}

const tasks = [];
if (only.length === 0 || only.includes('baseline')) tasks.push({id: 'baseline', run: () => measure('baseline', base)});
for (const step of selectSteps(prepared.applicability)) {
	const id = step.recipe.id;
	if (only.length > 0 && !only.includes(id)) continue;
	const candidate = candidateFor(step);
	tasks.push({id, run: () => measure(id, candidate)});
	if (id === 'bf16-fastmath') tasks.push({id, run: () => onednnVerbose(id, candidate)});
}
// The slowest first (compile, int8, workers, the other runtimes), so the two lanes end together.
const slow = /compile|int8|workers|openvino|onnxruntime/;
const order = [...tasks.filter(t => slow.test(t.id)), ...tasks.filter(t => !slow.test(t.id))];
let next = 0;
await Promise.all(Array.from({length: Math.min(jobs, order.length)}, async () => {
	while (next < order.length) await order[next++].run();
}));
print({type: 'done', seconds: (Date.now() - began) / 1000});
