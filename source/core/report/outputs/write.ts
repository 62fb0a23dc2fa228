// Writing files without ever leaving a half-written one or clobbering a user's file:
// atomic replacement (write-file-atomic: temp file beside it, fsync, rename), backups
// that never overwrite an earlier backup, and a set of files written all or nothing.
import {constants as fsConstants} from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';
import {GravitonTuneError} from '../../errors.js';

export interface OutputFile {
	name: string;
	content: string;
	mode?: number;
}

async function readIfExists(file: string): Promise<string | null> {
	try {
		return await fs.readFile(file, 'utf8');
	} catch (error) {
		if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
		throw error;
	}
}

/** Copy `file` to the first free name of base, base.1, base.2 …: an earlier backup is never overwritten. */
export async function backupTo(file: string, base: string): Promise<string> {
	for (let n = 0; ; n++) {
		const target = n === 0 ? base : `${base}.${n}`;
		try {
			await fs.copyFile(file, target, fsConstants.COPYFILE_EXCL);
		} catch (error) {
			if ((error as NodeJS.ErrnoException).code === 'EEXIST') continue;
			// A copy cut short (full disk) is no backup: do not leave it looking like one.
			await fs.rm(target, {force: true}).catch(() => undefined);
			throw new OutputWriteError(target, error);
		}
		const {mode} = await fs.stat(file);
		await fs.chmod(target, mode & 0o7777);
		return target;
	}
}

/** A write that failed, said with where: "could not write /srv/out/.launch.sh.tmp-…: no space left on device". */
export class OutputWriteError extends GravitonTuneError {
	constructor(
		readonly file: string,
		cause: unknown,
	) {
		const code = (cause as NodeJS.ErrnoException).code;
		const why = code === 'ENOSPC' ? 'no space left on device' : code === 'EDQUOT' ? 'disk quota exceeded' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EROFS' ? 'read-only file system' : (cause as Error).message;
		super('output', `${file}: ${why}`);
		this.name = 'OutputWriteError';
	}
}

/** Temp file beside the target, fsync'd, renamed over it (write-file-atomic), mode exactly as given. */
export async function atomicWrite(file: string, content: string, mode: number): Promise<void> {
	try {
		await writeFileAtomic(file, content, {mode, fsync: true});
	} catch (error) {
		throw new OutputWriteError(file, error);
	}
	await syncDir(path.dirname(file));
}

/** Make the rename itself durable; some filesystems refuse fsync on a directory, which is fine. */
async function syncDir(dir: string): Promise<void> {
	try {
		const handle = await fs.open(dir, 'r');
		try {
			await handle.sync();
		} finally {
			await handle.close();
		}
	} catch {
		// best effort
	}
}

function timestamp(date = new Date()): string {
	return date.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

function defaultMode(name: string): number {
	return name.endsWith('.sh') ? 0o755 : 0o644;
}

/**
 * Write files atomically into dir (created if missing). A file whose content is
 * already the same is left alone; a different existing file is first copied to
 * `<name><backupSuffix>` (default `.bak-<UTC timestamp>`, with .1, .2 … if taken).
 *
 * All or nothing: every new content is first written (atomically, fsync'd) into a
 * staging folder inside dir and every backup made before the first rename, so a full
 * disk or a permission problem leaves the directory as it was (no staged files, no half
 * a set of files, no directory we created). write-file-atomic makes each file whole;
 * the staging makes the set whole.
 */
export async function writeOutputs(
	dir: string,
	files: OutputFile[],
	opts: {backupSuffix?: string} = {},
): Promise<{written: string[]; backups: string[]; unchanged: string[]}> {
	let created: string | undefined;
	try {
		created = await fs.mkdir(dir, {recursive: true});
	} catch (error) {
		throw new OutputWriteError(dir, error);
	}
	const suffix = opts.backupSuffix ?? `.bak-${timestamp()}`;
	const unchanged: string[] = [];
	const staged: Array<{target: string; temp: string}> = [];
	const backups: string[] = [];
	// In dir itself: the same file system, so the renames below are atomic and need no space.
	const staging = path.join(dir, `.graviton-tune-staging-${process.pid}-${Math.random().toString(36).slice(2, 10)}`);
	const cleanStaging = () => fs.rm(staging, {recursive: true, force: true}).catch(() => undefined);
	try {
		for (const file of files) {
			const target = path.join(dir, file.name);
			const existing = await readIfExists(target);
			if (existing === file.content) {
				unchanged.push(target);
				continue;
			}
			const temp = path.join(staging, file.name);
			try {
				await fs.mkdir(staging, {recursive: true});
				await writeFileAtomic(temp, file.content, {mode: file.mode ?? defaultMode(file.name), fsync: true});
			} catch (error) {
				throw new OutputWriteError(target, error);
			}
			staged.push({target, temp});
			if (existing !== null) backups.push(await backupTo(target, target + suffix));
		}
	} catch (error) {
		await Promise.all([cleanStaging(), ...backups.map(b => fs.rm(b, {force: true}))]);
		if (created) await fs.rm(created, {recursive: true, force: true});
		throw error instanceof OutputWriteError ? error : new OutputWriteError(dir, error);
	}
	for (const {target, temp} of staged) {
		try {
			await fs.rename(temp, target);
		} catch (error) {
			await cleanStaging();
			throw new OutputWriteError(target, error);
		}
	}
	await cleanStaging();
	await syncDir(dir);
	return {written: staged.map(s => s.target), backups, unchanged};
}
