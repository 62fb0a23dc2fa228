// The user's model, looked at once before any probe runs: it loads, its inputs take one
// of the three forms (tensor, tuple, dict) with batch_size rows, one forward works, and
// the real samples read. A problem here is reported with its fix before the walk spends
// anything (probes/graviton_tune_probe/inspect_model.py does the looking).
import {probeArguments} from '../recipes/contract.js';
import {buildProbeEnv} from './probe-runner.js';
import {runInGroup} from './process-group.js';
import type {ModelSpec, ProbeConfig, Task} from '../types.js';

export interface ModelInput {
	name: string;
	/** With a batch of 1. */
	shape: number[];
	dtype: string;
}

export interface ModelInfo {
	label: string;
	/** builtin | python | huggingface | torchscript | export | onnx */
	kind: string;
	/** image: some input is a 4-D float tensor; tokens: all inputs are integer. */
	inputKind: 'image' | 'tokens' | 'other';
	inputs: ModelInput[];
	/** The model file defines evaluate(model) -> float. */
	evaluate: boolean;
	/** Rows of real samples (--samples), or null. */
	samples: number | null;
	/** An .onnx file whose batch axis is fixed: that batch size; else null (absent before issue 10). */
	fixedBatch?: number | null;
	/** Floating-point operations of one sample's forward (torch's flop counter), null when not counted (a generating model). */
	flopsPerSample?: number | null;
	/** What the probes will measure: forward, or generate (a language model, unless --task forward). */
	task?: Task;
	/** The class the model loaded as (LlamaForCausalLM, T5EncoderModel …), null for an .onnx file. */
	modelClass?: string | null;
	/** A generating model: its prompt and new tokens, and whether it is an encoder-decoder. */
	generation?: {promptTokens: number; newTokens: number; encoderDecoder: boolean} | null;
}

/** The spec with its task settled from the model check (the probes then all measure the same way). */
export function withTask(model: ModelSpec, check: ModelCheck | null | undefined): ModelSpec {
	const task = check?.ok ? check.info.task : undefined;
	return task && !model.task ? {...model, task} : model;
}

export type ModelCheck =
	| {ok: true; info: ModelInfo; notes: string[]}
	| {ok: false; code: string; message: string; hint: string | null};

/** Seconds an inspection may take (it loads torch and the model, and runs one forward). */
const INSPECT_TIMEOUT_MS = 300_000;

export async function inspectModel(python: string, model: ModelSpec, options: {signal?: AbortSignal; timeoutMs?: number} = {}): Promise<ModelCheck> {
	const config: Partial<ProbeConfig> = {model, batchSize: 1, threadsPerWorker: 1};
	let info: ModelInfo | null = null;
	let error: {code: string; message: string; hint: string | null} | null = null;
	const notes: string[] = [];
	const exit = await runInGroup(python, ['-m', 'graviton_tune_probe', 'inspect', '--config', JSON.stringify(probeArguments(config as ProbeConfig))], {
		env: buildProbeEnv(config as ProbeConfig),
		signal: options.signal,
		timeoutMs: options.timeoutMs ?? INSPECT_TIMEOUT_MS,
		onStdoutLine: line => {
			let event: Record<string, unknown>;
			try {
				event = JSON.parse(line) as Record<string, unknown>;
			} catch {
				return;
			}
			if (event['type'] === 'model') info = event as unknown as ModelInfo;
			else if (event['type'] === 'error') error = {code: String(event['code']), message: String(event['message']), hint: (event['hint'] as string | null) ?? null};
			else if (event['type'] === 'log' && typeof event['message'] === 'string') notes.push(event['message']);
		},
	});
	if (error) return {ok: false, ...(error as {code: string; message: string; hint: string | null})};
	if (info) return {ok: true, info, notes};
	if (exit.killedBy === 'abort') return {ok: false, code: 'cancelled', message: 'cancelled', hint: null};
	const why = exit.spawnError?.message ?? (exit.killedBy === 'timeout' ? 'it took too long' : `exit code ${exit.exitCode ?? exit.signal}`);
	const tail = exit.stderrTail.trim().split('\n').at(-1) ?? '';
	return {ok: false, code: 'inspect-failed', message: `the model could not be inspected (${why})${tail ? `: ${tail}` : ''}`, hint: 'run `graviton-tune probe` with the same --model options to see the full error'};
}

