// The recipes room: recipes are data (recipes/*.json), loaded (recipes.ts, each file checked by
// recipe-validation.ts), taken per architecture (recipe-variants.ts) and judged for this machine and
// model (applicability.ts, with the commands that meet a need: install-commands.ts), the advice
// (advisories.ts), `detect`'s list (recipe-listing.ts), their schema (recipe-schema.ts), the one
// contract of every configuration option (contract.ts, as probe flags: option-flags.ts, and the files
// generated from it: contract-files.ts), and the gains and costs a step is expected to bring on this CPU class (expected.ts).
// This file is the room's only door for the faces (ui/, headless/, the CLI, the bench): eslint
// keeps them to it. Inside core, rooms import each other's modules directly.
export * from './contract.js';
export * from './contract-files.js';
export * from './expected.js';
export * from './option-flags.js';
export * from './recipe-schema.js';
export * from './recipes.js';
export * from './advisories.js';
export {applicability} from './applicability.js';
export type {ModelFacts} from './applicability.js';
export {libraryInstallCommand} from './install-commands.js';
export * from './recipe-listing.js';
export {effectiveRecipe} from './recipe-variants.js';
