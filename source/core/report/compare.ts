// `graviton-tune compare`: runs from several machines (or several models) side by side,
// from their report.json files. Reports that disagree are said to disagree: different
// models are grouped (their figures do not compare across models), a folder without a
// report (a failed or interrupted run) and a report of a schema this version does not
// read are listed as not compared, each with the reason. Nothing here writes.
import {GravitonTuneError} from '../errors.js';
import {readFile, stat} from 'node:fs/promises';
import path from 'node:path';
import {barsSvg, scatterSvg} from './charts.js';
import {expandFleetFolders, rankInstanceTypes} from './compare-fleet.js';
import type {InstanceTypeRank} from './compare-fleet.js';
import type {BarRow, ScatterPoint} from './charts.js';
import {findPrice, formatMoney, runCost} from './cost.js';
import type {RunCost} from './cost.js';
import {headlineFigures} from './headline.js';
import {describeMachine, modelLabel, REPORT_JSON_NAME, REPORT_SCHEMA_VERSION} from './outputs.js';
import type {Report} from './outputs.js';
import {esc, page} from './html-page.js';
import {describeCheck} from './report-html.js';
import {formatRate, rateUnit} from './summary.js';

export interface CompareRow {
	/** The path as given: for a fleet, the folder is usually named after the machine. */
	source: string;
	file: string;
	machine: string;
	instanceType: string | null;
	cpu: string;
	model: string;
	winner: string;
	samplesPerSecond: number;
	/** What samplesPerSecond counts: samples/s, or decode tokens/s for a generating model. */
	unit: 'samples/s' | 'tokens/s';
	/** A generating model's time to the first token (p50, ms); null for a forward pass. */
	ttftMs: number | null;
	/** p99 per batch, or between tokens for a generating model. */
	p99Ms: number;
	batchSize: number;
	speedup: number;
	verified: boolean;
	check: string;
	cost: RunCost;
	/** Winner cost per million inferences, or null when the price is unknown. */
	costPerMillion: number | null;
	interrupted: boolean;
	generatedAt: string;
}

export interface NotCompared {
	source: string;
	reason: string;
}

export interface Comparison {
	rows: CompareRow[];
	notCompared: NotCompared[];
	/** Remarks about reports that disagree (different models, interrupted runs…). */
	notes: string[];
	/** Where the prices in the cost column come from. */
	priceSources: string[];
	/** Instance types ranked by cost per million inferences within each model (the median over each type's runs). */
	instanceTypes: InstanceTypeRank[];
}

/** A path that does not exist at all is the user's typo, not a failed run. */
export class CompareInputError extends GravitonTuneError {
	constructor(message: string) {
		super('usage', message);
		this.name = 'CompareInputError';
	}
}

type Loaded = {ok: true; file: string; report: Report} | {ok: false; reason: string};

/** The report.json a path names: the file itself, or the one inside an output folder. */
/** How a run is named in the table: the folder (a fleet names it after the machine). */
export function runName(source: string): string {
	const trimmed = source.replace(/\/+$/, '');
	return path.basename(trimmed) === REPORT_JSON_NAME ? path.dirname(trimmed) || '.' : trimmed;
}

async function reportFile(source: string): Promise<string | null> {
	let info;
	try {
		info = await stat(source);
	} catch {
		throw new CompareInputError(`${source}: no such file or folder`);
	}
	if (!info.isDirectory()) return source;
	const inside = path.join(source, REPORT_JSON_NAME);
	try {
		await stat(inside);
		return inside;
	} catch {
		return null;
	}
}

