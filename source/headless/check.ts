// `graviton-tune check [--out DIR]`: the deployed configuration measured again against the
// baseline on this machine (core/walk/check.ts), progress on stderr, the verdict on stdout
// (one JSON object with --json); exit 0 when it still wins as recorded, 7 with the reasons
// when it does not, for a CI job or a provisioning step after an upgrade.
import process from 'node:process';
import {GravitonTuneError} from '../core/errors.js';
import {checkDeployed} from '../core/walk/index.js';
import type {CheckResult} from '../core/walk/index.js';
import {describeCandidate, times} from '../core/report/index.js';
import {exitCodes} from '../options.js';
import {findAndInspectPython} from './commands.js';

const err = (line: string) => process.stderr.write(`${line}\n`);

function verdictText(r: CheckResult): string[] {
	const m = r.measured;
	const lines = [
		`Deployed: ${describeCandidate(r.deployed)}`,
		`Measured here: ${times(m.ratio)} [${times(m.low)}–${times(m.high)}] the baseline, pairs ${m.ratios.map(x => times(x)).join(', ')}`,
		`Recorded: ${times(r.recorded.ratio)}${r.recorded.low !== null ? ` [${times(r.recorded.low)}–${times(r.recorded.high!)}]` : ''}`,
	];
	if (r.kernels.now) lines.push(`Kernels: ${r.kernels.now}${r.kernels.changed ? ` (recorded: ${r.kernels.recorded})` : r.kernels.recorded ? ' (as recorded)' : ''}`);
	if (r.check.now !== null) lines.push(`Output check: cosine ${r.check.now.toFixed(4)} against fp32${r.check.recorded !== null ? ` (recorded ${r.check.recorded.toFixed(4)})` : ''}`);
	lines.push(r.ok ? 'OK: the deployed configuration still wins here as recorded.' : r.reasons.map(reason => `FAILED: ${reason}`).join('\n'));
	return lines;
}

export async function runCheck(command: {out: string; python?: string; json: boolean}, signal: AbortSignal): Promise<number> {
	const python = await findAndInspectPython(command.python, signal);
	if (!python.interpreter || !python.torch) {
		err(`graviton-tune check: ${python.problem?.message ?? 'no usable Python'}\n  fix: ${python.problem?.hint ?? 'graviton-tune setup'}`);
		return exitCodes.environment;
	}
	let result: CheckResult;
	try {
		result = await checkDeployed({
			outDir: command.out,
			python: python.interpreter,
			signal,
			onProbe: (side, pair) => err(`  ${side} (pair ${pair})…`),
		});
	} catch (error) {
		if (error instanceof GravitonTuneError && error.kind !== 'interrupted') {
			err(`graviton-tune check: ${error.message}${error.hint ? `\n  fix: ${error.hint}` : ''}`);
			return error.kind === 'usage' ? exitCodes.usage : exitCodes.probesFailed;
		}
		if (error instanceof GravitonTuneError) return exitCodes.interrupted;
		throw error;
	}
	if (command.json) process.stdout.write(`${JSON.stringify({type: 'check', ...result})}\n`);
	else process.stdout.write(`${verdictText(result).join('\n')}\n`);
	return result.ok ? exitCodes.ok : exitCodes.checkFailed;
}
