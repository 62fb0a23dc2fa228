// One temporary folder for the whole test run: TMPDIR points into it, so every folder the
// tests make (os.tmpdir()) and every one their probes and walks make (Python's tempfile, a
// walk's conversion cache) lies in it, and it is removed when the run ends, passed or failed.
import {mkdtempSync, rmSync} from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export default function setup(): () => void {
	const root = mkdtempSync(path.join(os.tmpdir(), 'graviton-tune-tests-'));
	process.env['TMPDIR'] = root;
	return () => rmSync(root, {recursive: true, force: true});
}
