// report.json (stable schema, every probe with its figures) and report.md, built from
// what a finished run knows. The headline figures come from headline.ts only.
import path from 'node:path';
import {describeCost, findPrice} from '../cost.js';
import type {RunCost} from '../cost.js';
import {headlineFigures, intervalWords, speedupText} from '../headline.js';
import type {LimitsNote} from '../../machine/limits.js';
import {describeCandidate, describeGeneration, formatRate, latencyWhat, peakRssText, rateUnit} from '../summary.js';
import type {AccuracyNote} from '../summary.js';
import {toolVersion} from '../../version.js';
import {describeKernels, verdict} from '../verdict.js';
import type {KernelsNote} from '../verdict.js';
import {sharesText} from '../kernels.js';
import type {Candidate, Decision, Detection, ModelSpec, ProbeConfig, ProbeFailure, ProbeRecord, ProbeResult, PythonEnv, StepOutcome, WalkResult} from '../../types.js';
import {describeMachine, envVariables, fmtRatio} from './env-file.js';
import {ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, OUTPUT_FILE_NAMES, RUNTIME_HELPER_NAME} from './names.js';

export const REPORT_SCHEMA_VERSION = 1;

export interface ReportCandidate {
	config: ProbeConfig;
	env: Record<string, string>;
	recipes: string[];
	summary: string;
}

export interface ReportProbe extends ReportCandidate {
	stepId: string;
	title: string;
	startedAt: string;
	durationMs: number;
	outcome: StepOutcome | null;
	result: ProbeResult | null;
	failure: ProbeFailure | null;
}

export interface Report {
	schemaVersion: typeof REPORT_SCHEMA_VERSION;
	tool: {name: 'graviton-tune'; version: string};
	startedAt: string;
	generatedAt: string;
	machine: Detection;
	python: PythonEnv;
	model: ModelSpec;
	options: Record<string, unknown>;
	probes: ReportProbe[];
	decisions: Decision[];
	baseline: ReportCandidate & {result: ProbeResult};
	best: ReportCandidate & {result: ProbeResult; speedup: number; envFile: Record<string, string>};
	verification: WalkResult['verification'];
	/** How the winner's accuracy was checked (real samples, evaluate(), or random inputs only). */
	accuracy: AccuracyNote;
	interrupted: boolean;
	elapsedSeconds: number;
	/** Cost per million inferences, baseline and winner, from the headline figures; absent in reports written before it existed. */
	cost?: RunCost;
	/** The distance to the limit (source/core/machine/limits.ts): share of this CPU's matmul rate, baseline and winner; absent before issue 12. */
	limits?: LimitsNote | null;
	/** What the winner's compute ran on (per family, precision and kernel) and whether it kept its name's promise; absent before it was recorded. */
	kernels?: KernelsNote | null;
	/** Set when decisions rest on probes that shared their CPUs with other processes (each probe's result.contention says how much). */
	contendedNote: string | null;
	/** Names of the files written beside report.json. */
	files: string[];
}

export function modelLabel(model: ModelSpec): string {
	if (model.path) return path.basename(model.path) + (model.factory ? `:${model.factory}` : '');
	return model.name ?? 'resnet50';
}

/** How the model was measured: "one forward pass per batch" or "generating greedy: prompts of 128 tokens, 64 new". */
export function describeWorkload(model: ModelSpec): string {
	return model.task === 'generate'
		? `generating (greedy): prompts of ${model.promptLen ?? 128} tokens, ${model.newTokens ?? 64} new tokens per sequence, tokens/s`
		: 'one forward pass per batch, samples/s';
}

function reportCandidate(candidate: Candidate): ReportCandidate {
	return {config: candidate.config, env: candidate.env, recipes: candidate.recipes, summary: describeCandidate(candidate)};
}

/** The last decision taken about a step (close calls are re-measured, the last word counts). */
function outcomeOf(stepId: string, decisions: Decision[]): StepOutcome | null {
	for (let i = decisions.length - 1; i >= 0; i--) if (decisions[i]!.stepId === stepId) return decisions[i]!.outcome;
	return null;
}

function reportProbe(record: ProbeRecord, decisions: Decision[]): ReportProbe {
	return {
		stepId: record.stepId,
		title: record.title,
		startedAt: record.startedAt,
		durationMs: record.durationMs,
		...reportCandidate(record.candidate),
		outcome: outcomeOf(record.stepId, decisions) ?? (record.failure ? 'failed' : null),
		result: record.result,
		failure: record.failure,
	};
}

