// Turning a walk's result into the files a user deploys. Two steps so a face can show
// what will be written (and the diff of a patched launch script) before writing.
import {constants} from 'node:fs';
import {access, stat} from 'node:fs/promises';
import path from 'node:path';
import {ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, patchFileInPlace, renderOutputFiles, REPORT_HTML_NAME, REPORT_JSON_NAME, REPORT_MD_NAME, writeOutputs} from './outputs.js';
import type {OutputFile} from './outputs.js';
import type {Prepared} from './session.js';
import type {WalkResult} from './types.js';
import type {TuneFlags} from '../options.js';

export interface DeliveryInput {
	result: WalkResult;
	prepared: Prepared;
	tune: TuneFlags;
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
function reportOptions(tune: TuneFlags): Record<string, unknown> {
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

/** What would stop the files being written, found before the walk rather than after it. */
export async function outputProblem(tune: TuneFlags): Promise<string | null> {
	if (tune.launchScript) {
		try {
			await access(tune.launchScript, constants.R_OK | constants.W_OK);
		} catch {
			return `--launch-script ${tune.launchScript}: not a file this user can read and write`;
		}
	}
	try {
		const info = await stat(tune.out);
		if (!info.isDirectory()) return `--out ${tune.out}: exists and is not a directory`;
	} catch {
		// Missing: it is created when the files are written.
	}
	return null;
}