/** Why a parsed JSON value is not a report this version can compare, or null when it is. */
export function reportProblem(value: unknown): string | null {
	if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a graviton-tune report (not a JSON object)';
	const v = value as Record<string, unknown>;
	const tool = v['tool'] as {name?: unknown} | undefined;
	if (!('schemaVersion' in v)) return tool?.name === 'graviton-tune' ? 'a graviton-tune report without a schemaVersion (older than schema 1); run the tuning again with this version' : 'not a graviton-tune report (no schemaVersion)';
	const version = v['schemaVersion'];
	if (typeof version !== 'number') return `schemaVersion ${JSON.stringify(version)} is not a number`;
	if (version > REPORT_SCHEMA_VERSION) return `written by a newer graviton-tune (schemaVersion ${version}; this one reads ${REPORT_SCHEMA_VERSION}): upgrade graviton-tune to compare it`;
	if (version < REPORT_SCHEMA_VERSION) return `schemaVersion ${version} is older than this graviton-tune reads (${REPORT_SCHEMA_VERSION}); run the tuning again with this version`;
	const best = v['best'] as {summary?: unknown; result?: {samplesPerSecond?: {median?: unknown}; latencyMs?: {p99?: unknown}}} | undefined;
	const baseline = v['baseline'] as {result?: {samplesPerSecond?: {median?: unknown}}} | undefined;
	if (typeof best?.result?.samplesPerSecond?.median !== 'number' || typeof best.result.latencyMs?.p99 !== 'number' || typeof baseline?.result?.samplesPerSecond?.median !== 'number') {
		return 'the report has no winner figures (the run did not finish)';
	}
	if (typeof best.summary !== 'string') return 'the report does not describe its winner';
	const machine = v['machine'] as {cpu?: unknown} | null | undefined;
	if (typeof machine !== 'object' || machine === null || typeof machine.cpu !== 'object' || machine.cpu === null) return 'the report has no machine description';
	if (typeof v['model'] !== 'object' || v['model'] === null) return 'the report does not name its model';
	return null;
}

export async function loadReport(source: string): Promise<Loaded> {
	const file = await reportFile(source);
	if (file === null) return {ok: false, reason: `no ${REPORT_JSON_NAME} in this folder: the run there failed or was interrupted before writing (its log says why)`};
	let text: string;
	try {
		text = await readFile(file, 'utf8');
	} catch (error) {
		return {ok: false, reason: `cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`};
	}
	let value: unknown;
	try {
		value = JSON.parse(text);
	} catch {
		return {ok: false, reason: `${file} is not valid JSON (cut short, or not a report)`};
	}
	const problem = reportProblem(value);
	return problem ? {ok: false, reason: problem} : {ok: true, file, report: value as Report};
}

function cpuText(report: Report): string {
	const cpu = report.machine.cpu;
	const name = cpu.platform ?? cpu.modelName ?? cpu.core ?? `unknown ${cpu.arch} CPU`;
	return `${name}, ${report.machine.usableCpus} CPU${report.machine.usableCpus === 1 ? '' : 's'}`;
}

/** One row from one report. Reports from before cost existed get it from the shipped price table. */
export function compareRow(source: string, file: string, report: Report): CompareRow {
	const h = headlineFigures(report);
	const cost = report.cost ?? runCost(h, findPrice(report.machine.cloud ?? {provider: null, instanceType: null}, null));
	return {
		source: runName(source),
		file,
		machine: describeMachine(report.machine),
		instanceType: report.machine.cloud?.instanceType ?? null,
		cpu: cpuText(report),
		// A generating run is its own group: tokens/s and samples/s never share a ranking.
		model: modelLabel(report.model) + (h.best.generation ? ' (generating)' : ''),
		winner: report.best.summary,
		samplesPerSecond: h.best.samplesPerSecond.median,
		unit: rateUnit(h.best),
		ttftMs: h.best.generation?.ttftMs.p50 ?? null,
		p99Ms: h.best.latencyMs.p99,
		batchSize: h.best.batchSize,
		speedup: h.speedup,
		verified: h.verified,
		check: describeCheck(h.best.check, {short: true}),
		cost,
		costPerMillion: cost.known ? cost.winnerPerMillion : null,
		interrupted: report.interrupted,
		generatedAt: report.generatedAt,
	};
}

/** Cheapest first where the cost is known, then the rest by samples/s, fastest first; grouped by model. */
export function sortRows(rows: CompareRow[]): CompareRow[] {
	return [...rows].sort((a, b) => {
		if (a.model !== b.model) return a.model < b.model ? -1 : 1;
		if (a.costPerMillion !== null && b.costPerMillion !== null) return a.costPerMillion - b.costPerMillion;
		if (a.costPerMillion !== null) return -1;
		if (b.costPerMillion !== null) return 1;
		return b.samplesPerSecond - a.samplesPerSecond;
	});
}