/** What a finished run knows: everything the report and the files are made from. */
export interface RunFacts {
	result: WalkResult;
	detection: Detection;
	python: PythonEnv;
	model: ModelSpec;
	options: Record<string, unknown>;
	startedAt: Date;
	/** --price-per-hour; else the instance type's price is looked up (unknown stays unknown). */
	pricePerHour?: number | null;
}

export function buildReport(input: RunFacts & {
	files?: string[];
	generatedAt?: Date;
}): Report {
	const {result} = input;
	const {runtime, model} = envVariables(result.best.candidate);
	const said = verdict(result, findPrice(input.detection.cloud, input.pricePerHour));
	return {
		schemaVersion: REPORT_SCHEMA_VERSION,
		tool: {name: 'graviton-tune', version: toolVersion},
		startedAt: input.startedAt.toISOString(),
		generatedAt: (input.generatedAt ?? new Date()).toISOString(),
		machine: input.detection,
		python: input.python,
		// The model as the walk measured it (its task settled by the model check), not only as it was asked for.
		model: {...input.model, ...result.baseline.candidate.config.model},
		options: input.options,
		probes: result.probes.map((record) => reportProbe(record, result.decisions)),
		decisions: result.decisions,
		baseline: {...reportCandidate(result.baseline.candidate), result: result.baseline.result},
		best: {
			...reportCandidate(result.best.candidate),
			result: result.best.result,
			speedup: result.best.speedup,
			envFile: Object.fromEntries([...runtime, ...model]),
		},
		verification: result.verification,
		accuracy: said.accuracy,
		interrupted: result.interrupted,
		elapsedSeconds: result.elapsedSeconds,
		...(said.cost ? {cost: said.cost} : {}),
		limits: said.limits,
		kernels: said.kernels,
		contendedNote: said.contendedNote,
		files: input.files ?? [...OUTPUT_FILE_NAMES],
	};
}

/** A markdown table cell: pipes and newlines would break the row. */
function cell(text: string): string {
	return text.replace(/\|/g, '\\|').replace(/[\r\n]+/g, ' ');
}

function rateCell(result: ProbeResult | null): string {
	if (!result) return '—';
	const s = result.samplesPerSecond;
	return `${formatRate(s.median)} [${formatRate(s.ciLow)}–${formatRate(s.ciHigh)}]`;
}

function probeRow(probe: ReportProbe, index: number): string {
	const outcome = (probe.failure ? `failed: ${probe.failure.code}` : (probe.outcome ?? '—')) + (probe.result?.contention?.contended ? ' (contended)' : '');
	const cols = [
		String(index + 1),
		probe.title,
		probe.summary,
		rateCell(probe.result),
		probe.result ? probe.result.latencyMs.p99.toFixed(1) : '—',
		peakRssText(probe.result),
		probe.result?.check ? probe.result.check.cosine.toFixed(4) : '—',
		probe.result?.kernels ? sharesText(probe.result.kernels) || '—' : '—',
		outcome,
	];
	return `| ${cols.map(cell).join(' | ')} |`;
}

function decisionLine(decision: Decision, unit: string): string {
	const figures = [decision.samplesPerSecond !== null ? `${formatRate(decision.samplesPerSecond)} ${unit}` : null, decision.ratio !== null ? fmtRatio(decision.ratio) : null]
		.filter(Boolean)
		.join(', ');
	return `- **${decision.title}**: ${decision.outcome}${figures ? ` (${figures})` : ''}. ${decision.reason}`;
}

