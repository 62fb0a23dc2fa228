// `graviton-tune compare REPORT...`: the comparison table on stdout (or one JSON object
// with --json), and with --html FILE the same as a page with charts. Reports that cannot
// be compared are named with the reason; a path that does not exist is a usage error.
import path from 'node:path';
import process from 'node:process';
import {CompareInputError, compareReports, renderCompareHtml, renderCompareText} from '../core/report/index.js';
import {writeOutputs} from '../core/report/index.js';
import {exitCodes} from '../options.js';

const err = (line: string) => process.stderr.write(`${line}\n`);

export async function runCompare(command: {reports: string[]; html?: string; json: boolean}): Promise<number> {
	let comparison;
	try {
		comparison = await compareReports(command.reports);
	} catch (error) {
		if (error instanceof CompareInputError) {
			err(`graviton-tune compare: ${error.message}`);
			return exitCodes.usage;
		}
		throw error;
	}
	if (comparison.rows.length === 0) {
		for (const n of comparison.notCompared) err(`graviton-tune compare: ${n.source}: ${n.reason}`);
		err('graviton-tune compare: none of these reports could be compared; nothing written.');
		return exitCodes.usage;
	}
	let htmlPath: string | null = null;
	if (command.html) {
		const target = path.resolve(command.html);
		try {
			const {backups} = await writeOutputs(path.dirname(target), [{name: path.basename(target), content: renderCompareHtml(comparison), mode: 0o644}]);
			htmlPath = target;
			for (const b of backups) err(`  backup: ${b}`);
		} catch (error) {
			err(`graviton-tune compare: could not write ${command.html}: ${(error as Error).message}`);
			return exitCodes.outputFailed;
		}
	}
	if (command.json) process.stdout.write(`${JSON.stringify({type: 'compare', ...comparison, html: htmlPath})}\n`);
	else process.stdout.write(renderCompareText(comparison));
	if (htmlPath) err(`Wrote ${htmlPath}`);
	return exitCodes.ok;
}
