// npm run bench: the figures that matter, measured side by side in one run, written to
// BENCHMARKS.md with the command that produced them.
//  1. the headless walk on a model (default resnet50) within a budget;
//  2. baseline, the published manual walk's best step (batch 8, channels_last, bf16
//     autocast, tcmalloc, THP, compile) and the walk's winner, measured back to back,
//     twice over, in fresh probes;
//  3. the written files: launch.sh running examples/sample_app.py, whose samples/s is
//     compared with the winner's figure.
import {execa} from 'execa';
import {mkdtempSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {DEFAULT_QUIET_WAIT_SECONDS} from '../core/contention.js';
import {commitDelivery, planDelivery} from '../core/deliver.js';
import {packageRoot} from '../core/paths.js';
import {runProbe} from '../core/probe-runner.js';
import {prepare, runSession} from '../core/session.js';
import {Settings} from '../core/settings.js';
import type {Candidate, ProbeResult, SessionEvent} from '../core/types.js';
import {createTextRenderer, describeCandidate} from '../headless/text.js';
import type {TuneFlags} from '../options.js';
import {parseDuration} from '../options.js';

const {values} = parseArgs({
	options: {
		model: {type: 'string', default: 'resnet50'},
		budget: {type: 'string', default: '10m'},
		seconds: {type: 'string', default: '15'},
		output: {type: 'string', default: path.join(packageRoot, 'BENCHMARKS.md')},
	},
});
const model = {name: values.model!};
const measureSeconds = Number(values.seconds);
const log = (line: string) => process.stderr.write(`${line}\n`);

async function measure(label: string, c: Candidate, python: string): Promise<ProbeResult | null> {
	log(`  ${label}: ${describeCandidate(c)}`);
	const outcome = await runProbe({...c.config, budgetSeconds: measureSeconds}, {python, env: c.env, timeoutMs: 20 * 60_000});
	if (!outcome.ok) {
		log(`    failed: ${outcome.failure.message}`);
		return null;
	}
	log(`    ${outcome.result.samplesPerSecond.median.toFixed(1)} samples/s`);
	return outcome.result;
}

const fmt = (r: ProbeResult | null) => (r ? r.samplesPerSecond.median.toFixed(1) : 'failed');

async function main(): Promise<void> {
	const started = new Date();
	const prepared = await prepare({model});
	const python = prepared.python.interpreter;
	if (!python || !prepared.python.torch) throw new Error(`no usable Python with torch: ${prepared.python.problem?.hint ?? 'graviton-tune setup'}`);
	const home = mkdtempSync(path.join(os.tmpdir(), 'gt-bench-'));

	log(`1. The walk on ${model.name}, budget ${values.budget}`);
	const text = createTextRenderer(line => log(`  ${line}`));
	const walkStart = Date.now();
	const result = await runSession(prepared, {
		model,
		budgetSeconds: parseDuration(values.budget!),
		maxLatencyMs: null,
		resume: false,
		settings: new Settings(home),
	}, (e: SessionEvent) => text(e));
	if (!result) throw new Error('the walk failed at its baseline');
	const walkSeconds = (Date.now() - walkStart) / 1000;

	const base = result.baseline.candidate;
	const tcmalloc = prepared.detection.allocators.tcmalloc;
	const manual: Candidate = {
		config: {...base.config, batchSize: 8, channelsLast: true, autocast: 'bf16', compile: true},
		env: {...(tcmalloc ? {LD_PRELOAD: tcmalloc} : {}), THP_MEM_ALLOC_ENABLE: '1'},
		recipes: ['published manual walk'],
	};
	const winner = result.best.candidate;

	log('2. Side by side, fresh probes, two rounds');
	const rounds: Array<{baseline: ProbeResult | null; manual: ProbeResult | null; winner: ProbeResult | null}> = [];
	for (let round = 1; round <= 2; round++) {
		rounds.push({
			baseline: await measure(`round ${round} baseline`, base, python),
			manual: await measure(`round ${round} manual walk`, manual, python),
			winner: await measure(`round ${round} walk's winner`, winner, python),
		});
	}

	log('3. The written files: launch.sh running examples/sample_app.py');
	const out = path.join(home, 'out');
	const appSeconds = 20;
	const app = [python, path.join(packageRoot, 'examples', 'sample_app.py'), '--runtime-dir', out, '--model', model.name];
	const tune: TuneFlags = {model, budgetSeconds: 0, out, json: false, maxLatencyMs: null, app, resume: false, minCosine: 0.99, minTop1: 0.99, maxAccuracyDrop: 0.01, yes: true, pricePerHour: null, quietWaitSeconds: DEFAULT_QUIET_WAIT_SECONDS};
	await commitDelivery(await planDelivery({result, prepared, tune, startedAt: started}));
	const launched = await execa('bash', [path.join(out, 'launch.sh'), '--seconds', String(appSeconds)], {env: cleanEnv(), extendEnv: false});
	const app_ = JSON.parse(launched.stdout.trim().split('\n').at(-1)!) as {samplesPerSecond: number; workers: number};
	const winnerFigure = rounds.map(r => r.winner?.samplesPerSecond.median ?? 0).reduce((a, b) => a + b, 0) / rounds.length;
	log(`  launch.sh: ${app_.samplesPerSecond.toFixed(1)} samples/s (${app_.workers} workers) vs probe ${winnerFigure.toFixed(1)}`);

	const ratio = (a: ProbeResult | null, b: ProbeResult | null) => (a && b ? (a.samplesPerSecond.median / b.samplesPerSecond.median).toFixed(2) : 'n/a');
	const lines = [
		'# Benchmarks',
		'',
		'Figures measured by `npm run bench` (source/bench/run.ts); only what was measured, on the',
		'machine named below. This machine is noisy: compare ratios within one run, not across runs.',
		'',
		`## ${model.name}: the walk against the published manual walk`,
		'',
		`- Command: \`npm run bench -- --model ${model.name} --budget ${values.budget} --seconds ${measureSeconds}\``,
		`- Date: ${started.toISOString()}`,
		`- Machine: ${prepared.detection.cpu.modelName ?? prepared.detection.cpu.arch}, ${prepared.detection.usableCpus} usable CPUs, torch ${prepared.python.torch.version}`,
		`- The walk took ${walkSeconds.toFixed(0)} s (budget ${values.budget}); its winner: ${describeCandidate(winner)}`,
		`- Manual walk's best step: ${describeCandidate(manual)}`,
		'',
		'Side by side, each a fresh probe of ' + measureSeconds + ' s, samples/s (median):',
		'',
		'| round | baseline (fp32, batch 1) | manual walk | walk winner | winner / manual | winner / baseline |',
		'|---|---|---|---|---|---|',
		...rounds.map((r, i) => `| ${i + 1} | ${fmt(r.baseline)} | ${fmt(r.manual)} | ${fmt(r.winner)} | ${ratio(r.winner, r.manual)} | ${ratio(r.winner, r.baseline)} |`),
		'',
		'Deployed files reproduce the figure: `launch.sh` (sourcing graviton-tune.env) running',
		`\`examples/sample_app.py\` for ${appSeconds} s gave ${app_.samplesPerSecond.toFixed(1)} samples/s with ${app_.workers} worker(s),`,
		`${((app_.samplesPerSecond / winnerFigure) * 100).toFixed(0)}% of the winner's probe figure (${winnerFigure.toFixed(1)}, mean of the two rounds).`,
		'',
		'The walk\'s decisions:',
		'',
		...result.decisions.map(d => `- ${d.title}: ${d.outcome}${d.samplesPerSecond ? ` (${d.samplesPerSecond.toFixed(1)} samples/s)` : ''} — ${d.reason}`),
		'',
	];
	writeFileSync(values.output!, lines.join('\n'));
	log(`Wrote ${values.output}`);
}

/** The environment of a fresh login: no tuning variables inherited from this shell. */
function cleanEnv(): Record<string, string> {
	const env: Record<string, string> = {};
	for (const [k, v] of Object.entries(process.env)) {
		if (v !== undefined && !/^(LD_PRELOAD|OMP_|GT_|DNNL_|ONEDNN_|THP_|LRU_)/.test(k)) env[k] = v;
	}
	return env;
}

main().catch((error: unknown) => {
	process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n`);
	process.exitCode = 1;
});
