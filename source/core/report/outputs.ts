// What the user takes away, one concern per module in outputs/: the file names
// (names), graviton-tune.env (env-file), launch.sh (launch-script), the user's own
// launch script patched in place with its diff (patch), the runtime helper copy
// (runtime-helper), report.json and report.md (report), every file rendered (files),
// and writing them atomically with backups (write). Rendering is pure; only write.ts,
// patch.ts's patchFileInPlace and runtime-helper.ts touch the disk.
export * from './outputs/names.js';
export * from './outputs/env-file.js';
export * from './outputs/launch-script.js';
export * from './outputs/patch.js';
export * from './outputs/report.js';
export * from './outputs/runtime-helper.js';
export * from './outputs/files.js';
export * from './outputs/write.js';
