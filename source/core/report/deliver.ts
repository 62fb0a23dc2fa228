// Turning a walk's result into the files a user deploys. Two steps so a face can show
// what will be written (and the diff of a patched launch script) before writing.
import {constants} from 'node:fs';
import {access, open, realpath, stat} from 'node:fs/promises';
import path from 'node:path';
import {isUtf8} from 'node:buffer';
import {ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, patchFileInPlace, renderOutputFiles, REPORT_HTML_NAME, REPORT_JSON_NAME, REPORT_MD_NAME, writeOutputs} from './outputs.js';
import type {OutputFile} from './outputs.js';
import type {Prepared} from '../walk/session.js';
import type {WalkResult} from '../types.js';
import type {TuneOptions} from '../walk/tune-options.js';

export interface DeliveryInput {
	result: WalkResult;
	prepared: Prepared;
	tune: TuneOptions;
	startedAt: Date;
}

export interface DeliveryPlan {
	/** Absolute output directory. */
	dir: string;
	files: OutputFile[];
	/** The user's launch script patch (--launch-script), with its diff. */
	patch: {path: string; diff: string; changed: boolean; notes: string[]} | null;
	/** What commitDelivery needs to redo the patch for real. */
	input: DeliveryInput;
}

export interface Delivered {
	written: string[];
	backups: string[];
	patched: string | null;
	/** Paths for the result line: env file, launch script, report.json. */
	files: {env: string; launch: string; report: string; reportMarkdown: string; reportHtml: string};
}

/** The options worth recording in report.json (what a rerun would need). */
function reportOptions(tune: TuneOptions): Record<string, unknown> {
	const {yes: _yes, json: _json, ...rest} = tune;
	return rest;
}

/** Render every file and dry-run the launch-script patch; writes nothing. */
export async function planDelivery(input: DeliveryInput): Promise<DeliveryPlan> {
	const {result, prepared, tune, startedAt} = input;
	const dir = path.resolve(tune.out);
	const files = await renderOutputFiles({
		result,
		detection: prepared.detection,
		python: prepared.python,
		model: tune.model,
		options: reportOptions(tune),
		startedAt,
		app: tune.app,
		pricePerHour: tune.pricePerHour,
	});
	let patch: DeliveryPlan['patch'] = null;
	if (tune.launchScript) {
		const dry = await patchFileInPlace(tune.launchScript, {best: result.best.candidate, envFilePath: path.join(dir, ENV_FILE_NAME)}, {dryRun: true});
		patch = {path: dry.path, diff: dry.diff, changed: dry.changed, notes: dry.notes};
	}
	return {dir, files, patch, input};
}

/** Write the planned files atomically (backups of changed files) and apply the patch. */
export async function commitDelivery(plan: DeliveryPlan): Promise<Delivered> {
	const {written, backups} = await writeOutputs(plan.dir, plan.files);
	let patched: string | null = null;
	if (plan.patch?.changed) {
		const done = await patchFileInPlace(plan.patch.path, {best: plan.input.result.best.candidate, envFilePath: path.join(plan.dir, ENV_FILE_NAME)});
		patched = done.path;
		if (done.backupPath) backups.push(done.backupPath);
	}
	return {
		written: patched ? [...written, patched] : written,
		backups,
		patched,
		files: {
			env: path.join(plan.dir, ENV_FILE_NAME),
			launch: plan.patch?.path ?? path.join(plan.dir, LAUNCH_SCRIPT_NAME),
			report: path.join(plan.dir, REPORT_JSON_NAME),
			reportMarkdown: path.join(plan.dir, REPORT_MD_NAME),
			reportHtml: path.join(plan.dir, REPORT_HTML_NAME),
		},
	};
}

/** Why a file cannot be read, in words. */
function unreadable(error: unknown): string {
	const code = (error as NodeJS.ErrnoException).code;
	if (code === 'ENOENT') return 'no such file (or a symlink to nothing)';
	if (code === 'EACCES' || code === 'EPERM') return 'this user may not read it';
	if (code === 'EISDIR') return 'a directory, not a file';
	return (error as Error).message;
}

/** The model file must be there and readable before a walk starts (its contents are the probe's to judge). */
async function modelFileProblem(tune: TuneOptions): Promise<string | null> {
	const file = tune.model.path;
	// "module:attr" and other non-file forms are not this check's business.
	if (!file || file.includes(':')) return null;
	try {
		const info = await stat(file);
		if (info.isDirectory()) return null; // a saved model folder
		await access(file, constants.R_OK);
		await (await open(file, 'r')).close();
	} catch (error) {
		return `--model ${file}: cannot read the model file: ${unreadable(error)}\n  fix: check the path given with --model (a .py file, TorchScript, .pt2, .onnx, or a save_pretrained folder)`;
	}
	return null;
}

/** A script we can patch as text: a regular file, readable and writable, not binary. */
async function launchScriptProblem(file: string): Promise<string | null> {
	const problem = (why: string) => `--launch-script ${file}: ${why}`;
	let real: string;
	try {
		// A symlink is followed: the script it points to is what gets patched (the link stays).
		real = await realpath(file);
		if (!(await stat(real)).isFile()) return problem('not a regular file');
		await access(real, constants.R_OK | constants.W_OK);
	} catch {
		return problem('not a file this user can read and write');
	}
	const handle = await open(real, 'r');
	try {
		const {buffer, bytesRead} = await handle.read({buffer: Buffer.alloc(8192), position: 0});
		const head = buffer.subarray(0, bytesRead);
		if (head.includes(0) || !isUtf8(head.subarray(0, utf8Boundary(head)))) return problem('a binary file, not a shell script (patching it would corrupt it)');
	} finally {
		await handle.close();
	}
	return null;
}

/** Length of the buffer without a trailing, cut-off UTF-8 sequence. */
function utf8Boundary(buf: Buffer): number {
	const end = buf.length;
	for (let back = 1; back <= 3 && end - back >= 0; back++) {
		const byte = buf[end - back]!;
		if ((byte & 0xc0) === 0x80) continue;
		if ((byte & 0xc0) === 0xc0) return end - back;
		break;
	}
	return end;
}

/** What would stop the walk being used, found before it rather than after: the model file, the outputs. */
export async function outputProblem(tune: TuneOptions): Promise<string | null> {
	const model = await modelFileProblem(tune);
	if (model) return model;
	if (tune.launchScript) {
		const script = await launchScriptProblem(tune.launchScript);
		if (script) return script;
	}
	let info;
	try {
		info = await stat(tune.out);
	} catch {
		// Missing: it is created when the files are written, inside its nearest existing parent.
		const parent = await nearestExisting(path.resolve(tune.out));
		const problem = parent ? await notWritable(parent) : null;
		return problem ? `--out ${tune.out}: cannot be created in ${parent}: ${problem}` : null;
	}
	if (!info.isDirectory()) return `--out ${tune.out}: exists and is not a directory`;
	const problem = await notWritable(tune.out);
	return problem ? `--out ${tune.out}: ${problem}` : null;
}

async function nearestExisting(dir: string): Promise<string | null> {
	for (let d = path.dirname(dir); ; d = path.dirname(d)) {
		try {
			if ((await stat(d)).isDirectory()) return d;
			return null;
		} catch {
			if (d === path.dirname(d)) return null;
		}
	}
}

async function notWritable(dir: string): Promise<string | null> {
	try {
		await access(dir, constants.W_OK | constants.X_OK);
		return null;
	} catch (error) {
		return (error as NodeJS.ErrnoException).code === 'EROFS' ? 'on a read-only file system' : 'this user may not write into it';
	}
}
