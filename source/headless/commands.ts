// The plain commands: detect, setup, probe. Human text on stdout (or one JSON object
// with --json), progress and problems on stderr, documented exit codes.
import process from 'node:process';
import {currentLoad, describeLoad} from '../core/machine/index.js';
import {optionDefaults} from '../core/recipes/index.js';
import {describeDetection} from '../core/machine/index.js';
import {installSystemLibraries, libraryList} from '../core/machine/index.js';
import {detectHardware, HardwareError} from '../core/machine/index.js';
import {runProbe} from '../core/walk/index.js';
import {findPython, inspectPython, setupVenv} from '../core/machine/index.js';
import {advisories, applicability, formatApplicability, loadRecipes} from '../core/recipes/index.js';
import {inspectModel} from '../core/walk/index.js';
import {inputKind, modelFacts, probeTimeoutSeconds} from '../core/walk/index.js';
import type {Detection, ProbeConfig, PythonEnv} from '../core/types.js';
import {machineFingerprint} from '../core/settings.js';
import {exitCodes} from '../options.js';
import type {Command} from '../options.js';
import {formatFailure, formatResult} from './text.js';
import {describeGeneration, kernelSummary, peakRssText, rateUnit} from '../core/report/index.js';

const out = (text: string) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
const err = (text: string) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);

/** Detection with a clear message instead of a stack trace for an unreadable tree. */
export async function detectOrExplain(root: string | undefined): Promise<Detection | null> {
	try {
		return await detectHardware(root ? {root} : {});
	} catch (error) {
		if (error instanceof HardwareError) {
			err(`graviton-tune: ${error.message}`);
			return null;
		}
		throw error;
	}
}

export async function findAndInspectPython(python: string | undefined, signal?: AbortSignal): Promise<PythonEnv> {
	const found = await findPython({python});
	return inspectPython(found, {signal});
}

export function describePython(env: PythonEnv): string {
	const lines = [`Python      ${env.interpreter ?? 'none found'}${env.source ? ` (${env.reason})` : ''}`];
	if (env.pythonVersion) lines[0] += `, Python ${env.pythonVersion}`;
	if (env.torch) {
		lines.push(`torch       ${env.torch.version}, CPU capability ${env.torch.cpuCapability ?? 'unknown'}${env.torch.bundledAllocator ? `, tensors allocated by its bundled ${env.torch.bundledAllocator}` : ''}`);
	}
	const present = Object.entries(env.packages).filter(([, v]) => v).map(([k, v]) => `${k} ${v}`);
	const missing = Object.entries(env.packages).filter(([k, v]) => !v && !env.importErrors[k]).map(([k]) => k);
	if (present.length) lines.push(`packages    ${present.join(', ')}`);
	if (missing.length) lines.push(`not found   ${missing.join(', ')}`);
	for (const [name, message] of Object.entries(env.importErrors)) lines.push(`broken      ${name}: ${message}`);
	if (env.problem) lines.push(`problem     ${env.problem.message}\n            fix: ${env.problem.hint}`);
	return lines.join('\n');
}

export async function runDetect(cmd: Extract<Command, {kind: 'detect'}>, signal: AbortSignal): Promise<number> {
	const detection = await detectOrExplain(cmd.root);
	if (!detection) return exitCodes.environment;
	// With --root the tree is someone else's machine: this machine's Python says nothing about it.
	const python = cmd.root ? null : await findAndInspectPython(cmd.python, signal);
	// The live machine's load now (another machine's, from --root, cannot be read).
	const load = cmd.root ? null : await currentLoad(detection.usableCpuList, signal);
	const recipes = await loadRecipes();
	// With --model, the recipes are judged for that model (looked at once, as a walk would).
	const check = cmd.model && python?.interpreter && python.torch ? await inspectModel(python.interpreter, cmd.model, {signal}) : null;
	if (check && !check.ok) {
		err(`graviton-tune detect: --model ${cmd.model!.path ?? cmd.model!.name}: ${check.message}${check.hint ? `\n  fix: ${check.hint}` : ''}`);
		return exitCodes.usage;
	}
	const model = cmd.model ?? {name: 'resnet50'};
	const kind = check?.ok ? check.info.inputKind : inputKind(model);
	const list = applicability(recipes, detection, python, {inputKind: kind, model: modelFacts(model, check)});
	const advice = advisories(recipes, detection, python);
	if (cmd.json) {
		out(JSON.stringify({
			...detection,
			load,
			python,
			// What a walk's figures depend on here, the model aside: provisioning re-tunes when it changes.
			fingerprint: python ? machineFingerprint(detection, python) : null,
			recipes: list.map(a => ({id: a.recipe.id, title: a.recipe.title, stage: a.recipe.stage, status: a.status, reason: a.reason, install: a.install})),
			advice,
		}, null, 2));
		return exitCodes.ok;
	}
	out(describeDetection(detection));
	if (load) out(`  load         ${describeLoad(load)}`);
	out('');
	out(python ? describePython(python) : 'Python      not inspected (--root describes another machine)');
	out('');
	out(cmd.model
		? `Recipes for ${cmd.model.path ?? cmd.model.name}${check?.ok ? ` (${check.info.kind}, ${check.info.inputKind} inputs${check.info.fixedBatch ? `, batch fixed at ${check.info.fixedBatch}` : ''})` : ''}`
		: 'Recipes (for an image model run by PyTorch; token models skip channels_last; --model FILE judges them for your model, an .onnx file included)');
	out(formatApplicability(list));
	if (advice.length) {
		out('');
		out('Advice');
		for (const a of advice) out(`  • ${a.title}: ${a.message}${a.command ? `\n      ${a.command}` : ''}`);
	}
	return exitCodes.ok;
}