function winnerSection(report: Report): string[] {
	// The verified pair when there is one (headline.ts), never the walk's winner against the verified ratio.
	const h = headlineFigures(report);
	const best = h.best;
	const lines = [
		'## Winner',
		'',
		`**${formatRate(best.samplesPerSecond.median)} ${rateUnit(best)}** against a baseline of ${formatRate(h.baseline.samplesPerSecond.median)} (${speedupText(h, {ascii: true})}), p99 ${best.latencyMs.p99.toFixed(1)} ms ${latencyWhat(best)}.`,
	];
	if (best.generation) lines.push('', `Generation (greedy): ${describeGeneration(best.generation)}.`, '');
	lines.push(
		h.verified
			? `Baseline and winner measured back to back at the end of the walk${h.pairs.length > 1 ? `, alternating in fresh processes (${intervalWords(h, {ascii: true})}${h.interval ? `: ${speedupText(h, {ascii: true})}` : ''})` : ''} (the table below has the walk's own figures).`
			: 'The walk\'s own figures: the winner was not measured again against the baseline at the end.',
	);
	if (report.verification?.note) lines.push('', report.verification.note);
	if (report.interrupted) lines.push('The walk was interrupted: this is the best configuration measured so far.');
	if (report.cost) lines.push('', `Cost: ${describeCost(report.cost)}.`);
	if (report.limits) lines.push('', `Distance to the limit: ${report.limits.lines.join('; ')}.`);
	if (report.kernels) lines.push('', `Kernels (${report.kernels.source}): ${describeKernels(report.kernels)}.`, ...report.kernels.warnings.map(w => `- Warning: ${w}`));
	if (report.contendedNote) lines.push('', `**Warning: the machine was busy.** ${report.contendedNote}`);
	lines.push('', `- Configuration: ${report.best.summary}`, `- Recipes: ${report.best.recipes.length > 0 ? report.best.recipes.join(', ') : '(none: the baseline won)'}`, `- Accuracy: ${report.accuracy.text}`, '', '```sh');
	lines.push(...Object.entries(report.best.envFile).map(([k, v]) => `${k}=${v}`), '```');
	return lines;
}

/** How to deploy the files, as prose with `code` spans plus the runtime helper's snippet: report.md and report.html both show it. */
export const DEPLOY_STEPS: readonly string[] = [
	`\`${ENV_FILE_NAME}\` works with \`set -a; . ./${ENV_FILE_NAME}; set +a\`, systemd \`EnvironmentFile=\` and \`docker run --env-file\`.`,
	`\`./${LAUNCH_SCRIPT_NAME} [args]\` loads it and starts the app with the winning launcher; your arguments pass through.`,
	`Copy \`${RUNTIME_HELPER_NAME}\` next to your code to apply the model-level choices (GT_* variables):`,
];
/** The runtime helper's use, as measured: a call per batch, or generate() for a language model. */
export function runtimeSnippet(model: ModelSpec): readonly string[] {
	if (model.task === 'generate') {
		return [
			'from graviton_tune_runtime import greedy_settings, optimize',
			'model = optimize(model)  # the folder\'s class, e.g. AutoModelForCausalLM.from_pretrained(folder)',
			`tokens = model.generate(**tokenizer(prompts, return_tensors="pt"), **greedy_settings(model, ${model.newTokens ?? 64}))`,
		];
	}
	return ['from graviton_tune_runtime import optimize', 'model = optimize(model, example_input)', 'output = model(batch)'];
}

function deploySection(model: ModelSpec): string[] {
	return ['## How to deploy', '', ...DEPLOY_STEPS.map((step) => `- ${step}`), '', '```python', ...runtimeSnippet(model), '```'];
}

export function renderReportMarkdown(report: Report): string {
	const unit = rateUnit(report.model);
	const lines = [
		'# graviton-tune report',
		'',
		`- Model: ${modelLabel(report.model)}, measured ${describeWorkload(report.model)}`,
		`- Machine: ${describeMachine(report.machine)}`,
		`- Python: ${report.python.interpreter ?? 'unknown'}${report.python.torch ? `, torch ${report.python.torch.version}` : ''}`,
		`- Date: ${report.generatedAt} (walk took ${report.elapsedSeconds.toFixed(0)} s), graviton-tune ${report.tool.version}`,
		'',
		...winnerSection(report),
		'',
		'## Probes',
		'',
		`| # | Step | Configuration | ${unit} median [95% CI] | p99 ms | peak RSS MiB | check cosine | kernels | Outcome |`,
		'|---|------|---------------|---------------------------|--------|--------------|--------------|---------|---------|',
		...report.probes.map(probeRow),
		'',
		'## Decisions',
		'',
		...(report.decisions.length > 0 ? report.decisions.map(d => decisionLine(d, unit)) : ['(none)']),
		'',
		...deploySection(report.model),
	];
	const failures = report.probes.filter((p) => p.failure);
	if (failures.length > 0) {
		lines.push('', '## Failures', '');
		for (const p of failures) lines.push(`- **${p.title}**: ${p.failure!.message}${p.failure!.hint ? ` (hint: ${p.failure!.hint})` : ''}`);
	}
	return lines.join('\n') + '\n';
}
