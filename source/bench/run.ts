// npm run bench: the figures that matter, measured side by side in one run, written to
// BENCHMARKS.md with the command that produced them.
//  1. the walk's answers on resnet50 and a transformer (bert_base): a 3-minute budget
//     against a 10-minute one, and the 3-minute walk run again (three in all: the spread
//     of their winners); each winner's share of this CPU's matmul rate;
//  2. an oracle: combinations of the applicable recipes on resnet18 (all of them, or a
//     large seeded random sample within a time cap) measured in the same run, against a
//     walk's winner measured first and last among them;
//  3. baseline, the published manual walk's best step (batch 8, channels_last, bf16
//     autocast, tcmalloc, THP, compile) and the 10-minute winner, back to back, twice;
//  4. the written files: launch.sh running examples/sample_app.py;
//  5. the tool's own overhead: time to the first frame, `detect --json`, probe start-up;
//  6. a language model generating (a Llama-style folder made from a config by
//     test/fixtures/make_llama.py): its short against its long winner, side by side, in
//     decode tokens/s, and the share of the memory-bandwidth limit.
// --only llm: section 6 alone, written into BENCHMARKS.md between its markers (the rest kept).
// --quick: the same sections on the toy model with tiny budgets (a smoke test of the
// harness, a few minutes; written to a temporary file unless --output says otherwise).
// This file measures the sections in order; the flags are args.ts's, the words markdown.ts's.
import {execa} from 'execa';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {DEFAULT_QUIET_WAIT_SECONDS} from '../core/machine/index.js';
import {commitDelivery, planDelivery} from '../core/report/index.js';
import {describeRates} from '../core/machine/index.js';
import {packageRoot} from '../core/paths.js';
import {candidateKey, prepare} from '../core/walk/index.js';
import type {Prepared} from '../core/walk/index.js';
import {describeCandidate} from '../core/report/index.js';
import type {Candidate, ModelSpec, ProbeResult, WalkResult} from '../core/types.js';
import type {TuneFlags} from '../options.js';
import {quick, settings, values} from './args.js';
import {decisionLines, figuresOf, fmt, headerLines, machineLine, manualLines, mean, oracleLines, overheadLines, target, targetLines, walkLines, whyShort} from './markdown.js';
import type {AppRun, Round, SideBySide, Walks} from './markdown.js';
import {benchOptions, cliPath, log, measureFresh, oracle, overhead, primeRates, walkOnce} from './walks.js';
import type {OracleRun, WalkRun} from './walks.js';

async function main(): Promise<void> {
	const started = new Date();
	const home = mkdtempSync(path.join(os.tmpdir(), 'gt-bench-'));
	try {
		await benchIn(home, started);
	} finally {
		rmSync(home, {recursive: true, force: true});
	}
}

const LLM_START = '<!-- llm:start -->';
const LLM_END = '<!-- llm:end -->';

/**
 * Section 6: a Llama-style folder from a config (make_llama.py --confident: its greedy tokens
 * hold under small numeric changes, as a trained model's do, so lossy steps can be kept),
 * walked with the short and the long budget, both winners then measured side by side.
 */
