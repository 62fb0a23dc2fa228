// A fleet's reports as provisioning brings them home: one folder with a subfolder per
// host (Ansible's fetch, `aws s3 sync`), each holding that host's report.json. Such a
// folder is opened into its host folders, and the runs are ranked by instance type: what
// a million inferences cost on each type, for each model. Nothing here writes.
import {readdir, stat} from 'node:fs/promises';
import path from 'node:path';
import {REPORT_JSON_NAME} from './outputs.js';

/**
 * The sources to read: each path as given, except a folder that holds no report.json but
 * has subfolders, which stands for its subfolders (sorted; hidden ones left out). A host
 * folder without a report (a failed host) stays in the list, to be named as not compared.
 * A path that does not exist is passed on as it is (the reader says it does not exist).
 */
export async function expandFleetFolders(sources: readonly string[]): Promise<string[]> {
	const expanded: string[] = [];
	for (const source of sources) expanded.push(...(await hostFolders(source)));
	return expanded;
}

async function isDirectory(file: string): Promise<boolean> {
	try {
		return (await stat(file)).isDirectory();
	} catch {
		return false;
	}
}

async function hostFolders(source: string): Promise<string[]> {
	if (!(await isDirectory(source))) return [source];
	if (await stat(path.join(source, REPORT_JSON_NAME)).then(() => true, () => false)) return [source];
	let entries;
	try {
		entries = await readdir(source, {withFileTypes: true});
	} catch {
		return [source];
	}
	const names = entries.filter((e) => !e.name.startsWith('.')).map((e) => e.name).sort();
	const folders: string[] = [];
	for (const name of names) if (await isDirectory(path.join(source, name))) folders.push(path.join(source, name));
	return folders.length > 0 ? folders : [source];
}

/** The parts of a compared run that rank an instance type (CompareRow has them all). */
export interface RankedRun {
	source: string;
	model: string;
	instanceType: string | null;
	costPerMillion: number | null;
	/** The currency of costPerMillion (null where the cost is unknown). */
	currency: string | null;
	samplesPerSecond: number;
	unit: 'samples/s' | 'tokens/s';
}

export interface InstanceTypeRank {
	model: string;
	/** Null: the run did not know its instance type (no DMI data), so it stands alone. */
	instanceType: string | null;
	/** The runs of this type (their sources), e.g. one per host. */
	runs: string[];
	/** The median over the runs whose cost is known; null when none is. */
	costPerMillion: number | null;
	currency: string | null;
	/** The median winner throughput over the runs. */
	samplesPerSecond: number;
	unit: 'samples/s' | 'tokens/s';
}

function median(values: number[]): number {
	const sorted = [...values].sort((a, b) => a - b);
	const mid = Math.floor(sorted.length / 2);
	return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Instance types ranked by cost per million inferences, within each model (figures never
 * compare across models): the median over the hosts of a type, cheapest first; types of
 * unknown price after them, fastest first. A run without an instance type is its own entry.
 */
export function rankInstanceTypes(rows: readonly RankedRun[]): InstanceTypeRank[] {
	const groups = new Map<string, RankedRun[]>();
	for (const r of rows) {
		const key = JSON.stringify([r.model, r.instanceType ?? `run:${r.source}`]);
		groups.set(key, [...(groups.get(key) ?? []), r]);
	}
	const ranks: InstanceTypeRank[] = [...groups.values()].map((runs) => {
		const costs = runs.map((r) => r.costPerMillion).filter((c): c is number => c !== null);
		return {
			model: runs[0]!.model,
			instanceType: runs[0]!.instanceType,
			runs: runs.map((r) => r.source),
			costPerMillion: costs.length > 0 ? median(costs) : null,
			currency: runs.find((r) => r.currency !== null)?.currency ?? null,
			samplesPerSecond: median(runs.map((r) => r.samplesPerSecond)),
			unit: runs[0]!.unit,
		};
	});
	return ranks.sort((a, b) => {
		if (a.model !== b.model) return a.model < b.model ? -1 : 1;
		if (a.costPerMillion !== null && b.costPerMillion !== null) return a.costPerMillion - b.costPerMillion;
		if (a.costPerMillion !== null) return -1;
		if (b.costPerMillion !== null) return 1;
		return b.samplesPerSecond - a.samplesPerSecond;
	});
}
