// Patching the user's own launch script: a marked env block after the shebang, and the
// service's python line rewritten to the winning launcher inside markers (the original
// kept as comments, so patching again starts from it). In place, with a backup, after
// showing the diff.
import fs from 'node:fs/promises';
import path from 'node:path';
import {createTwoFilesPatch} from 'diff';
import type {Candidate} from '../../types.js';
import {distributedPrefix, needsNoPython, PYTHON_WORD, shellJoin, shellQuote} from './launch-script.js';
import {atomicWrite, backupTo} from './write.js';

export const ENV_BLOCK_BEGIN = '# >>> graviton-tune >>>';
export const ENV_BLOCK_END = '# <<< graviton-tune <<<';
export const LAUNCHER_BLOCK_BEGIN = '# >>> graviton-tune launcher >>>';
export const LAUNCHER_BLOCK_END = '# <<< graviton-tune launcher <<<';
/** Prefix of the commented copy of the user's original line inside the launcher block. */
const ORIGINAL_PREFIX = '#| ';

export interface PatchResult {
	text: string;
	changed: boolean;
	/** What was done or could not be done, in words. */
	notes: string[];
}

/** The sourcing line: POSIX sh, so it also works in a script run by dash. */
function sourceLine(envFilePath: string): string {
	if (path.isAbsolute(envFilePath)) return `. ${shellQuote(envFilePath)}`;
	// Relative to the script, not to wherever it is started from.
	return `. "$(dirname "$0")"/${shellQuote(envFilePath)}`;
}

function envBlock(envFilePath: string): string[] {
	return [
		ENV_BLOCK_BEGIN,
		'# Added by graviton-tune: load the measured configuration. Re-run graviton-tune to update.',
		'set -a',
		sourceLine(envFilePath),
		'set +a',
		ENV_BLOCK_END,
	];
}

/** [begin, end] line indexes of a marked block, or null. */
function findBlock(lines: string[], begin: string, end: string): [number, number] | null {
	const start = lines.findIndex((line) => line.trim() === begin);
	if (start < 0) return null;
	const stop = lines.findIndex((line, i) => i > start && line.trim() === end);
	return stop < 0 ? null : [start, stop];
}

interface PythonLine {
	indent: string;
	exec: string;
	assignments: string;
	word: string;
	rest: string;
}

