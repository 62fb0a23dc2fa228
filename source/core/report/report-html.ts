// report.html: the evidence of one walk on one page a person can open offline after
// `scp` (inline CSS and SVG, no script, no network): the headline, the waterfall of
// kept steps, every probe as throughput against p99 latency, the dropped steps with
// their reasons, the machine and the deploy commands. Rendered from report.json's
// Report alone, so an old report.json can be rendered again.
import {scatterSvg, waterfallSvg} from './charts.js';
import type {ScatterPoint, WaterfallRow} from './charts.js';
import {describeCost, formatMoney} from './cost.js';
import {describeDetection} from '../machine/describe.js';
import {esc, inlineCode, page} from './html-page.js';
import {headlineFigures, intervalWords, speedupText} from './headline.js';
import {describeKernels} from './verdict.js';
import {kernelSummary, sharesText} from './kernels.js';
// From the modules, not the outputs door: outputs/files.ts renders this page (no cycle).
import {ENV_FILE_NAME, LAUNCH_SCRIPT_NAME} from './outputs/names.js';
import {describeMachine} from './outputs/env-file.js';
import {DEPLOY_STEPS, modelLabel, runtimeSnippet} from './outputs/report.js';
import type {Report, ReportProbe} from './outputs/report.js';
import {formatRate, latencyWhat, peakRssText, rateUnit} from './summary.js';
import {describeTokenCheck} from '../walk/stats.js';
import type {Decision, OutputCheck, ProbeResult} from '../types.js';

function ratio(value: number): string {
	return `${value.toFixed(2)}×`;
}

function percent(value: number): string {
	const p = (value - 1) * 100;
	return `${p >= 0 ? '+' : ''}${p.toFixed(p > -10 && p < 10 ? 1 : 0)}%`;
}

/** "cosine 0.99998, max abs error 0.0012, top-1 100%"; short: "cosine 1.0000, top-1 100%" for a table. */
export function describeCheck(check: OutputCheck | null, opts: {short?: boolean} = {}): string {
	if (!check) return 'not checked';
	const parts = opts.short ? [`cosine ${check.cosine.toFixed(4)}`] : [`cosine ${check.cosine.toFixed(5)}`, `max abs error ${check.maxAbsError.toPrecision(2)}`];
	if (check.top1Agreement !== null) parts.push(`top-1 ${(check.top1Agreement * 100).toFixed(0)}%`);
	if (check.tokens) parts.push(opts.short ? `tokens ${check.tokens.identical}/${check.tokens.sequences}` : describeTokenCheck(check.tokens));
	return parts.join(', ');
}

function rateWithCi(result: ProbeResult): string {
	const s = result.samplesPerSecond;
	return `${formatRate(s.median)} [${formatRate(s.ciLow)}–${formatRate(s.ciHigh)}]`;
}

function figure(value: string, label: string, extra = ''): string {
	return `<div class="figure"><div class="value">${value}</div><div class="label">${label}</div>${extra}</div>`;
}