export function buildComparison(loaded: Array<{source: string; file: string; report: Report}>, notCompared: NotCompared[]): Comparison {
	const rows = sortRows(loaded.map((l) => compareRow(l.source, l.file, l.report)));
	const notes: string[] = [];
	const models = [...new Set(rows.map((r) => r.model))];
	if (models.length > 1) {
		notes.push(`These runs tuned different models (${models.join(', ')}): rows are grouped by model, and throughput and cost compare only within a model.`);
	}
	const which = (pick: (r: CompareRow) => boolean) => rows.filter(pick).map((r) => r.source).join(', ');
	if (rows.some((r) => r.interrupted)) notes.push(`Interrupted walks (the winner is the best measured so far): ${which((r) => r.interrupted)}.`);
	if (rows.some((r) => !r.verified)) notes.push(`Winners not verified back to back (the figures are the walk's own): ${which((r) => !r.verified)}.`);
	// One line per reason: a fleet without DMI data would otherwise repeat it per machine.
	const unknown = new Map<string, string[]>();
	for (const r of rows) if (!r.cost.known) unknown.set(r.cost.reason, [...(unknown.get(r.cost.reason) ?? []), r.source]);
	for (const [reason, sources] of unknown) notes.push(`Cost unknown for ${sources.join(', ')}: ${reason}.`);
	// One line per source: "c8g.xlarge $0.160/h, c7g.xlarge $0.145/h: <where the prices come from>".
	const bySource = new Map<string, Set<string>>();
	for (const r of rows) {
		if (!r.cost.known) continue;
		const {price} = r.cost;
		const set = bySource.get(price.source) ?? new Set<string>();
		set.add(`${price.instanceType ?? r.source} ${formatMoney(price.perHour, price.currency)}/h`);
		bySource.set(price.source, set);
	}
	const priceSources = [...bySource].map(([source, prices]) => `${[...prices].join(', ')}: ${source}`);
	return {rows, notCompared, notes, priceSources, instanceTypes: rankInstanceTypes(rows.map((r) => ({...r, currency: r.cost.known ? r.cost.price.currency : null})))};
}

/**
 * Read every source; a folder of host folders (a fleet's fetched reports) stands for its
 * host folders. A path that does not exist throws CompareInputError before anything is read further.
 */
export async function compareReports(sources: string[]): Promise<Comparison> {
	const loaded: Array<{source: string; file: string; report: Report}> = [];
	const notCompared: NotCompared[] = [];
	for (const source of await expandFleetFolders(sources)) {
		const result = await loadReport(source);
		if (result.ok) loaded.push({source, file: result.file, report: result.report});
		else notCompared.push({source, reason: result.reason});
	}
	return buildComparison(loaded, notCompared);
}

// ---------------------------------------------------------------- text

function costCell(row: CompareRow): string {
	return row.costPerMillion === null ? 'unknown' : formatMoney(row.costPerMillion, row.cost.known ? row.cost.price.currency : 'USD');
}

type Column<R> = {title: string; value: (r: R, i: number) => string; right?: boolean};

const COLUMNS: Array<Column<CompareRow>> = [
	{title: '#', value: (_r, i) => String(i + 1), right: true},
	{title: 'machine', value: (r) => r.source},
	{title: 'instance', value: (r) => r.instanceType ?? '—'},
	{title: 'CPU', value: (r) => r.cpu},
	{title: 'model', value: (r) => r.model},
	{title: '$/M', value: costCell, right: true},
	{title: 'throughput', value: (r) => `${formatRate(r.samplesPerSecond)} ${r.unit}`, right: true},
	{title: 'first token', value: (r) => (r.ttftMs === null ? '—' : `${r.ttftMs.toFixed(1)} ms`), right: true},
	{title: 'p99 ms', value: (r) => r.p99Ms.toFixed(1), right: true},
	{title: 'check', value: (r) => r.check},
	{title: 'winner', value: (r) => r.winner},
];

const rankCost = (r: InstanceTypeRank) => (r.costPerMillion === null ? 'unknown' : formatMoney(r.costPerMillion, r.currency ?? undefined));
const rankInstance = (r: InstanceTypeRank) => r.instanceType ?? `— (${r.runs[0]})`;
const rankThroughput = (r: InstanceTypeRank) => `${formatRate(r.samplesPerSecond)} ${r.unit}`;

const RANK_COLUMNS: Array<Column<InstanceTypeRank>> = [
	{title: '#', value: (_r, i) => String(i + 1), right: true},
	{title: 'instance', value: rankInstance},
	{title: 'model', value: (r) => r.model},
	{title: 'runs', value: (r) => String(r.runs.length), right: true},
	{title: '$/M', value: rankCost, right: true},
	{title: 'throughput', value: rankThroughput},
];

