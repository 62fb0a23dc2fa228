// The names of the files a run writes, and the defaults of where and what they start.
export const ENV_FILE_NAME = 'graviton-tune.env';
export const LAUNCH_SCRIPT_NAME = 'launch.sh';
export const RUNTIME_HELPER_NAME = 'graviton_tune_runtime.py';
export const REPORT_JSON_NAME = 'report.json';
export const REPORT_MD_NAME = 'report.md';
export const REPORT_HTML_NAME = 'report.html';
export const DEFAULT_OUT_DIR = 'graviton-tune-out';
/** What launch.sh runs when --app is not given. */
export const DEFAULT_APP: readonly string[] = ['python', 'app.py'];


export const OUTPUT_FILE_NAMES: readonly string[] = [ENV_FILE_NAME, LAUNCH_SCRIPT_NAME, RUNTIME_HELPER_NAME, REPORT_JSON_NAME, REPORT_MD_NAME, REPORT_HTML_NAME];