async function llmSection(home: string, python: string, fresh: () => string, machine: string): Promise<string[]> {
	if (!settings.llm) return [];
	const [hidden, layers] = settings.llm.split('x').map(Number);
	const folder = path.join(home, 'llama');
	await execa(python, [path.join(packageRoot, 'test', 'fixtures', 'make_llama.py'), folder, '--hidden', String(hidden), '--layers', String(layers), '--vocab', '8000', '--positions', '512', '--confident']);
	const model = {path: folder, task: 'generate' as const};
	log(`6. A language model generating: Llama-style ${settings.llm} (hidden x layers), prompts of 128 tokens, 64 new`);
	const shortRun = await walkOnce(`llama ${settings.llm}, ${settings.short} s`, model, settings.short, fresh());
	const longRun = await walkOnce(`llama ${settings.llm}, ${settings.long} s`, model, settings.long, fresh());
	const side: Array<{short: ProbeResult | null; long: ProbeResult | null}> = [];
	for (let round = 1; round <= settings.rounds; round++) {
		side.push({
			long: longRun.result ? await measureFresh(`round ${round} llama long winner`, longRun.result.best.candidate, python, settings.seconds) : null,
			short: shortRun.result ? await measureFresh(`round ${round} llama short winner`, shortRun.result.best.candidate, python, settings.seconds) : null,
		});
	}
	const longFigure = mean(side.map(r => r.long?.samplesPerSecond.median));
	const shortFigure = mean(side.map(r => r.short?.samplesPerSecond.median));
	const share = longFigure !== null && shortFigure !== null ? shortFigure / longFigure : null;
	const g = (w: WalkRun) => (w.result?.verification?.best ?? w.result?.best.result)?.generation;
	const row = (w: WalkRun) => `| ${w.label} | ${w.budgetSeconds} s | ${w.wallSeconds.toFixed(0)} s | ${w.result ? describeCandidate(w.result.best.candidate) : 'failed'} | ${w.samplesPerSecond?.toFixed(1) ?? '-'} | ${g(w) ? `${g(w)!.ttftMs.p50.toFixed(0)} ms` : '-'} | ${w.speedup?.toFixed(2) ?? '-'}× | ${w.limits[1]?.replace(/^best: /, '') ?? '-'} |`;
	return [
		LLM_START,
		`## A language model generating (Llama-style ${settings.llm}, from a config)`,
		'',
		`- Command: \`npm run bench -- --only llm${quick ? ' --quick' : ''}${values.llm ? ` --llm ${values.llm}` : ''}\` (or the whole bench); date ${new Date().toISOString()}`,
		`- Machine: ${machine}`,
		`- Model: make_llama.py --hidden ${hidden} --layers ${layers} --vocab 8000 --confident (greedy tokens that hold under small numeric changes); prompts of 128 tokens, 64 new, greedy; the figure is decode tokens/s over all sequences`,
		'',
		target(`the ${settings.short} s winner against the ${settings.long} s winner (llama ${settings.llm}, side by side)`, share, 0.9, 'ratio', shortRun.result && longRun.result ? whyShort(shortRun, longRun) : ''),
		'',
		'| walk | budget | took | winner | decode tokens/s (verified) | first token | speedup | share of the bandwidth limit |',
		'|---|---|---|---|---|---|---|---|',
		row(shortRun),
		row(longRun),
		'',
		`Side by side, fresh probes of ${settings.seconds} s, decode tokens/s: long winner ${side.map(r => fmt(r.long)).join(', ')}; short winner ${side.map(r => fmt(r.short)).join(', ')}.`,
		'',
		...(longRun.limits.length ? ['Distance to the limit, the long walk:', '', ...longRun.limits.map(l => `- ${l}`), ''] : []),
		...[shortRun, longRun].flatMap(w => [`### The walk's decisions: ${w.label}`, '', ...(w.plan ? [w.plan, ''] : []), ...(w.result?.decisions ?? []).map(d => `- ${d.title}: ${d.outcome}${d.samplesPerSecond ? ` (${d.samplesPerSecond.toFixed(1)} tokens/s)` : ''} — ${d.reason}`), '']),
		LLM_END,
	];
}

/** Section 6 alone: its lines replace the section between the markers of the output file (appended when absent). */
async function llmOnly(home: string): Promise<void> {
	const prepared = await prepare({model: {name: 'toy'}});
	const python = prepared.python.interpreter;
	if (!python || !prepared.python.torch) throw new Error(`no usable Python with torch: ${prepared.python.problem?.hint ?? 'graviton-tune setup'}`);
	const rates = await primeRates(prepared);
	log(`  rates: ${rates ? describeRates(rates) : 'not measured'}`);
	const section = (await llmSection(home, python, () => mkdtempSync(path.join(home, 'h-')), machineLine(prepared, rates))).join('\n');
	const before = existsSync(settings.output) ? readFileSync(settings.output, 'utf8') : '# Benchmarks\n';
	const start = before.indexOf(LLM_START);
	const end = before.indexOf(LLM_END);
	const text = start >= 0 && end > start ? before.slice(0, start) + section + before.slice(end + LLM_END.length) : `${before.trimEnd()}\n\n${section}\n`;
	writeFileSync(settings.output, text);
	log(`Wrote section 6 into ${settings.output}`);
}

