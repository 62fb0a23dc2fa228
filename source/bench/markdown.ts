// BENCHMARKS.md in words: what run.ts measured, said as targets met or missed (and by how
// much), the tables of each section, and every walk's decisions. Only the figures measured
// in the run are written; nothing here measures.
import {describeRates, summaryLine} from '../core/machine/index.js';
import {describeCandidate} from '../core/report/index.js';
import {candidateKey} from '../core/walk/index.js';
import type {Prepared} from '../core/walk/index.js';
import type {MatmulRates} from '../core/settings.js';
import type {Candidate, ProbeResult, WalkResult} from '../core/types.js';
import {quick, settings, values} from './args.js';
import {confirmTop, oracleGoal, oracleShare} from './walks.js';
import type {OracleRun, Overhead, WalkRun} from './walks.js';

export const fmt = (r: ProbeResult | null) => (r ? r.samplesPerSecond.median.toFixed(1) : 'failed');
/** A share as a percentage; two decimals where one would read 0.0 (a target missed by a hair). */
const pct = (x: number) => `${(x * 100).toFixed(Math.abs(x) < 0.001 && x !== 0 ? 2 : 1)}%`;

/** A target, marked met or missed, with by how much. */
export function target(name: string, value: number | null, goal: number, unit: 'ratio' | 'spread', why = ''): string {
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
export function whyShort(short: WalkRun, long: WalkRun): string {
	const kept = (w: WalkRun) => new Set(w.result?.best.candidate.recipes ?? []);
	const missing = [...kept(long)].filter(id => !kept(short).has(id));
	const skipped = short.result?.decisions.filter(d => d.outcome === 'skipped').map(d => d.recipeId ?? d.title) ?? [];
	return missing.length ? `the long walk kept ${missing.join(', ')}, which the short one ${missing.some(id => skipped.includes(id)) ? 'had no time for' : 'did not keep'}` : 'both kept the same recipes: the difference is batch size or noise';
}

/** "Intel(R) Xeon(R) Processor, 2 vCPU, AVX-512, VNNI (the ISA detect names), 2 usable CPUs, torch 2.13.0+cpu; rates on all usable threads: …". */
export function machineLine(prepared: Prepared, rates: MatmulRates | null): string {
	const isa = summaryLine(prepared.detection).replace(/ — .*$/, '');
	return `${isa} (the ISA detect names; what it does not name, this CPU lacks), ${prepared.detection.usableCpus} usable CPUs, torch ${prepared.python.torch?.version ?? 'unknown'}; rates on all usable threads: ${rates ? describeRates(rates) : 'not measured'}`;
}

/** Section 1's walks on the main model, and the transformer's. */
export interface Walks {
	/** Every run of the short walk, `main1` first. */
	short: WalkRun[];
	main1: WalkRun;
	long: WalkRun;
	/** The transformer's short and long walks (none without a transformer). */
	transformerRuns: WalkRun[];
}

/** One round of section 3: each configuration's fresh probe (null: its walk or probe failed). */
export interface Round {
	baseline: ProbeResult | null;
	manual: ProbeResult | null;
	long: ProbeResult | null;
	short: ProbeResult | null;
	tLong: ProbeResult | null;
	tShort: ProbeResult | null;
}

/** Section 3, measured: the result delivered in section 4, the manual walk's best step, the rounds, and the reruns' winners per configuration. */
export interface SideBySide {
	result: WalkResult;
	manual: Candidate;
	rounds: Round[];
	rerunMeasured: Map<string, number[]>;
}

/** What launch.sh running the sample app gave: for how long, its throughput and its workers. */
export interface AppRun {
	seconds: number;
	samplesPerSecond: number;
	workers: number;
}

/** The mean of the figures there are; null when there are none. */
export function mean(xs: Array<number | null | undefined>): number | null {
	const ok = xs.filter((x): x is number => typeof x === 'number');
	return ok.length ? ok.reduce((a, b) => a + b, 0) / ok.length : null;
}

/** The figures the targets rest on, from what was measured side by side in this run. */
interface Figures {
	longFigure: number | null;
	shortShare: number | null;
	tShortShare: number | null;
	oracleShare: number | null;
	/** Each short walk's winner as measured side by side (null: not measured). */
	sideBySide: Array<number | null>;
	spread: number | null;
	distinct: number;
	worstOver: number | null;
}

export function figuresOf(walks: Walks, side: SideBySide, orc: OracleRun): Figures {
	const {short, long, transformerRuns} = walks;
	const {rounds} = side;
	const longFigure = mean(rounds.map(r => r.long?.samplesPerSecond.median));
	const shortFigure = mean(rounds.map(r => r.short?.samplesPerSecond.median));
	const shortShare = shortFigure !== null && longFigure !== null ? shortFigure / longFigure : null;
	const tLongFigure = mean(rounds.map(r => r.tLong?.samplesPerSecond.median));
	const tShortFigure = mean(rounds.map(r => r.tShort?.samplesPerSecond.median));
	const tShortShare = tShortFigure !== null && tLongFigure !== null ? tShortFigure / tLongFigure : null;
	const sideBySide = short.map(w => {
		const figures = w.result ? side.rerunMeasured.get(candidateKey(w.result.best.candidate)) : undefined;
		return figures?.length ? figures.reduce((a, b) => a + b, 0) / figures.length : null;
	});
	const rerunFigures = sideBySide.filter((x): x is number => x !== null);
	const spread = rerunFigures.length >= 2 && rerunFigures.length === short.length ? (Math.max(...rerunFigures) - Math.min(...rerunFigures)) / Math.max(...rerunFigures) : null;
	const distinct = new Set(short.map(w => (w.result ? candidateKey(w.result.best.candidate) : 'failed'))).size;
	const overBudget = [...short, long, ...transformerRuns].map(w => w.wallSeconds - w.budgetSeconds);
	const worstOver = overBudget.length ? Math.max(...overBudget) : null;
	return {longFigure, shortShare, tShortShare, oracleShare: oracleShare(orc), sideBySide, spread, distinct, worstOver};
}

/** The title, the command that reproduces the run, when, and the machine. */
export function headerLines(started: Date, prepared: Prepared, rates: MatmulRates | null): string[] {
	// Every option as given, so the line reproduces the run (an empty value as '').
	const given = Object.entries(values).filter(([, v]) => v !== undefined && v !== false).map(([k, v]) => (v === true ? `--${k}` : `--${k} ${v === '' ? "''" : String(v)}`));
	const command = ['npm run bench --', ...given].join(' ');
	return [
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
	];
}

/** Each target, met or missed. */
export function targetLines(walks: Walks, f: Figures, orc: OracleRun): string[] {
	const {short, main1, long, transformerRuns} = walks;
	const [tShortRun, tLongRun] = transformerRuns;
	return [
		'## Targets',
		'',
		target(`the ${settings.short} s winner against the ${settings.long} s winner (${settings.model}, side by side)`, f.shortShare, 0.9, 'ratio', main1.result && long.result ? whyShort(main1, long) : ''),
		...(settings.transformer ? [target(`the ${settings.short} s winner against the ${settings.long} s winner (${settings.transformer}, side by side)`, f.tShortShare, 0.9, 'ratio', tShortRun && tLongRun ? whyShort(tShortRun, tLongRun) : '')] : []),
		target(`the walk's winner against the oracle (${settings.oracleModel}, ${orc.measured.length} of ${orc.possible} combinations, walk budget ${settings.oracleWalk} s)`, f.oracleShare, oracleGoal, 'ratio', orc.oracle ? `the oracle's best: ${describeCandidate(orc.oracle.candidate)}` : ''),
		target(`${short.length} runs of the ${settings.short} s walk, spread of their winners (${f.distinct} distinct configuration${f.distinct === 1 ? '' : 's'}, measured side by side: ${f.sideBySide.map(x => x?.toFixed(1) ?? 'n/a').join(', ')} samples/s; as each walk verified them: ${short.map(w => w.samplesPerSecond?.toFixed(1) ?? 'n/a').join(', ')})`, f.spread, 0.05, 'spread', 'the winners differ in configuration'),
		f.worstOver === null ? '- every answer within its budget: not measured' : f.worstOver <= 0
			? `- every answer within its budget: **met** (the closest ended ${(-f.worstOver).toFixed(0)} s before its budget)`
			: `- every answer within its budget: **missed**, by ${f.worstOver.toFixed(0)} s at worst (the final verification, or a probe stopped at its deadline, ran past the budget)`,
		'',
	];
}

/** Section 1's table, and the distance to the limit of the model's short and long walks. */
export function walkLines(walks: Walks): string[] {
	const {short, main1, long, transformerRuns} = walks;
	return [
		'## Short and long answers',
		'',
		'| walk | budget | took | winner | samples/s (verified) | speedup | share of the matmul rate |',
		'|---|---|---|---|---|---|---|',
		...[...short, long, ...transformerRuns].map(walkRow),
		'',
		...(main1.limits.length ? ['Distance to the limit, the short walk on ' + settings.model + ':', '', ...main1.limits.map(l => `- ${l}`), ''] : []),
		...(long.limits.length ? ['Distance to the limit, the long walk on ' + settings.model + ':', '', ...long.limits.map(l => `- ${l}`), ''] : []),
	];
}

/** Section 2: the walk's choice, the combinations measured, and those measured again beside it. */
export function oracleLines(orc: OracleRun): string[] {
	return [
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
	];
}

/** Sections 3 and 4: the rounds side by side against the manual walk, and the deployed files' figure. */
export function manualLines(side: SideBySide, app: AppRun, longFigure: number | null): string[] {
	const {manual, rounds} = side;
	const ratio = (a: ProbeResult | null, b: ProbeResult | null) => (a && b ? (a.samplesPerSecond.median / b.samplesPerSecond.median).toFixed(2) : 'n/a');
	return [
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
		`\`examples/sample_app.py\` for ${app.seconds} s gave ${app.samplesPerSecond.toFixed(1)} samples/s with ${app.workers} worker(s)${longFigure ? `, ${((app.samplesPerSecond / longFigure) * 100).toFixed(0)}% of the winner's probe figure (${longFigure.toFixed(1)}, mean of ${settings.rounds} round(s))` : ''}.`,
		'',
	];
}

/** Section 5: the tool's own overhead. */
export function overheadLines(over: Overhead): string[] {
	const ms = (x: number | null) => (x === null ? 'n/a' : `${(x / 1000).toFixed(2)} s`);
	return [
		'## The tool\'s own overhead',
		'',
		`- Time to the first frame of the interactive screen (under script(1)): ${ms(over.firstFrameMs)}`,
		`- \`graviton-tune detect --json\`: ${ms(over.detectJsonMs)}`,
		`- A probe's start-up (spawn to its start event, torch imported): ${ms(over.probeStartMs)}; to its result (toy model, 1 s measured): ${ms(over.probeResultMs)}`,
		'',
	];
}

/** Every walk's decisions, the long walk first. */
export function decisionLines(walks: Walks): string[] {
	const {short, long, transformerRuns} = walks;
	return [long, ...short, ...transformerRuns].flatMap(w => [
		`## The walk's decisions: ${w.label}`,
		'',
		...(w.plan ? [`${w.plan}`, ''] : []),
		...(w.result?.decisions ?? []).map(d => `- ${d.title}: ${d.outcome}${d.samplesPerSecond ? ` (${d.samplesPerSecond.toFixed(1)} samples/s)` : ''} — ${d.reason}`),
		'',
	]);
}
