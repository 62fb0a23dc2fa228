// The report room: what a finished walk says and leaves behind: the headline (headline.ts), how
// configurations and figures read (summary.ts, text.ts), cost (cost.ts), the files a user deploys
// (deliver.ts, outputs/), report.html and its charts (report-html.ts, html-page.ts, charts.ts), and
// `compare` (compare.ts).
// This file is the room's only door for the faces (ui/, headless/, the CLI, the bench): eslint
// keeps them to it. Inside core, rooms import each other's modules directly.
export * from './charts.js';
export * from './compare.js';
export * from './cost.js';
export * from './deliver.js';
export * from './headline.js';
export * from './html-page.js';
export * from './kernels.js';
export * from './outputs.js';
export * from './report-html.js';
export * from './summary.js';
export * from './text.js';
export * from './verdict.js';
