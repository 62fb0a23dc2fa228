// Reading the machine's files: under one root, the live machine's / or a captured tree
// (--root DIR), and never outside it, with a note for each file that could not be read;
// and HardwareError, for a root or a /proc/cpuinfo that leaves nothing to detect.
import {GravitonTuneError} from '../errors.js';
import {promises as fs} from 'node:fs';
import path from 'node:path';

export class HardwareError extends GravitonTuneError {
	/** Stable code: root-missing, root-not-directory, no-cpuinfo, cpuinfo-unreadable, cpuinfo-empty. */
	code: string;

	constructor(code: string, message: string) {
		super('environment', message);
		this.name = 'HardwareError';
		this.code = code;
	}
}

/** Reads files under one root, and never outside it: a captured tree must not mix with the live machine. */
export interface Reader {
	root: string;
	live: boolean;
	notes: string[];
	/** Text of ROOT/rel; null when missing. Unreadable files add a note saying what is then unknown. */
	text(rel: string, what: string): Promise<string | null>;
	/** Whether ROOT/rel exists (a link counts, even dangling: in a captured tree it may point at the host). */
	exists(rel: string): Promise<boolean>;
	/** The names in the folder ROOT/rel, sorted; none when it is missing (others add a note). */
	list(rel: string): Promise<string[]>;
	/** The path as shown to people. */
	show(rel: string): string;
}

export async function openReader(root: string | undefined): Promise<Reader> {
	const live = root === undefined;
	const base = live ? '/' : path.resolve(root);
	if (!live) await checkRoot(root, base);
	const notes: string[] = [];
	const show = (rel: string) => path.join(base, rel);
	return {
		root: base,
		live,
		notes,
		show,
		async text(rel, what) {
			try {
				return await fs.readFile(show(rel), 'utf8');
			} catch (error) {
				const code = errorCode(error);
				// Missing is ordinary (no DMI in containers, no SVE on x86); anything else is worth saying.
				if (code !== 'ENOENT' && code !== 'ENOTDIR') notes.push(`could not read ${show(rel)} (${code ?? String(error)}): ${what} unknown`);
				return null;
			}
		},
		async list(rel) {
			try {
				return (await fs.readdir(show(rel))).sort();
			} catch (error) {
				const code = errorCode(error);
				if (code !== 'ENOENT' && code !== 'ENOTDIR') notes.push(`could not list ${show(rel)} (${code ?? String(error)})`);
				return [];
			}
		},
		async exists(rel) {
			try {
				await (live ? fs.stat(show(rel)) : fs.lstat(show(rel)));
				return true;
			} catch {
				return false;
			}
		},
	};
}

async function checkRoot(given: string, base: string): Promise<void> {
	try {
		const stat = await fs.stat(base);
		if (!stat.isDirectory()) throw new HardwareError('root-not-directory', `--root ${given}: not a directory (expected a captured tree with DIR/proc/cpuinfo)`);
	} catch (error) {
		if (error instanceof HardwareError) throw error;
		throw new HardwareError('root-missing', `--root ${given}: no such directory (${errorCode(error) ?? String(error)})`);
	}
}

export function errorCode(error: unknown): string | undefined {
	return typeof error === 'object' && error !== null && 'code' in error ? String((error as {code: unknown}).code) : undefined;
}

/** A file's first line, trimmed; null when missing or empty. */
export async function firstLine(reader: Reader, rel: string, what: string): Promise<string | null> {
	const text = await reader.text(rel, what);
	const line = text?.split('\n')[0]?.trim();
	return line ? line : null;
}