// indent, optional `exec`, optional VAR=value prefixes, the interpreter word, the rest.
const PYTHON_LINE = /^(\s*)(exec\s+)?((?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*)(\S+)((?:\s.*)?)$/;
// Helper invocations that are not the service: never the line to rewrite.
const NOT_THE_SERVICE = /^\s*(?:-m\s+(?:pip|venv|ensurepip|compileall)\b|-c\b|-V\b|--version\b)/;

function parsePythonLine(line: string): PythonLine | null {
	if (/^\s*#/.test(line)) return null;
	const m = PYTHON_LINE.exec(line);
	if (!m || !PYTHON_WORD.test(m[4]!) || NOT_THE_SERVICE.test(m[5] ?? '')) return null;
	return {indent: m[1]!, exec: m[2] ?? '', assignments: m[3] ?? '', word: m[4]!, rest: m[5] ?? ''};
}

/** The service's python line: the first `exec python …`, else the first python line. */
function findPythonLine(lines: string[]): number {
	const candidates = lines.map((line, i) => ({i, parsed: parsePythonLine(line)})).filter((c) => c.parsed !== null);
	const withExec = candidates.find((c) => c.parsed!.exec !== '');
	return (withExec ?? candidates[0])?.i ?? -1;
}

/** The line plus its backslash continuations. */
function continuationEnd(lines: string[], start: number): number {
	let end = start;
	while (end < lines.length - 1 && /\\$/.test(lines[end]!)) end++;
	return end;
}

/** The first line, rewritten to the winning launcher; continuation lines are kept verbatim. */
function rewritePythonLine(parsed: PythonLine, workers: number): string {
	const firstArg = parsed.rest.trimStart().split(/\s+/)[0];
	const prefix = distributedPrefix(parsed.word, workers);
	const launcher = needsNoPython(firstArg) ? `${shellJoin([...prefix, '--no-python'])} ${parsed.word}` : shellJoin(prefix);
	return `${parsed.indent}${parsed.exec}${parsed.assignments}${launcher}${parsed.rest}`;
}

function launcherBlock(original: string[], workers: number): string[] {
	const parsed = parsePythonLine(original[0]!)!;
	return [
		`${LAUNCHER_BLOCK_BEGIN} (the original lines follow as #| comments)`,
		...original.map((line) => `${ORIGINAL_PREFIX}${line}`),
		rewritePythonLine(parsed, workers),
		...original.slice(1),
		LAUNCHER_BLOCK_END,
	];
}

/** The original lines saved in an existing launcher block. */
function savedOriginal(lines: string[], block: [number, number]): string[] {
	return lines
		.slice(block[0] + 1, block[1])
		.filter((line) => line.startsWith(ORIGINAL_PREFIX))
		.map((line) => line.slice(ORIGINAL_PREFIX.length));
}

function patchEnvBlock(lines: string[], envFilePath: string, notes: string[]): string[] {
	const block = envBlock(envFilePath);
	const existing = findBlock(lines, ENV_BLOCK_BEGIN, ENV_BLOCK_END);
	if (existing) {
		notes.push('env block: updated in place');
		return [...lines.slice(0, existing[0]), ...block, ...lines.slice(existing[1] + 1)];
	}
	const at = lines[0]?.startsWith('#!') ? 1 : 0;
	notes.push('env block: added after the shebang');
	return [...lines.slice(0, at), ...block, ...lines.slice(at)];
}

function patchLauncher(lines: string[], workers: number, notes: string[]): string[] {
	// Matching the begin marker by prefix: it carries an explanation after it.
	const start = lines.findIndex((line) => line.trim().startsWith(LAUNCHER_BLOCK_BEGIN));
	const stop = start < 0 ? -1 : lines.findIndex((line, i) => i > start && line.trim() === LAUNCHER_BLOCK_END);
	let original: string[];
	let span: [number, number];
	if (start >= 0 && stop >= 0) {
		original = savedOriginal(lines, [start, stop]);
		span = [start, stop];
	} else {
		const at = findPythonLine(lines);
		if (at < 0) {
			notes.push('no python invocation found (a line whose command is python, python3 or …/bin/python): only the env block was added; start your app with the launcher yourself');
			return lines;
		}
		span = [at, continuationEnd(lines, at)];
		original = lines.slice(span[0], span[1] + 1);
	}
	if (original.length === 0 || !parsePythonLine(original[0]!)) {
		notes.push('the graviton-tune launcher block has no recognisable original line: left as it is');
		return lines;
	}
	const parsed = parsePythonLine(original[0]!)!;
	if (parsed.assignments.trim() !== '') notes.push(`the python line sets ${parsed.assignments.trim()} itself, which overrides the env file for those variables`);
	const replacement = workers > 1 ? launcherBlock(original, workers) : original;
	notes.push(
		workers > 1
			? `python invocation rewritten to ${workers} workers: ${rewritePythonLine(parsed, workers).trim()}`
			: 'single process wins: the python invocation is kept as it was',
	);
	return [...lines.slice(0, span[0]), ...replacement, ...lines.slice(span[1] + 1)];
}

/**
 * Patch a user's launch script: a marked env block after the shebang, and the first
 * python invocation rewritten to the winning launcher inside markers (the original
 * kept as comments, so patching again — same or different winner — starts from it).
 */
export function patchLaunchScript(original: string, input: {best: Candidate; envFilePath: string}): PatchResult {
	const notes: string[] = [];
	const trailingNewline = original.endsWith('\n') || original === '';
	let lines = original.split('\n');
	if (trailingNewline) lines.pop();
	lines = patchEnvBlock(lines, input.envFilePath, notes);
	lines = patchLauncher(lines, input.best.config.workers, notes);
	const text = lines.join('\n') + (trailingNewline ? '\n' : '');
	return {text, changed: text !== original, notes};
}

// ---------------------------------------------------------------- diff

/** A unified diff (3 lines of context) that patch(1) applies, '' when the texts are equal (jsdiff underneath). */
export function unifiedDiff(oldText: string, newText: string, name: string, context = 3): string {
	if (oldText === newText) return '';
	const text = createTwoFilesPatch(`a/${name}`, `b/${name}`, oldText, newText, undefined, undefined, {context});
	// jsdiff opens with a line of "=" (an svn habit); diff -u does not.
	return text.replace(/^=+\n/, '');
}

// ---------------------------------------------------------------- in place

/**
 * The env file as the patched script should name it: relative to the script when it
 * sits in or below the script's directory (the pair can move together), else absolute.
 * A relative envFilePath given here is relative to the current directory.
 */
function envPathForScript(script: string, envFilePath: string): string {
	const absolute = path.resolve(envFilePath);
	const relative = path.relative(path.dirname(script), absolute);
	return relative.startsWith('..') || path.isAbsolute(relative) ? absolute : relative;
}

/**
 * Patch the user's launch script in place: backup beside it
 * (`<script>.graviton-tune.bak`, .1, .2 … never clobbered), atomic write, mode kept.
 * With dryRun nothing is written: show the diff, ask, then call again.
 */
export async function patchFileInPlace(
	file: string,
	input: {best: Candidate; envFilePath: string},
	opts: {dryRun?: boolean} = {},
): Promise<{diff: string; changed: boolean; backupPath: string | null; notes: string[]; path: string}> {
	// Through a symlink to the real script: replacing the link would detach it.
	const real = await fs.realpath(file);
	const original = await fs.readFile(real, 'utf8');
	const patched = patchLaunchScript(original, {best: input.best, envFilePath: envPathForScript(real, input.envFilePath)});
	const diff = unifiedDiff(original, patched.text, path.basename(file));
	if (!patched.changed || opts.dryRun) return {diff, changed: patched.changed, backupPath: null, notes: patched.notes, path: real};
	const {mode} = await fs.stat(real);
	const backupPath = await backupTo(real, `${real}.graviton-tune.bak`);
	await atomicWrite(real, patched.text, mode & 0o7777);
	return {diff, changed: true, backupPath, notes: patched.notes, path: real};
}