/** The whole bench: every section measured (overhead first, while nothing else runs), then BENCHMARKS.md written from them. */
async function benchIn(home: string, started: Date): Promise<void> {
	if (values.only === 'llm') return llmOnly(home);
	const fresh = () => mkdtempSync(path.join(home, 'h-'));
	benchOptions.cacheDir = mkdtempSync(path.join(home, 'cache-'));
	const model = {name: settings.model};
	const prepared = await prepare({model});
	const python = prepared.python.interpreter;
	if (!python || !prepared.python.torch) throw new Error(`no usable Python with torch: ${prepared.python.problem?.hint ?? 'graviton-tune setup'}`);

	log('5. Overhead first, while nothing else runs');
	const over = await overhead(cliPath, python);
	// The matmul rates once, before the walks: their times are the walks' own.
	const rates = await primeRates(prepared);
	log(`  matmul rates: ${rates ? describeRates(rates) : 'not measured'}`);

	const walks = await shortAndLong(model, fresh);
	log(`2. Oracle on ${settings.oracleModel}`);
	const orc: OracleRun = await oracle({name: settings.oracleModel}, settings.oracleWalk, settings.oracleTime, settings.seconds, fresh());
	const side = await measureSideBySide(walks, prepared, python);
	const llmLines = await llmSection(home, python, fresh, machineLine(prepared, rates));
	const app = await launchApp(home, model, python, side.result, prepared, started);

	const figures = figuresOf(walks, side, orc);
	const lines = [
		...headerLines(started, prepared, rates),
		...targetLines(walks, figures, orc),
		...walkLines(walks),
		...oracleLines(orc),
		...manualLines(side, app, figures.longFigure),
		...overheadLines(over),
		...decisionLines(walks),
		...llmLines,
	];
	writeFileSync(settings.output, lines.join('\n'));
	log(`Wrote ${settings.output}`);
}

/** Section 1: the short and the long walk on the model, the short one run again, then the transformer's short and long. */
async function shortAndLong(model: ModelSpec, fresh: () => string): Promise<Walks> {
	log(`1. Short and long answers on ${settings.model}${settings.transformer ? ` and ${settings.transformer}` : ''}`);
	const short: WalkRun[] = [];
	const main1 = await walkOnce(`${settings.model}, ${settings.short} s`, model, settings.short, fresh());
	short.push(main1);
	const long = await walkOnce(`${settings.model}, ${settings.long} s`, model, settings.long, fresh());
	for (let i = 2; i <= settings.reruns; i++) short.push(await walkOnce(`${settings.model}, ${settings.short} s (run ${i})`, model, settings.short, fresh()));
	const transformerRuns: WalkRun[] = [];
	if (settings.transformer) {
		const tmodel = {name: settings.transformer};
		transformerRuns.push(await walkOnce(`${settings.transformer}, ${settings.short} s`, tmodel, settings.short, fresh()));
		transformerRuns.push(await walkOnce(`${settings.transformer}, ${settings.long} s`, tmodel, settings.long, fresh()));
	}
	return {short, main1, long, transformerRuns};
}