export async function runSetup(cmd: Extract<Command, {kind: 'setup'}>, signal: AbortSignal): Promise<number> {
	// System-wide changes only when asked for (--system), and said line by line.
	let systemFailed = false;
	if (cmd.system) {
		err(`graviton-tune setup --system: ${libraryList()} with the distribution's package manager…`);
		const system = await installSystemLibraries({onLine: line => err(`  ${line}`), signal});
		if (system.cancelled || signal.aborted) return exitCodes.interrupted;
		if (!system.ok) {
			systemFailed = true;
			err('graviton-tune setup --system: the package manager failed (its output is above); the Python environment is set up next all the same');
		}
	}
	err('graviton-tune setup: creating (or checking) graviton-tune\'s own Python environment…');
	try {
		const report = await setupVenv({
			python: cmd.python,
			indexUrl: cmd.torchIndex,
			...(cmd.extras ? {extras: cmd.extras} : {}),
			onLine: line => err(`  ${line}`),
			signal,
		});
		if (cmd.json) {
			out(JSON.stringify(report, null, 2));
		} else {
			out(`venv       ${report.venv}${report.created ? ' (created)' : ' (already there)'}`);
			out(`python     ${report.python}`);
			if (report.installed.length) out(`installed  ${report.installed.map(p => `${p.name} ${p.version}`).join(', ')}`);
			if (report.skipped.length) out(`present    ${report.skipped.join(', ')}`);
			for (const f of report.failed) out(`failed     ${f.name}: ${f.reason}`);
			for (const r of report.removed) out(`removed    ${r.name}: ${r.reason}`);
			out(`took       ${report.seconds.toFixed(0)}s`);
		}
		return report.failed.some(f => f.name === 'torch') || systemFailed ? exitCodes.environment : exitCodes.ok;
	} catch (error) {
		if (signal.aborted) return exitCodes.interrupted;
		err(`graviton-tune setup: ${(error as Error).message}`);
		return exitCodes.environment;
	}
}

export async function runProbeCommand(cmd: Extract<Command, {kind: 'probe'}>, signal: AbortSignal): Promise<number> {
	const detection = await detectOrExplain(undefined);
	if (!detection) return exitCodes.environment;
	const python = await findAndInspectPython(cmd.python, signal);
	if (!python.interpreter || !python.torch) {
		err(`graviton-tune: ${python.problem?.message ?? 'no usable Python'}\n  fix: ${python.problem?.hint ?? 'graviton-tune setup'}`);
		return exitCodes.environment;
	}
	const {env, ...given} = cmd.probe;
	const workers = given.workers ?? 1;
	// The contract's defaults, then what the flags said; threads and CPUs follow from this machine.
	const config = {
		...optionDefaults(),
		...given,
		model: cmd.model,
		threadsPerWorker: given.threadsPerWorker ?? Math.max(1, Math.floor(detection.usableCpus / workers)),
		cpuList: given.cpuList ?? detection.usableCpuList,
	} as ProbeConfig;
	const p = {env};
	err(`graviton-tune probe: ${python.interpreter}, torch ${python.torch.version}`);
	let lastProgress = 0;
	const outcome = await runProbe(config, {
		python: python.interpreter,
		env: p.env,
		signal,
		timeoutMs: probeTimeoutSeconds({config, env: p.env, recipes: []}) * 1000,
		onEvent: event => {
			if (cmd.json) {
				out(JSON.stringify(event));
				return;
			}
			if (event.type === 'phase') err(`  ${event.phase}…`);
			if (event.type === 'progress' && Date.now() - lastProgress > 1000) {
				lastProgress = Date.now();
				err(`  ${event.samplesPerSecond.toFixed(1)} ${rateUnit(config.model)} (${event.iterations} iterations)`);
			}
			if (event.type === 'log') err(`  ${event.level}: ${event.message}`);
		},
	});
	if (!outcome.ok) {
		if (!cmd.json) err(`graviton-tune probe: ${formatFailure(outcome.failure)}`);
		return outcome.failure.kind === 'cancelled' ? exitCodes.interrupted : exitCodes.probesFailed;
	}
	if (!cmd.json) {
		const r = outcome.result;
		out(formatResult(r));
		out(`latency ms ${r.generation ? 'between tokens' : '/batch'}  p50 ${r.latencyMs.p50.toFixed(1)}  p90 ${r.latencyMs.p90.toFixed(1)}  p99 ${r.latencyMs.p99.toFixed(1)}`);
		if (r.generation) out(describeGeneration(r.generation));
		out(`iterations ${r.iterations} in ${r.measureSeconds.toFixed(1)}s${r.converged ? ' (CI target reached)' : ' (budget reached)'}; setup ${r.setupSeconds.toFixed(1)}s incl. warm-up ${r.warmupSeconds.toFixed(1)}s`);
		if (r.peakRssBytes) out(`peak RSS ${peakRssText(r)} MiB`);
		if (r.kernels) {
			out(`kernels ${kernelSummary(r.kernels)} (${r.kernels.source}, ${r.kernels.pass})`);
			for (const g of r.kernels.groups.filter(k => k.note)) out(`  note: ${g.note}`);
			for (const w of r.kernels.warnings) out(`  warning: ${w}`);
		}
		if (r.workers) for (const w of r.workers) out(`worker ${w.rank} on CPUs ${w.cpus.join(',')}: ${w.samplesPerSecond.toFixed(1)} ${rateUnit(r)}`);
	}
	return exitCodes.ok;
}
