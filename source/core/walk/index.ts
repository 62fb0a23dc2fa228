// The walk room: a tuning session (session.ts: detect, find Python, choose recipes, walk, verify),
// the walk itself (planner.ts, given walk-inputs.ts, wording its decisions with step-words.ts) with
// its plan for the budget (plan.ts) and the candidate algebra (candidates.ts), the decisions from
// intervals (stats.ts), the final verification run (verification-run.ts) and its figures
// (verification.ts), paired comparisons for close calls (paired.ts), one probe in a fresh process
// (probe-runner.ts) under a process group (process-group.ts), the model check before any probe
// (model-check.ts), and what a run was asked for (tune-options.ts).
// This file is the room's only door for the faces (ui/, headless/, the CLI, the bench): eslint
// keeps them to it. Inside core, rooms import each other's modules directly.
export * from './candidates.js';
export * from './check.js';
export * from './model-check.js';
export * from './paired.js';
export * from './plan.js';
export * from './planner.js';
export * from './probe-runner.js';
export * from './process-group.js';
export * from './session.js';
export * from './stats.js';
export * from './tune-options.js';
export * from './verification.js';
export * from './walk-inputs.js';
