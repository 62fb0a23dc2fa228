#!/usr/bin/env node
// Writes every file generated from the declarations, in the order they depend on each other:
// from source/core/recipes/contract.ts (through the build in dist/) the Python side's copy of
// the option table (probes/graviton_tune_contract.json) and the recipe schema
// (recipes/recipe.schema.json), then the runtime helper's bundle (probes/graviton_tune_runtime.py),
// which embeds that contract. `npm run build` runs it after tsc.
// `--check` writes nothing and fails (exit 1), naming each file that is out of date.
import {readFileSync, writeFileSync} from 'node:fs';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {BUNDLE_FILE, bundle} from './bundle-runtime.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const {contractFiles, CONTRACT_JSON_FILE} = await import(path.join(root, 'dist/core/recipes/contract-files.js'));
const check = process.argv.includes('--check');

const files = contractFiles();
const contract = JSON.parse(files.find(f => f.file === CONTRACT_JSON_FILE).content);
files.push({file: BUNDLE_FILE, content: bundle(contract)});

let stale = 0;
for (const {file, content} of files) {
	const target = path.join(root, file);
	let current = null;
	try {
		current = readFileSync(target, 'utf8');
	} catch {
		// Not there yet: it is written below.
	}
	if (current === content) continue;
	if (check) {
		process.stderr.write(`generate: ${file} is out of date (run: npm run build, which runs npm run generate)\n`);
		stale += 1;
	} else {
		writeFileSync(target, content);
		process.stderr.write(`generate: wrote ${file}\n`);
	}
}
process.exitCode = stale ? 1 : 0;
