#!/usr/bin/env node
// Writes the files derived from source/core/recipes/contract.ts (through the build in dist/):
// probes/graviton_tune_contract.json for the Python side and recipes/recipe.schema.json
// for the recipe files. `--check` writes nothing and fails when either is out of date.
import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const {contractFiles} = await import(path.join(root, 'dist/core/recipes/contract-files.js'));
const check = process.argv.includes('--check');
let stale = 0;
for (const {file, content} of contractFiles()) {
	const target = path.join(root, file);
	let current = null;
	try {
		current = readFileSync(target, 'utf8');
	} catch {
		// Not there yet: it is written below.
	}
	if (current === content) continue;
	if (check) {
		process.stderr.write(`contract: ${file} is out of date with source/core/recipes/contract.ts (run: npm run build && npm run contract)\n`);
		stale += 1;
	} else {
		writeFileSync(target, content);
		process.stderr.write(`contract: wrote ${file}\n`);
	}
}
process.exitCode = stale ? 1 : 0;
