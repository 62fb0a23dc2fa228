// The machine room: what this computer is (CPU, memory, NUMA, cpuset; hardware.ts, with its parts:
// root-files.ts, cpuinfo.ts, cpu-identity.ts, cpu-tables.ts, dmi.ts, usable-cpus.ts, numa.ts), which Python the
// probes run in (python-env.ts), what it can do (python-survey.ts), the managed venv and what
// setup installs there (venv-setup.ts, setup-pins.ts), the system allocators (system-libraries.ts), the
// distance to the CPU's limits (limits.ts), a busy machine (contention.ts), and `detect`'s wording (describe.ts).
// This file is the room's only door for the faces (ui/, headless/, the CLI, the bench): eslint
// keeps them to it. Inside core, rooms import each other's modules directly.
export * from './contention.js';
export * from './describe.js';
export * from './hardware.js';
export {parseCpuinfo} from './cpuinfo.js';
export {cloudFromDmi} from './dmi.js';
export {HardwareError} from './root-files.js';
export {parseCpuList, parseCpuMax} from './usable-cpus.js';
export * from './limits.js';
export {findPython, whichOnPath} from './python-env.js';
export type {FoundPython} from './python-env.js';
export {inspectPython} from './python-survey.js';
export type {RequirementStatus} from './python-survey.js';
export * from './setup-pins.js';
export * from './venv-setup.js';
export * from './system-libraries.js';
export {LIBRARY_NAMES, libraryList} from './allocators.js';
export type {Library} from './allocators.js';