function headlineSection(report: Report): string[] {
	const h = headlineFigures(report);
	const check = h.best.check;
	const thresholds = report.options as {minCosine?: number; minTop1?: number};
	const cost = report.cost;
	const out = [
		'<section id="headline">',
		'<div class="figures">',
		figure(`${esc(formatRate(h.best.samplesPerSecond.median))} <small>${rateUnit(h.best)}</small>`, `winner (baseline ${esc(formatRate(h.baseline.samplesPerSecond.median))})`),
		figure(esc(speedupText(h)), h.verified ? `speedup, verified back to back${intervalWords(h) ? ` (${intervalWords(h)})` : ''}` : 'speedup from the walk (not re-verified)'),
		figure(`${esc(h.best.latencyMs.p99.toFixed(1))} <small>ms</small>`, `winner p99 ${esc(latencyWhat(h.best))}`),
		...(h.best.generation ? [figure(`${esc(h.best.generation.ttftMs.p50.toFixed(1))} <small>ms</small>`, `time to first token (p99 ${esc(h.best.generation.ttftMs.p99.toFixed(1))} ms)`)] : []),
		cost?.known
			? figure(esc(formatMoney(cost.winnerPerMillion, cost.price.currency)), `per million inferences (baseline ${esc(formatMoney(cost.baselinePerMillion, cost.price.currency))})`)
			: figure('—', 'cost per million inferences: price unknown'),
		'</div>',
		`<p><strong>Winner:</strong> ${esc(report.best.summary)}</p>`,
		`<p><strong>Recipes:</strong> ${report.best.recipes.length ? report.best.recipes.map((r) => `<code>${esc(r)}</code>`).join(', ') : 'none: the baseline won'}</p>`,
		`<p id="output-check"><strong>Output check:</strong> ${esc(describeCheck(check))} against fp32 eager, ${check?.data === 'samples' ? `on ${esc(check.rows ?? '?')} of your samples (--samples)` : `on a seeded random input of ${esc(check?.rows ?? h.best.batchSize)} sample${(check?.rows ?? h.best.batchSize) === 1 ? '' : 's'} (the same seed for every probe and for the reference; no real samples were given)`}${
			thresholds.minCosine !== undefined ? `; lossy steps had to keep cosine ≥ ${esc(thresholds.minCosine)}${thresholds.minTop1 !== undefined ? ` and top-1 ≥ ${esc(thresholds.minTop1 * 100)}%` : ''}` : ''
		}.</p>`,
	];
	out.push(`<p id="accuracy"${report.accuracy?.lossy && report.accuracy.data !== 'samples' && report.accuracy.score === null ? ' class="warn"' : ''}><strong>Accuracy:</strong> ${esc(report.accuracy?.text ?? 'not recorded in this report')}</p>`);
	if (cost) out.push(`<p id="cost" class="muted">${inlineCode(describeCost(cost))}.</p>`);
	if (report.limits) out.push(`<p id="limits"><strong>Distance to the limit:</strong> ${esc(report.limits.lines.join('; '))}.</p>`);
	if (report.kernels) out.push(`<p id="kernels"${report.kernels.shortfall ? ' class="warn"' : ''}><strong>Kernels:</strong> ${esc(describeKernels(report.kernels))} <span class="muted">(${esc(report.kernels.source)})</span>.</p>`, ...report.kernels.warnings.map(w => `<p class="warn">${esc(w)}</p>`));
	if (!h.verified) out.push('<p class="warn">The winner was not measured again against the baseline at the end: the figures are the walk\'s own.</p>');
	if (report.interrupted) out.push('<p class="warn">The walk was interrupted: this is the best configuration measured so far.</p>');
	if (report.contendedNote) out.push(`<p class="warn" id="contended"><strong>The machine was busy.</strong> ${esc(report.contendedNote)}</p>`);
	out.push('</section>');
	return out;
}

/** The kept steps in order; a sweep that kept batch 2, 4 and 8 reads as its last kept step. */
export function keptSteps(decisions: Decision[]): Decision[] {
	const kept: Decision[] = [];
	for (const d of decisions) {
		if (d.outcome !== 'kept' || d.samplesPerSecond === null) continue;
		const last = kept[kept.length - 1];
		if (last && (last.recipeId ?? last.stepId) === (d.recipeId ?? d.stepId)) kept[kept.length - 1] = d;
		else kept.push(d);
	}
	return kept;
}

export function waterfallRows(report: Report): WaterfallRow[] {
	const h = headlineFigures(report);
	const walkBaseline = report.decisions.find((d) => d.outcome === 'baseline')?.samplesPerSecond ?? report.baseline.result.samplesPerSecond.median;
	const unit = rateUnit(report.model);
	const rows: WaterfallRow[] = [{label: 'Baseline', value: walkBaseline, kind: 'total', note: `${formatRate(walkBaseline)} ${unit} (fp32, eager, batch ${report.baseline.config.batchSize})`}];
	let level = walkBaseline;
	for (const d of keptSteps(report.decisions)) {
		const value = d.samplesPerSecond!;
		// The gain the walk decided on (against the best configuration then, re-measured when close), else against the bar before.
		const gain = d.ratio !== null ? `${percent(d.ratio)} against the best then` : percent(value / level);
		rows.push({label: d.title, value, kind: 'step', note: `${formatRate(value)} ${unit} (${gain})`});
		level = value;
	}
	rows.push({
		label: h.verified ? 'Winner, verified' : 'Winner',
		value: h.best.samplesPerSecond.median,
		kind: 'total',
		note: `${formatRate(h.best.samplesPerSecond.median)} ${unit}, ${speedupText(h)} the baseline${h.verified ? ` measured with it (${formatRate(h.baseline.samplesPerSecond.median)})` : ''}`,
	});
	return rows;
}

