// Preferences and history, kept with conf: what the user chose last time, and every
// probe result per machine fingerprint (CPU, usable CPUs, torch, model, input), so a
// rerun can show earlier figures and --resume can skip what is already measured.
import {createHash} from 'node:crypto';
import {writeFileSync} from 'node:fs';
import Conf from 'conf';
import type {Detection, ModelSpec, ProbeResult, PythonEnv} from './types.js';

export interface Preferences {
	model?: string;
	/** The user's own models tuned on this machine, most recent first (offered first next time). */
	ownModels?: ModelSpec[];
	budget?: string;
	recipes?: string[];
	maxLatencyMs?: number | null;
}

export interface StoredResult {
	at: string;
	result: ProbeResult;
}

export interface MachineHistory {
	label: string;
	updatedAt: string;
	results: Record<string, StoredResult>;
	best?: {at: string; samplesPerSecond: number; speedup: number; recipes: string[]};
	/** Per recipe id: what its step brought (ratio over the incumbent) and cost here, over the walks (the planner's history). */
	observed?: Record<string, {ratio: number; costSeconds: number; count: number}>;
	/** This machine's matmul rates (GFLOP/s per precision), measured once (source/core/machine/limits.ts). */
	matmul?: MatmulRates;
}

export interface MatmulRates {
	at: string;
	threads: number;
	/** GFLOP/s (int8: GOP/s) for each precision that ran; absent: not supported here. */
	fp32?: number;
	bf16?: number;
	int8?: number;
	/** Memory bandwidth, GB/s (STREAM's triad), measured where a generating model needs it. */
	bandwidth?: number;
}

interface Store {
	preferences: Preferences;
	history: Record<string, MachineHistory>;
}

/** The machine and Python that a measurement depends on (the model aside). */
function machineParts(detection: Detection, python: PythonEnv) {
	return {
		arch: detection.cpu.arch,
		cpu: detection.cpu.modelName ?? detection.cpu.core,
		platform: detection.cpu.platform,
		features: [...detection.cpu.features].sort().join(' '),
		usableCpus: detection.usableCpus,
		torch: python.torch?.version ?? null,
		interpreter: python.interpreter,
	};
}

const shortHash = (value: unknown) => createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);

/** What must be unchanged for an earlier measurement to stand. */
export function fingerprint(detection: Detection, python: PythonEnv, model: ModelSpec): {key: string; label: string} {
	const parts = {...machineParts(detection, python), model};
	const label = `${parts.cpu ?? parts.arch}, ${parts.usableCpus} CPUs, torch ${parts.torch ?? '?'}, ${model.name ?? model.path ?? 'model'}`;
	return {key: shortHash(parts), label};
}

/**
 * The same, for any model: what `detect --json` gives provisioning (an Ansible role
 * re-tunes a host when it changes, together with the model file and the tool's version).
 */
export function machineFingerprint(detection: Detection, python: PythonEnv): {key: string; label: string} {
	const parts = machineParts(detection, python);
	return {key: shortHash(parts), label: `${parts.cpu ?? parts.arch}, ${parts.usableCpus} CPUs, torch ${parts.torch ?? '?'}`};
}

/** A settings file that is not JSON, or not shaped like ours. */
function parseStore(text: string): Store {
	const value: unknown = JSON.parse(text);
	const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
	const store = value as Partial<Store>;
	if (!isObject(value) || (store.preferences !== undefined && !isObject(store.preferences)) || (store.history !== undefined && !isObject(store.history))) {
		const error = new Error('not a graviton-tune settings object');
		error.name = 'SyntaxError'; // conf's clearInvalidConfig starts afresh on this name
		throw error;
	}
	return value as Store;
}

/** The history entry that holds a machine's matmul rates (source/core/machine/limits.ts matmulKey). */
const matmulEntry = (machineKey: string) => `matmul:${machineKey}`;

export class Settings {
	private readonly store: Conf<Store>;
	/** Where a damaged settings file was copied before starting afresh (for a note to the user). */
	readonly damagedCopy: string | null = null;