/** Columns padded to their widest cell; the last column is left ragged. */
function textTable<R>(columns: Array<Column<R>>, rows: readonly R[]): string[] {
	const cells = rows.map((r, i) => columns.map((col) => col.value(r, i)));
	const widths = columns.map((col, j) => Math.max(col.title.length, ...cells.map((row) => row[j]!.length)));
	const line = (values: string[]) =>
		values
			.map((v, j) => (j === values.length - 1 ? v : columns[j]!.right ? v.padStart(widths[j]!) : v.padEnd(widths[j]!)))
			.join('  ')
			.trimEnd();
	return [line(columns.map((col) => col.title)), line(widths.map((w, j) => '-'.repeat(j === widths.length - 1 ? columns[j]!.title.length : w))), ...cells.map(line)];
}

/** Shown where it adds to the table: some run knows its instance type. */
export function showsInstanceRanking(c: Comparison): boolean {
	return c.instanceTypes.some((r) => r.instanceType !== null);
}

export function renderCompareText(c: Comparison): string {
	const lines: string[] = [];
	if (c.rows.length > 0) {
		lines.push(...textTable(COLUMNS, c.rows));
		lines.push('', 'throughput and p99 (per batch; between tokens for a generating model) are the winner\'s, verified back to back where the run could; $/M is the cost of a million inferences (of a million generated tokens for a generating model).');
	}
	if (showsInstanceRanking(c)) {
		lines.push('', 'Instance types by cost per million inferences, cheapest first within each model (the median over the runs of each type):');
		lines.push(...textTable(RANK_COLUMNS, c.instanceTypes), '');
	}
	for (const note of c.notes) lines.push(`note: ${note}`);
	for (const source of c.priceSources) lines.push(`price: ${source}`);
	for (const n of c.notCompared) lines.push(`not compared: ${n.source}: ${n.reason}`);
	return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------- html

/** Charts for one model's rows: figures of different models never share an axis. */
function modelCharts(rows: CompareRow[], model: string | null, numberOf: (r: CompareRow) => number): string[] {
	const out: string[] = [];
	// One model's rows share a unit (a generating run is a group of its own).
	const unit = rows[0]?.unit ?? 'samples/s';
	const of = model ? `, ${model}` : '';
	const label = (r: CompareRow) => `#${numberOf(r)} ${r.source}${r.instanceType ? ` (${r.instanceType})` : ''}`;
	const wrap = (svg: string) => `<div class="chart-wrap">${svg}</div>`;
	const costed = rows.filter((r) => r.costPerMillion !== null);
	if (costed.length > 0) {
		const cheapest = Math.min(...costed.map((r) => r.costPerMillion!));
		const what = unit === 'tokens/s' ? 'tokens' : 'inferences';
		const bars: BarRow[] = costed.map((r) => ({label: label(r), value: r.costPerMillion!, note: `${costCell(r)} per million`, kind: r.costPerMillion === cheapest ? 'good' : 'total'}));
		out.push(`<h2>Cost per million ${what}${esc(of)} (lower is better)</h2>`, wrap(barsSvg(bars, {label: `Cost per million ${what} by run${of}`, axisLabel: `USD per million ${what}`})));
	}
	const fastest = Math.max(...rows.map((r) => r.samplesPerSecond));
	const bars: BarRow[] = rows.map((r) => ({label: label(r), value: r.samplesPerSecond, note: `${formatRate(r.samplesPerSecond)} ${unit}, p99 ${r.p99Ms.toFixed(1)} ms`, kind: r.samplesPerSecond === fastest ? 'good' : 'total'}));
	out.push(`<h2>Throughput of each winner${esc(of)} (higher is better)</h2>`, wrap(barsSvg(bars, {label: `Winner ${unit} by run${of}`, axisLabel: unit})));
	// One point alone says nothing about the trade-off.
	if (rows.length < 2) return out;
	const points: ScatterPoint[] = rows.map((r) => ({
		id: String(numberOf(r)),
		title: `${label(r)}: ${formatRate(r.samplesPerSecond)} ${unit}, p99 ${r.p99Ms.toFixed(1)} ms ${unit === 'tokens/s' ? 'between tokens' : `per batch of ${r.batchSize}`}`,
		x: r.p99Ms,
		y: r.samplesPerSecond,
		yLow: r.samplesPerSecond,
		yHigh: r.samplesPerSecond,
		kind: 'kept',
	}));
	out.push(`<h2>Throughput against p99 latency${esc(of)}</h2>`, wrap(scatterSvg(points, {xLabel: unit === 'tokens/s' ? 'winner p99 time between tokens (ms)' : 'winner p99 latency per batch (ms)', yLabel: unit, label: `Winners: throughput against p99 latency${of}`})));
	return out;
}

function chartSection(c: Comparison): string[] {
	const models = [...new Set(c.rows.map((r) => r.model))];
	const numberOf = (r: CompareRow) => c.rows.indexOf(r) + 1;
	return models.flatMap((model) => modelCharts(c.rows.filter((r) => r.model === model), models.length > 1 ? model : null, numberOf));
}

function rankingSection(c: Comparison): string[] {
	if (!showsInstanceRanking(c)) return [];
	const rows = c.instanceTypes.map(
		(r, i) =>
			`<tr><td class="num">${i + 1}</td><td class="nowrap">${esc(rankInstance(r))}</td><td>${esc(r.model)}</td><td class="num">${r.runs.length}</td><td class="num">${esc(rankCost(r))}</td><td class="num">${esc(rankThroughput(r))}</td></tr>`,
	);
	return [
		'<section id="instance-types"><h2>Instance types by cost per million inferences</h2><div class="table-wrap"><table>',
		'<thead><tr><th class="num">#</th><th>Instance</th><th>Model</th><th class="num">runs</th><th class="num">$ per million</th><th class="num">throughput</th></tr></thead>',
		`<tbody>${rows.join('\n')}</tbody>`,
		'</table></div><p class="muted">Cheapest first within each model; each figure is the median over the runs of that instance type.</p></section>',
	];
}

export function renderCompareHtml(c: Comparison, date = new Date()): string {
	const rows = c.rows.map(
		(r, i) =>
			`<tr><td class="num">${i + 1}</td><td>${esc(r.source)}</td><td class="nowrap">${esc(r.instanceType ?? '—')}</td><td>${esc(r.cpu)}</td><td>${esc(r.model)}</td><td class="num">${esc(costCell(r))}</td><td class="num">${esc(`${formatRate(r.samplesPerSecond)} ${r.unit}`)}</td><td class="num">${esc(r.ttftMs === null ? '—' : `${r.ttftMs.toFixed(1)} ms`)}</td><td class="num">${esc(r.p99Ms.toFixed(1))}</td><td>${esc(r.check)}</td><td>${esc(r.winner)}</td></tr>`,
	);
	const body = [
		'<header>',
		`<h1>graviton-tune: ${c.rows.length} run${c.rows.length === 1 ? '' : 's'} compared</h1>`,
		`<p class="sub">Sorted by cost per million inferences where the price is known, else by samples/s · ${esc(date.toISOString())}</p>`,
		'</header>',
	];
	if (c.rows.length > 0) {
		body.push(
			'<section id="table"><div class="table-wrap"><table class="wide">',
			'<thead><tr><th class="num">#</th><th>Machine</th><th>Instance</th><th>CPU</th><th>Model</th><th class="num">$ per million</th><th class="num">throughput</th><th class="num">first token</th><th class="num">p99 ms</th><th>Output check</th><th>Winner configuration</th></tr></thead>',
			`<tbody>${rows.join('\n')}</tbody>`,
			'</table></div>',
			'<p class="muted">Throughput and p99 (per batch; between tokens for a generating model) are each winner\'s, verified back to back where the run could; $ per million is per million inferences, or generated tokens for a generating model.</p></section>',
			...rankingSection(c),
			'<section id="charts">',
			...chartSection(c),
			'</section>',
		);
	}
	if (c.notes.length + c.priceSources.length + c.notCompared.length > 0) {
		body.push('<section id="notes"><h2>Notes</h2><ul>');
		for (const note of c.notes) body.push(`<li>${esc(note)}</li>`);
		for (const source of c.priceSources) body.push(`<li>Price: ${esc(source)}</li>`);
		for (const n of c.notCompared) body.push(`<li class="warn">Not compared: <code>${esc(n.source)}</code>: ${esc(n.reason)}</li>`);
		body.push('</ul></section>');
	}
	return page(`graviton-tune: ${c.rows.length} runs compared`, body);
}