function waterfallSection(report: Report): string[] {
	const rows = waterfallRows(report);
	return [
		'<section id="waterfall">',
		'<h2>From baseline to winner</h2>',
		rows.length > 2
			? '<p class="muted">Each kept step as the walk measured it, on top of the steps before it; the last bar is the winner measured back to back with the baseline at the end.</p>'
			: '<p class="muted">No step beat the baseline by enough to be kept.</p>',
		`<div class="chart-wrap">${waterfallSvg(rows, {label: 'Waterfall of the kept steps, samples per second'})}</div>`,
		'</section>',
	];
}

/** Which mark a probe gets: the winner's configuration stands out, else its step's outcome. */
function probeKind(probe: ReportProbe, report: Report): string {
	if (probe.result && probe.summary === report.best.summary) return 'winner';
	return probe.outcome ?? 'other';
}

export function scatterPoints(report: Report): ScatterPoint[] {
	const points: ScatterPoint[] = [];
	report.probes.forEach((probe, i) => {
		if (!probe.result) return;
		const r = probe.result;
		points.push({
			id: String(i + 1),
			title: r.generation
				? `#${i + 1} ${probe.title}: ${rateWithCi(r)} tokens/s, first token ${r.generation.ttftMs.p50.toFixed(1)} ms (${probe.outcome ?? 'measured'}) — ${probe.summary}`
				: `#${i + 1} ${probe.title}: ${rateWithCi(r)} samples/s, p99 ${r.latencyMs.p99.toFixed(1)} ms per batch of ${r.batchSize} (${probe.outcome ?? 'measured'}) — ${probe.summary}`,
			// Generation: tokens/s against the time to the first token; else against p99 batch latency.
			x: r.generation ? r.generation.ttftMs.p50 : r.latencyMs.p99,
			y: r.samplesPerSecond.median,
			yLow: r.samplesPerSecond.ciLow,
			yHigh: r.samplesPerSecond.ciHigh,
			kind: probeKind(probe, report),
		});
	});
	return points;
}

function legend(): string {
	const items: Array<[string, string]> = [
		['#374151', 'baseline'],
		['var(--good)', 'kept'],
		['var(--bad)', 'dropped / failed'],
		['#9aa3b2', 're-measure / verification'],
		['var(--accent)', 'winner'],
	];
	return `<ul class="legend">${items.map(([color, label]) => `<li><span class="dot" style="background:${color}"></span>${esc(label)}</li>`).join('')}<li>— — throughput/latency front</li><li>| 95% interval</li></ul>`;
}

function probesSection(report: Report): string[] {
	const generating = report.model.task === 'generate';
	const rows = report.probes.map((p, i) => {
		const r = p.result;
		const outcome = (p.failure ? `failed: ${p.failure.code}` : (p.outcome ?? '—')) + (r?.contention?.contended ? ' (contended)' : '');
		return `<tr><td class="num">${i + 1}</td><td>${esc(p.title)}</td><td class="hide-narrow">${esc(p.summary)}</td><td class="num">${r ? esc(rateWithCi(r)) : '—'}</td><td class="num">${r ? esc(r.latencyMs.p99.toFixed(1)) : '—'}</td><td class="num hide-narrow">${esc(peakRssText(r))}</td><td class="num hide-narrow">${r?.check ? esc(r.check.cosine.toFixed(4)) : '—'}</td><td class="hide-narrow"${r?.kernels ? ` title="${esc(kernelSummary(r.kernels))}"` : ''}>${r?.kernels ? esc(sharesText(r.kernels) || '—') : '—'}</td><td>${esc(outcome)}</td></tr>`;
	});
	return [
		'<section id="probes">',
		generating ? '<h2>Every probe: tokens/s against time to first token</h2>' : '<h2>Every probe: throughput against p99 latency</h2>',
		'<p class="muted">Each point is one probe in its own process (numbers as in the table below); the vertical line is its 95% interval. The dashed line joins the probes no other probe beats on both throughput and latency. Hover a point for its figures.</p>',
		generating
			? `<div class="chart-wrap">${scatterSvg(scatterPoints(report), {xLabel: 'time to first token, p50 (ms)', yLabel: 'decode tokens/s', label: 'Decode tokens per second against time to first token, one point per probe'})}</div>`
			: `<div class="chart-wrap">${scatterSvg(scatterPoints(report), {xLabel: 'p99 latency per batch (ms)', yLabel: 'samples/s', label: 'Throughput against p99 latency, one point per probe'})}</div>`,
		legend(),
		'<div class="table-wrap"><table>',
		`<thead><tr><th class="num">#</th><th>Step</th><th class="hide-narrow">Configuration</th><th class="num">${rateUnit(report.model)} [95% CI]</th><th class="num">p99 ms${generating ? ' between tokens' : ''}</th><th class="num hide-narrow">peak RSS MiB</th><th class="num hide-narrow">cosine</th><th class="hide-narrow">kernels</th><th>Outcome</th></tr></thead>`,
		`<tbody>${rows.join('\n')}</tbody>`,
		'</table></div>',
		'</section>',
	];
}