	/** dir: where to keep the file (tests, GRAVITON_TUNE_CONFIG_DIR); default the OS config dir. */
	constructor(dir?: string) {
		let damaged: string | null = null;
		this.store = new Conf<Store>({
			projectName: 'graviton-tune',
			projectSuffix: '',
			...(dir ? {cwd: dir} : {}),
			defaults: {preferences: {}, history: {}},
			// A history file damaged by hand should not stop the tool: start afresh, but keep
			// a copy of what was there and say so (below) rather than lose it silently.
			clearInvalidConfig: true,
			deserialize: (text: string) => {
				try {
					return parseStore(text);
				} catch (error) {
					damaged ??= text;
					throw error;
				}
			},
			accessPropertiesByDotNotation: false,
		});
		if (damaged !== null) {
			const copy = `${this.store.path}.damaged-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
			try {
				writeFileSync(copy, damaged, {flag: 'wx', mode: 0o600});
				this.damagedCopy = copy;
			} catch (error) {
				this.writeError = `the damaged settings file could not be copied to ${copy}: ${(error as Error).message}`;
			}
		}
	}

	/** One sentence about a damaged settings file, or null. */
	damageNote(): string | null {
		if (this.damagedCopy === null) return null;
		return `The settings file ${this.path} was damaged (not valid JSON, or not graviton-tune's); a copy is kept at ${this.damagedCopy} and the preferences and history start afresh.`;
	}

	get path(): string {
		return this.store.path;
	}

	preferences(): Preferences {
		return this.store.get('preferences');
	}

	savePreferences(p: Preferences): void {
		this.write(() => this.store.set('preferences', {...this.preferences(), ...p}));
	}

	machine(key: string): MachineHistory | undefined {
		return this.store.get('history')[key];
	}

	lookup(key: string, candidateKey: string): StoredResult | undefined {
		return this.machine(key)?.results[candidateKey];
	}

	/** History is a convenience: a write that fails (read-only config dir, full disk) never stops a walk. */
	private write(update: () => void): void {
		try {
			update();
		} catch (error) {
			this.writeError ??= (error as Error).message;
		}
	}

	/** The first history write that failed, if any (for a note to the user). */
	writeError: string | undefined;

	record(key: string, label: string, candidateKey: string, result: ProbeResult): void {
		this.write(() => this.recordNow(key, label, candidateKey, result));
	}

	private recordNow(key: string, label: string, candidateKey: string, result: ProbeResult): void {
		const history = this.store.get('history');
		const now = new Date().toISOString();
		const entry = history[key] ?? {label, updatedAt: now, results: {}};
		entry.results[candidateKey] = {at: now, result};
		entry.updatedAt = now;
		this.store.set('history', {...history, [key]: entry});
	}

	/** Each recipe's figure from one walk, folded into the running (geometric) mean. */
	recordObserved(key: string, label: string, figures: Record<string, {ratio: number; costSeconds: number}>): void {
		this.write(() => {
			const history = this.store.get('history');
			const entry = history[key] ?? {label, updatedAt: new Date().toISOString(), results: {}};
			const observed = {...(entry.observed ?? {})};
			for (const [id, f] of Object.entries(figures)) {
				if (!(f.ratio > 0)) continue;
				const old = observed[id];
				const count = (old?.count ?? 0) + 1;
				observed[id] = old
					? {ratio: Math.exp((Math.log(old.ratio) * old.count + Math.log(f.ratio)) / count), costSeconds: (old.costSeconds * old.count + f.costSeconds) / count, count}
					: {ratio: f.ratio, costSeconds: f.costSeconds, count};
			}
			entry.observed = observed;
			this.store.set('history', {...history, [key]: entry});
		});
	}

	/** Matmul rates are a property of the machine, not of a model: kept under their own key. */
	matmulRates(machineKey: string): MatmulRates | undefined {
		return this.machine(matmulEntry(machineKey))?.matmul;
	}

	recordMatmulRates(machineKey: string, label: string, rates: MatmulRates): void {
		this.write(() => {
			const history = this.store.get('history');
			const key = matmulEntry(machineKey);
			const entry = history[key] ?? {label, updatedAt: rates.at, results: {}};
			entry.matmul = rates;
			this.store.set('history', {...history, [key]: entry});
		});
	}

	/** Drops this machine's kept rates (a walk outran them): the next run measures them again. */
	forgetMatmulRates(machineKey: string): void {
		this.write(() => {
			const history = this.store.get('history');
			const key = matmulEntry(machineKey);
			const entry = history[key];
			if (!entry?.matmul) return;
			const {matmul: _dropped, ...rest} = entry;
			this.store.set('history', {...history, [key]: rest});
		});
	}

	recordBest(key: string, label: string, best: NonNullable<MachineHistory['best']>): void {
		this.write(() => this.recordBestNow(key, label, best));
	}

	private recordBestNow(key: string, label: string, best: NonNullable<MachineHistory['best']>): void {
		const history = this.store.get('history');
		const entry = history[key] ?? {label, updatedAt: best.at, results: {}};
		entry.best = best;
		this.store.set('history', {...history, [key]: entry});
	}
}

/** Settings in GRAVITON_TUNE_CONFIG_DIR (or the OS config dir); none when they cannot be opened. */
export function openSettings(env: NodeJS.ProcessEnv = process.env): Settings | undefined {
	try {
		return new Settings(env['GRAVITON_TUNE_CONFIG_DIR']);
	} catch {
		return undefined;
	}
}