/** Section 3: baseline, the published manual walk's best step and the walks' winners, fresh probes side by side, round by round. */
async function measureSideBySide(walks: Walks, prepared: Prepared, python: string): Promise<SideBySide> {
	const {main1, long, transformerRuns} = walks;
	log(`3. Side by side, fresh probes, ${settings.rounds} round(s): baseline, manual walk, the long walk's winner, the short walk's winner`);
	const result = long.result ?? main1.result;
	if (!result) throw new Error('the walks failed at their baseline');
	const base = result.baseline.candidate;
	const tcmalloc = prepared.detection.allocators.tcmalloc;
	const manual: Candidate = {
		config: {...base.config, batchSize: 8, channelsLast: true, autocast: 'bf16', compile: true},
		env: {...(tcmalloc ? {LD_PRELOAD: tcmalloc} : {}), THP_MEM_ALLOC_ENABLE: '1'},
		recipes: ['published manual walk'],
	};
	const rounds: Round[] = [];
	const [tShortRun, tLongRun] = transformerRuns;
	for (let round = 1; round <= settings.rounds; round++) {
		rounds.push({
			baseline: await measureFresh(`round ${round} baseline`, base, python, settings.seconds),
			manual: await measureFresh(`round ${round} manual walk`, manual, python, settings.seconds),
			long: long.result ? await measureFresh(`round ${round} long winner`, long.result.best.candidate, python, settings.seconds) : null,
			short: main1.result ? await measureFresh(`round ${round} short winner`, main1.result.best.candidate, python, settings.seconds) : null,
			// The transformer's short and long answers, side by side too.
			tLong: tLongRun?.result ? await measureFresh(`round ${round} ${settings.transformer} long winner`, tLongRun.result.best.candidate, python, settings.seconds) : null,
			tShort: tShortRun?.result ? await measureFresh(`round ${round} ${settings.transformer} short winner`, tShortRun.result.best.candidate, python, settings.seconds) : null,
		});
	}
	return {result, manual, rounds, rerunMeasured: await measureReruns(walks, rounds, python)};
}

/**
 * The reruns' winners side by side too: each distinct configuration once per round (the
 * first run's is the short winner above), so their spread is theirs, not the machine's drift.
 */
async function measureReruns(walks: Walks, rounds: Round[], python: string): Promise<Map<string, number[]>> {
	const {main1, short} = walks;
	const rerunMeasured = new Map<string, number[]>();
	if (main1.result) rerunMeasured.set(candidateKey(main1.result.best.candidate), rounds.map(r => r.short?.samplesPerSecond.median).filter((x): x is number => x !== undefined));
	for (const w of short.slice(1)) {
		const key = w.result ? candidateKey(w.result.best.candidate) : null;
		if (!w.result || !key || rerunMeasured.has(key)) continue;
		const figures: number[] = [];
		for (let round = 1; round <= settings.rounds; round++) {
			const r = await measureFresh(`round ${round} ${w.label} winner`, w.result.best.candidate, python, settings.seconds);
			if (r) figures.push(r.samplesPerSecond.median);
		}
		rerunMeasured.set(key, figures);
	}
	return rerunMeasured;
}

/** Section 4: the files written for the result, then launch.sh running examples/sample_app.py with them. */
async function launchApp(home: string, model: {name: string}, python: string, result: WalkResult, prepared: Prepared, started: Date): Promise<AppRun> {
	log('4. The written files: launch.sh running examples/sample_app.py');
	const out = path.join(home, 'out');
	const appSeconds = quick ? 5 : 20;
	const app = [python, path.join(packageRoot, 'examples', 'sample_app.py'), '--runtime-dir', out, '--model', model.name];
	const tune: TuneFlags = {model, budgetSeconds: 0, out, json: false, maxLatencyMs: null, app, resume: false, minCosine: 0.99, minTop1: 0.99, maxAccuracyDrop: 0.01, yes: true, pricePerHour: null, quietWaitSeconds: DEFAULT_QUIET_WAIT_SECONDS};
	await commitDelivery(await planDelivery({result, prepared, tune, startedAt: started}));
	const launched = await execa('bash', [path.join(out, 'launch.sh'), '--seconds', String(appSeconds)], {env: cleanEnv(), extendEnv: false});
	const app_ = JSON.parse(launched.stdout.trim().split('\n').at(-1)!) as {samplesPerSecond: number; workers: number};
	return {seconds: appSeconds, samplesPerSecond: app_.samplesPerSecond, workers: app_.workers};
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
