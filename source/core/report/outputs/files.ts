// Every output file of a run, rendered (nothing written here: write.ts writes them).
import {renderReportHtml} from '../report-html.js';
import {renderEnvFile} from './env-file.js';
import {renderLaunchScript} from './launch-script.js';
import {DEFAULT_APP, ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, OUTPUT_FILE_NAMES, REPORT_HTML_NAME, REPORT_JSON_NAME, REPORT_MD_NAME, RUNTIME_HELPER_NAME} from './names.js';
import {buildReport, modelLabel, renderReportMarkdown} from './report.js';
import type {RunFacts} from './report.js';
import {runtimeHelperSource} from './runtime-helper.js';
import type {OutputFile} from './write.js';

/** Every output file, rendered. */
export async function renderOutputFiles(input: RunFacts & {
	app?: string[];
	date?: Date;
}): Promise<OutputFile[]> {
	const date = input.date ?? new Date();
	const report = buildReport({...input, generatedAt: date, files: [...OUTPUT_FILE_NAMES]});
	return [
		{name: ENV_FILE_NAME, content: renderEnvFile({result: input.result, detection: input.detection, model: modelLabel(input.model), date})},
		{name: LAUNCH_SCRIPT_NAME, content: renderLaunchScript({best: input.result.best.candidate, app: input.app ?? [...DEFAULT_APP], envFileName: ENV_FILE_NAME}), mode: 0o755},
		{name: RUNTIME_HELPER_NAME, content: await runtimeHelperSource()},
		{name: REPORT_JSON_NAME, content: JSON.stringify(report, null, '\t') + '\n'},
		{name: REPORT_MD_NAME, content: renderReportMarkdown(report)},
		{name: REPORT_HTML_NAME, content: renderReportHtml(report)},
	];
}
