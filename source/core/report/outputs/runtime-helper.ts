// The runtime helper (graviton_tune_runtime.py), copied from probes/ into the output
// directory: the one implementation of the model-level choices, in the user's process.
import fs from 'node:fs/promises';
import path from 'node:path';
import {probesDir} from '../../paths.js';
import {RUNTIME_HELPER_NAME} from './names.js';

/** The runtime helper as shipped in probes/, copied into the output directory. */
export async function runtimeHelperSource(): Promise<string> {
	return fs.readFile(path.join(probesDir, RUNTIME_HELPER_NAME), 'utf8');
}
