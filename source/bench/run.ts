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
import {execa} from 'execa';
import {existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {DEFAULT_QUIET_WAIT_SECONDS} from '../core/machine/index.js';
import {commitDelivery, planDelivery} from '../core/report/index.js';
import {describeRates, summaryLine} from '../core/machine/index.js';
import {packageRoot} from '../core/paths.js';
import {prepare} from '../core/walk/index.js';
import type {Prepared} from '../core/walk/index.js';
import type {MatmulRates} from '../core/settings.js';
import {describeCandidate} from '../core/report/index.js';
import {candidateKey} from '../core/walk/index.js';
import type {Candidate, ProbeResult} from '../core/types.js';
import type {TuneFlags} from '../options.js';
import {parseDuration} from '../options.js';
import {benchOptions, cliPath, confirmTop, log, measureFresh, oracle, oracleGoal, oracleShare, overhead, primeRates, walkOnce} from './walks.js';
import type {OracleRun, WalkRun} from './walks.js';

const {values} = parseArgs({
	options: {
		quick: {type: 'boolean', default: false},
		model: {type: 'string'},
		transformer: {type: 'string'},
		short: {type: 'string'},
		long: {type: 'string'},
		reruns: {type: 'string'},
		'oracle-model': {type: 'string'},
		'oracle-walk': {type: 'string'},
		'oracle-time': {type: 'string'},
		seconds: {type: 'string'},
		rounds: {type: 'string'},
		output: {type: 'string'},
		only: {type: 'string'},
		llm: {type: 'string'},
	},
});
if (values.only !== undefined && values.only !== 'llm') throw new Error(`--only ${values.only}: only "llm" (section 6) runs alone`);
const quick = values.quick!;
/**
 * Defaults sized so the whole run fits 45 minutes on a 2-vCPU machine: resnet50 3 × 3 min
 * + 10 min, bert_base 3 + 10 min, the oracle's walk (the long budget, as issue 12's target
 * reads: the 10-minute winner against the oracle) and its
 * combinations 4 min, one side-by-side round (~4 min with two compiles), overhead and model
 * checks (~2 min). Walks end when their steps are done, mostly well before their budgets.
 */
const long = parseDuration(values.long ?? (quick ? '90s' : '10m'), '--long');
const settings = {
	model: values.model ?? (quick ? 'toy' : 'resnet50'),
	transformer: values.transformer ?? (quick ? '' : 'bert_base'),
	short: parseDuration(values.short ?? (quick ? '50s' : '3m'), '--short'),
	long,
	reruns: Number(values.reruns ?? 3),
	oracleModel: values['oracle-model'] ?? (quick ? 'toy' : 'resnet18'),
	oracleWalk: values['oracle-walk'] ? parseDuration(values['oracle-walk'], '--oracle-walk') : long,
	oracleTime: parseDuration(values['oracle-time'] ?? (quick ? '60s' : '4m'), '--oracle-time'),
	rounds: Number(values.rounds ?? 1),
	seconds: Number(values.seconds ?? (quick ? 3 : 10)),
	output: values.output ?? (quick ? path.join(os.tmpdir(), 'graviton-tune-bench-quick.md') : path.join(packageRoot, 'BENCHMARKS.md')),
	/** The language model's size for make_llama.py (hidden width x layers); '' leaves section 6 out. */
	llm: values.llm ?? (quick ? '64x2' : '512x8'),
};

if (quick) benchOptions.quietWaitSeconds = 0;

const fmt = (r: ProbeResult | null) => (r ? r.samplesPerSecond.median.toFixed(1) : 'failed');
/** A share as a percentage; two decimals where one would read 0.0 (a target missed by a hair). */
const pct = (x: number) => `${(x * 100).toFixed(Math.abs(x) < 0.001 && x !== 0 ? 2 : 1)}%`;

/** A target, marked met or missed, with by how much. */
function target(name: string, value: number | null, goal: number, unit: 'ratio' | 'spread', why = ''): string {
	if (value === null) return `- ${name}: not measured (a walk or probe failed)${why ? `; ${why}` : ''}`;
	const met = unit === 'spread' ? value <= goal : value >= goal;
	const shown = unit === 'spread' ? `${pct(value)} (target at most ${pct(goal)})` : `${pct(value)} (target at least ${pct(goal)})`;
	const by = met ? '' : unit === 'spread' ? `, over by ${pct(value - goal)}` : `, short by ${pct(goal - value)}`;
	return `- ${name}: **${met ? 'met' : 'missed'}**, ${shown}${by}${!met && why ? `; ${why}` : ''}`;
}

function walkRow(w: WalkRun): string {
	const r = w.result;
	return `| ${w.label} | ${w.budgetSeconds} s | ${w.wallSeconds.toFixed(0)} s | ${r ? describeCandidate(r.best.candidate) : 'failed'} | ${w.samplesPerSecond?.toFixed(1) ?? '-'} | ${w.speedup?.toFixed(2) ?? '-'}× | ${w.limits[1]?.replace(/^best: /, '') ?? '-'} |`;
}

/** Why a short answer fell short: what the long walk kept that the short one did not reach. */
function whyShort(short: WalkRun, long: WalkRun): string {
	const kept = (w: WalkRun) => new Set(w.result?.best.candidate.recipes ?? []);
	const missing = [...kept(long)].filter(id => !kept(short).has(id));
	const skipped = short.result?.decisions.filter(d => d.outcome === 'skipped').map(d => d.recipeId ?? d.title) ?? [];
	return missing.length ? `the long walk kept ${missing.join(', ')}, which the short one ${missing.some(id => skipped.includes(id)) ? 'had no time for' : 'did not keep'}` : 'both kept the same recipes: the difference is batch size or noise';
}

async function main(): Promise<void> {
	const started = new Date();
	const home = mkdtempSync(path.join(os.tmpdir(), 'gt-bench-'));
	try {
		await benchIn(home, started);
	} finally {
		rmSync(home, {recursive: true, force: true});
	}
}

/** "Intel(R) Xeon(R) Processor, 2 vCPU, AVX-512, VNNI (the ISA detect names), 2 usable CPUs, torch 2.13.0+cpu; rates on all usable threads: …". */
function machineLine(prepared: Prepared, rates: MatmulRates | null): string {
	const isa = summaryLine(prepared.detection).replace(/ — .*$/, '');
	return `${isa} (the ISA detect names; what it does not name, this CPU lacks), ${prepared.detection.usableCpus} usable CPUs, torch ${prepared.python.torch?.version ?? 'unknown'}; rates on all usable threads: ${rates ? describeRates(rates) : 'not measured'}`;
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
	const mean = (xs: Array<number | undefined>) => {
		const ok = xs.filter((x): x is number => typeof x === 'number');
		return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
	};
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

	log(`2. Oracle on ${settings.oracleModel}`);
	const orc: OracleRun = await oracle({name: settings.oracleModel}, settings.oracleWalk, settings.oracleTime, settings.seconds, fresh());

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
	const rounds: Array<{baseline: ProbeResult | null; manual: ProbeResult | null; long: ProbeResult | null; short: ProbeResult | null; tLong: ProbeResult | null; tShort: ProbeResult | null}> = [];
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
	// The reruns' winners side by side too: each distinct configuration once per round (the
	// first run's is the short winner above), so their spread is theirs, not the machine's drift.
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

	const llmLines = await llmSection(home, python, fresh, machineLine(prepared, rates));

	log('4. The written files: launch.sh running examples/sample_app.py');
	const out = path.join(home, 'out');
	const appSeconds = quick ? 5 : 20;
	const app = [python, path.join(packageRoot, 'examples', 'sample_app.py'), '--runtime-dir', out, '--model', model.name];
	const tune: TuneFlags = {model, budgetSeconds: 0, out, json: false, maxLatencyMs: null, app, resume: false, minCosine: 0.99, minTop1: 0.99, maxAccuracyDrop: 0.01, yes: true, pricePerHour: null, quietWaitSeconds: DEFAULT_QUIET_WAIT_SECONDS};
	await commitDelivery(await planDelivery({result, prepared, tune, startedAt: started}));
	const launched = await execa('bash', [path.join(out, 'launch.sh'), '--seconds', String(appSeconds)], {env: cleanEnv(), extendEnv: false});
	const app_ = JSON.parse(launched.stdout.trim().split('\n').at(-1)!) as {samplesPerSecond: number; workers: number};
	const mean = (xs: Array<number | null | undefined>) => {
		const ok = xs.filter((x): x is number => typeof x === 'number');
		return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
	};
	const longFigure = mean(rounds.map(r => r.long?.samplesPerSecond.median));
	const shortFigure = mean(rounds.map(r => r.short?.samplesPerSecond.median));

	// Targets, from figures measured side by side in this run.
	const shortShare = shortFigure !== null && longFigure !== null ? shortFigure / longFigure : null;
	const tLongFigure = mean(rounds.map(r => r.tLong?.samplesPerSecond.median));
	const tShortFigure = mean(rounds.map(r => r.tShort?.samplesPerSecond.median));
	const tShortShare = tShortFigure !== null && tLongFigure !== null ? tShortFigure / tLongFigure : null;
	const oracleShare_ = oracleShare(orc);
	const sideBySide = short.map(w => {
		const figures = w.result ? rerunMeasured.get(candidateKey(w.result.best.candidate)) : undefined;
		return figures?.length ? figures.reduce((a, b) => a + b, 0) / figures.length : null;
	});
	const rerunFigures = sideBySide.filter((x): x is number => x !== null);
	const spread = rerunFigures.length >= 2 && rerunFigures.length === short.length ? (Math.max(...rerunFigures) - Math.min(...rerunFigures)) / Math.max(...rerunFigures) : null;
	const distinct = new Set(short.map(w => (w.result ? candidateKey(w.result.best.candidate) : 'failed'))).size;
	const overBudget = [...short, long, ...transformerRuns].map(w => w.wallSeconds - w.budgetSeconds);
	const worstOver = overBudget.length ? Math.max(...overBudget) : null;

	const ratio = (a: ProbeResult | null, b: ProbeResult | null) => (a && b ? (a.samplesPerSecond.median / b.samplesPerSecond.median).toFixed(2) : 'n/a');
	const ms = (x: number | null) => (x === null ? 'n/a' : `${(x / 1000).toFixed(2)} s`);
	// Every option as given, so the line reproduces the run (an empty value as '').
	const given = Object.entries(values).filter(([, v]) => v !== undefined && v !== false).map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v === '' ? "''" : String(v)}`));
	const command = ['npm run bench --', ...given].join(' ');
	const lines = [
		'# Benchmarks',
		'',
		'Figures measured by `npm run bench` (source/bench/run.ts, source/bench/walks.ts); only what was',
		'measured, on the machine named below. Compare ratios within one run, not across runs.',
		'',
		`- Command: \`${command}\` (from a fresh clone: \`npm ci && npm run build && npx graviton-tune setup && ${command}\`${quick ? '' : '; sized for 45 minutes on 2 vCPUs'})`,
		`- Date: ${started.toISOString()}; took ${((Date.now() - started.getTime()) / 60000).toFixed(1)} min`,
		`- Machine: ${machineLine(prepared, rates)}`,
		...(quick ? ['- **--quick**: a smoke test of the harness on a toy model with tiny budgets; the figures say nothing about the tool.'] : []),
		'',
		'## Targets',
		'',
		target(`the ${settings.short} s winner against the ${settings.long} s winner (${settings.model}, side by side)`, shortShare, 0.9, 'ratio', main1.result && long.result ? whyShort(main1, long) : ''),
		...(settings.transformer ? [target(`the ${settings.short} s winner against the ${settings.long} s winner (${settings.transformer}, side by side)`, tShortShare, 0.9, 'ratio', tShortRun && tLongRun ? whyShort(tShortRun, tLongRun) : '')] : []),
		target(`the walk's winner against the oracle (${settings.oracleModel}, ${orc.measured.length} of ${orc.possible} combinations, walk budget ${settings.oracleWalk} s)`, oracleShare_, oracleGoal, 'ratio', orc.oracle ? `the oracle's best: ${describeCandidate(orc.oracle.candidate)}` : ''),
		target(`${short.length} runs of the ${settings.short} s walk, spread of their winners (${distinct} distinct configuration${distinct === 1 ? '' : 's'}, measured side by side: ${sideBySide.map(x => x?.toFixed(1) ?? 'n/a').join(', ')} samples/s; as each walk verified them: ${short.map(w => w.samplesPerSecond?.toFixed(1) ?? 'n/a').join(', ')})`, spread, 0.05, 'spread', 'the winners differ in configuration'),
		worstOver === null ? '- every answer within its budget: not measured' : worstOver <= 0
			? `- every answer within its budget: **met** (the closest ended ${(-worstOver).toFixed(0)} s before its budget)`
			: `- every answer within its budget: **missed**, by ${worstOver.toFixed(0)} s at worst (the final verification, or a probe stopped at its deadline, ran past the budget)`,
		'',
		'## Short and long answers',
		'',
		'| walk | budget | took | winner | samples/s (verified) | speedup | share of the matmul rate |',
		'|---|---|---|---|---|---|---|',
		...[...short, long, ...transformerRuns].map(walkRow),
		'',
		...(main1.limits.length ? ['Distance to the limit, the short walk on ' + settings.model + ':', '', ...main1.limits.map(l => `- ${l}`), ''] : []),
		...(long.limits.length ? ['Distance to the limit, the long walk on ' + settings.model + ':', '', ...long.limits.map(l => `- ${l}`), ''] : []),
		`## Oracle: ${settings.oracleModel}`,
		'',
		`The walk (${settings.oracleWalk} s) chose ${orc.walk.result ? describeCandidate(orc.walk.result.best.candidate) : 'nothing (failed)'}; measured first and last among the combinations, ${orc.winnerFigure?.toFixed(1) ?? 'n/a'} samples/s (mean).`,
		`${orc.measured.length} of ${orc.possible} combinations measured (${settings.seconds} s each, seeded random order, within ${settings.oracleTime} s); the best: ${orc.oracle ? `${describeCandidate(orc.oracle.candidate)}, ${orc.oracle.samplesPerSecond.toFixed(1)} samples/s` : 'none'}.`,
		'',
		'| combination | samples/s |',
		'|---|---|',
		...orc.measured.slice().sort((a, b) => (b.samplesPerSecond ?? -1) - (a.samplesPerSecond ?? -1)).map(m => `| ${describeCandidate(m.candidate)} | ${m.samplesPerSecond?.toFixed(1) ?? 'failed'} |`),
		'',
		...(orc.confirmed.length
			? [
				`The best of many single figures is biased upward by the noise it was picked from, so the combinations whose single figure alone`,
				`would put the walk winner under ${pct(oracleGoal)} (the best ${confirmTop} at most) were measured again side by side with it; the target rests on`,
				'these ratios (and on the single figures of the rest):',
				'',
				'| combination | single figure | side by side, over the walk winner (95% interval) | how |',
				'|---|---|---|---|',
				...orc.confirmed.map(c => `| ${describeCandidate(c.candidate)} | ${c.single.toFixed(1)} | ${c.ratio.toFixed(3)} [${c.low.toFixed(3)}, ${c.high.toFixed(3)}] | ${c.how} |`),
				'',
			]
			: []),
		`## ${settings.model}: the walk against the published manual walk`,
		'',
		`- Manual walk's best step: ${describeCandidate(manual)}`,
		'',
		`Side by side, each a fresh probe of ${settings.seconds} s, samples/s (median):`,
		'',
		'| round | baseline (fp32, batch 1) | manual walk | long winner | short winner | long / manual | long / baseline | short / long |',
		'|---|---|---|---|---|---|---|---|',
		...rounds.map((r, i) => `| ${i + 1} | ${fmt(r.baseline)} | ${fmt(r.manual)} | ${fmt(r.long)} | ${fmt(r.short)} | ${ratio(r.long, r.manual)} | ${ratio(r.long, r.baseline)} | ${ratio(r.short, r.long)} |`),
		...(settings.transformer ? [
			'',
			`${settings.transformer}, the same rounds: long winner ${rounds.map(r => fmt(r.tLong)).join(', ')}, short winner ${rounds.map(r => fmt(r.tShort)).join(', ')} samples/s (short / long ${rounds.map(r => ratio(r.tShort, r.tLong)).join(', ')}).`,
		] : []),
		'',
		'Deployed files reproduce the figure: `launch.sh` (sourcing graviton-tune.env) running',
		`\`examples/sample_app.py\` for ${appSeconds} s gave ${app_.samplesPerSecond.toFixed(1)} samples/s with ${app_.workers} worker(s)${longFigure ? `, ${((app_.samplesPerSecond / longFigure) * 100).toFixed(0)}% of the winner's probe figure (${longFigure.toFixed(1)}, mean of ${settings.rounds} round(s))` : ''}.`,
		'',
		'## The tool\'s own overhead',
		'',
		`- Time to the first frame of the interactive screen (under script(1)): ${ms(over.firstFrameMs)}`,
		`- \`graviton-tune detect --json\`: ${ms(over.detectJsonMs)}`,
		`- A probe's start-up (spawn to its start event, torch imported): ${ms(over.probeStartMs)}; to its result (toy model, 1 s measured): ${ms(over.probeResultMs)}`,
		'',
		...[long, ...short, ...transformerRuns].flatMap(w => [
			`## The walk's decisions: ${w.label}`,
			'',
			...(w.plan ? [`${w.plan}`, ''] : []),
			...(w.result?.decisions ?? []).map(d => `- ${d.title}: ${d.outcome}${d.samplesPerSecond ? ` (${d.samplesPerSecond.toFixed(1)} samples/s)` : ''} — ${d.reason}`),
			'',
		]),
		...llmLines,
	];
	writeFileSync(settings.output, lines.join('\n'));
	log(`Wrote ${settings.output}`);
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