function droppedSection(report: Report): string[] {
	// The last word about each step counts (close calls are re-measured).
	const last = new Map<string, Decision>();
	for (const d of report.decisions) last.set(d.stepId, d);
	const notKept = [...last.values()].filter((d) => d.outcome === 'dropped' || d.outcome === 'failed' || d.outcome === 'skipped');
	const rows = notKept.map(
		(d) =>
			`<tr><td>${esc(d.title)}</td><td>${esc(d.outcome)}</td><td class="num">${d.samplesPerSecond !== null ? esc(formatRate(d.samplesPerSecond)) : '—'}</td><td class="num">${d.ratio !== null ? esc(ratio(d.ratio)) : '—'}</td><td>${esc(d.reason)}</td></tr>`,
	);
	return [
		'<section id="dropped">',
		'<h2>Steps not kept</h2>',
		notKept.length === 0
			? '<p>Every step tried was kept.</p>'
			: `<div class="table-wrap"><table><thead><tr><th>Step</th><th>Outcome</th><th class="num">${rateUnit(report.model)}</th><th class="num">vs. best</th><th>Why</th></tr></thead><tbody>${rows.join('\n')}</tbody></table></div>`,
		'</section>',
	];
}

function machineSection(report: Report): string[] {
	const py = report.python;
	return [
		'<section id="machine">',
		'<h2>Machine</h2>',
		`<pre>${esc(describeDetection(report.machine))}</pre>`,
		`<p>Python: <code>${esc(py.interpreter ?? 'unknown')}</code>${py.pythonVersion ? ` (${esc(py.pythonVersion)})` : ''}${py.torch ? `, torch ${esc(py.torch.version)}${py.torch.cpuCapability ? ` (${esc(py.torch.cpuCapability)})` : ''}` : ''}</p>`,
		'</section>',
	];
}

function deploySection(report: Report): string[] {
	return [
		'<section id="deploy">',
		'<h2>Deploy</h2>',
		'<ul>',
		...DEPLOY_STEPS.map((step) => `<li>${inlineCode(step)}</li>`),
		'</ul>',
		`<pre>${esc(runtimeSnippet(report.model).join('\n'))}</pre>`,
		`<p>On this machine, from the output folder:</p>`,
		`<pre>${esc([`set -a; . ./${ENV_FILE_NAME}; set +a    # or EnvironmentFile= / docker run --env-file`, `./${LAUNCH_SCRIPT_NAME}`].join('\n'))}</pre>`,
		`<p><code>${esc(ENV_FILE_NAME)}</code> sets:</p>`,
		`<pre>${esc(Object.entries(report.best.envFile).map(([k, v]) => `${k}=${v}`).join('\n'))}</pre>`,
		'</section>',
	];
}

export function reportTitle(report: Report): string {
	return `graviton-tune: ${modelLabel(report.model)} on ${describeMachine(report.machine)}`;
}

export function renderReportHtml(report: Report): string {
	return page(reportTitle(report), [
		'<header>',
		`<h1>${esc(modelLabel(report.model))}: ${esc(speedupText(headlineFigures(report)))} on this machine</h1>`,
		`<p class="sub">${esc(describeMachine(report.machine))} · ${esc(report.generatedAt)} · walk took ${esc(report.elapsedSeconds.toFixed(0))} s · graviton-tune ${esc(report.tool.version)}</p>`,
		'</header>',
		...headlineSection(report),
		...waterfallSection(report),
		...probesSection(report),
		...droppedSection(report),
		...machineSection(report),
		...deploySection(report),
		`<footer>Files written with this report: ${report.files.map((f) => `<code>${esc(f)}</code>`).join(', ')}.</footer>`,
	]);
}
