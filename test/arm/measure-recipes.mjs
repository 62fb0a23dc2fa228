// Runs INSIDE the emulated Arm machine (scripts/arm-emulation.sh run --cpu …): the tool's
// own detection, Python inspection and recipe applicability (core/session prepare), then
// every recipe that applies there measured once through the real probe (core/probe-runner)
// on test/arm/small_model.py, each as one step on top of the fp32 baseline, the way the
// walk builds its candidates (core/planner applyChanges). One JSON line per probe on stdout.
//
//   node test/arm/measure-recipes.mjs [recipe-id…]    (default: every applicable recipe)
//
// The bf16 fast-math probe also runs with ONEDNN_VERBOSE=1 and reports which oneDNN
// kernels ran.
import {execa} from 'execa';
import {applyChanges, baselineCandidate} from '../../dist/core/planner.js';
import {buildProbeCommand, buildProbeEnv, runProbe} from '../../dist/core/probe-runner.js';
import {prepare, selectSteps} from '../../dist/core/session.js';

const model = {path: new URL('small_model.py', import.meta.url).pathname, inputShape: [3, 32, 32]};
const only = process.argv.slice(2);
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
});

/** The candidate one recipe makes of the baseline (batch and workers are sweeps in the walk: one point here). */
function candidateFor(step) {
	if (step.changes.batchSizes) return {...base, config: {...base.config, batchSize: 4}, recipes: [step.recipe.id]};
	if (step.changes.workers === 'sweep') {
		return {...base, config: {...base.config, workers: 2, threadsPerWorker: 1}, recipes: [step.recipe.id]};
	}
	return applyChanges(base, step.changes, step.recipe.id);
}

async function measure(id, candidate) {
	const outcome = await runProbe(candidate.config, {python: python.interpreter, env: candidate.env, timeoutMs: 1_500_000});
	const logs = outcome.events.filter(e => e.type === 'log').map(e => e.message);
	print(outcome.ok
		? {type: 'probe', id, outcome: 'measured', config: candidate.config, env: candidate.env, result: outcome.result, logs}
		: {type: 'probe', id, outcome: 'failed', config: candidate.config, env: candidate.env, failure: outcome.failure, logs});
}

/** The probe process started by hand, to read oneDNN's verbose log from its stderr. */
async function onednnVerbose(id, candidate) {
	const {file, args} = buildProbeCommand(candidate.config, {python: python.interpreter});
	const env = buildProbeEnv(candidate.config, {env: {...candidate.env, ONEDNN_VERBOSE: '1'}});
	const run = await execa(file, args, {env, extendEnv: false, reject: false, timeout: 600_000});
	const lines = run.stderr.split('\n').filter(line => line.startsWith('onednn_verbose') && line.includes(',exec,'));
	print({type: 'verbose', id, exitCode: run.exitCode, execLines: lines.length, sample: lines.slice(0, 40)});
}

if (only.length === 0 || only.includes('baseline')) await measure('baseline', base);
for (const step of selectSteps(prepared.applicability)) {
	const id = step.recipe.id;
	if (only.length > 0 && !only.includes(id)) continue;
	const candidate = candidateFor(step);
	await measure(id, candidate);
	if (id === 'bf16-fastmath') await onednnVerbose(id, candidate);
}
