// npm run bench's command line: its flags, and the settings they give (defaults sized for
// 45 minutes on a 2-vCPU machine; --quick: the toy model with tiny budgets).
import os from 'node:os';
import path from 'node:path';
import {parseArgs} from 'node:util';
import {packageRoot} from '../core/paths.js';
import {parseDuration} from '../options.js';
import {benchOptions} from './walks.js';

export const {values} = parseArgs({
	options: {
		quick: {type: 'boolean', default: false},
		model: {type: 'string'},
		transformer: {type: 'string'},
		short: {type: 'string'},
		long: {type: 'string'},
		reruns: {type: 'string'},
		'oracle-model': {type: 'string'},
		'oracle-walk': {type: 'string'},
		'oracle-time': {type: 'string'},
		seconds: {type: 'string'},
		rounds: {type: 'string'},
		output: {type: 'string'},
		only: {type: 'string'},
		llm: {type: 'string'},
	},
});
if (values.only !== undefined && values.only !== 'llm') throw new Error(`--only ${values.only}: only "llm" (section 6) runs alone`);
export const quick = values.quick!;
/**
 * Defaults sized so the whole run fits 45 minutes on a 2-vCPU machine: resnet50 3 × 3 min
 * + 10 min, bert_base 3 + 10 min, the oracle's walk (the long budget, as issue 12's target
 * reads: the 10-minute winner against the oracle) and its
 * combinations 4 min, one side-by-side round (~4 min with two compiles), overhead and model
 * checks (~2 min). Walks end when their steps are done, mostly well before their budgets.
 */
const long = parseDuration(values.long ?? (quick ? '90s' : '10m'), '--long');
export const settings = {
	model: values.model ?? (quick ? 'toy' : 'resnet50'),
	transformer: values.transformer ?? (quick ? '' : 'bert_base'),
	short: parseDuration(values.short ?? (quick ? '50s' : '3m'), '--short'),
	long,
	reruns: Number(values.reruns ?? 3),
	oracleModel: values['oracle-model'] ?? (quick ? 'toy' : 'resnet18'),
	oracleWalk: values['oracle-walk'] ? parseDuration(values['oracle-walk'], '--oracle-walk') : long,
	oracleTime: parseDuration(values['oracle-time'] ?? (quick ? '60s' : '4m'), '--oracle-time'),
	rounds: Number(values.rounds ?? 1),
	seconds: Number(values.seconds ?? (quick ? 3 : 10)),
	output: values.output ?? (quick ? path.join(os.tmpdir(), 'graviton-tune-bench-quick.md') : path.join(packageRoot, 'BENCHMARKS.md')),
	/** The language model's size for make_llama.py (hidden width x layers); '' leaves section 6 out. */
	llm: values.llm ?? (quick ? '64x2' : '512x8'),
};

if (quick) benchOptions.quietWaitSeconds = 0;
