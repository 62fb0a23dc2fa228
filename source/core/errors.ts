// One error taxonomy: every error the tool expects is a GravitonTuneError of one kind,
// and each kind has one exit code. The CLI maps an error to its code here (and prints
// its message and fix, never a stack trace); anything else is a bug (internal, exit 1).

export const exitCodes = {
	ok: 0,
	/** Internal error: a bug; the message says where. */
	internal: 1,
	usage: 2,
	/** No Python, no torch, an unreadable machine description, or a malformed recipe file. */
	environment: 3,
	/** The baseline (and so every comparison) failed. */
	probesFailed: 4,
	/** Results measured, but the output files could not be written. */
	outputFailed: 5,
	/** --auto: the machine stayed busy (other processes on the probes' CPUs) longer than --quiet-wait. */
	busy: 6,
	/** `check`: the deployed configuration no longer wins as recorded (slower, other kernels, drifted outputs). */
	checkFailed: 7,
	interrupted: 130,
} as const;

export type ExitCode = (typeof exitCodes)[keyof typeof exitCodes];

/** What went wrong, as far as the person running the tool is concerned. */
export type ErrorKind =
	/** A bad flag, model path, launch script or output folder: fix the command line. */
	| 'usage'
	/** The installation or the machine: no Python/torch, an unreadable /proc tree, a malformed recipe file. */
	| 'environment'
	/** The baseline probe failed: nothing to compare with. */
	| 'probes-failed'
	/** Measured, but the files could not be written. */
	| 'output'
	/** Other processes kept the probes' CPUs busy. */
	| 'busy'
	| 'interrupted';

const codeOfKind: Record<ErrorKind, ExitCode> = {
	usage: exitCodes.usage,
	environment: exitCodes.environment,
	'probes-failed': exitCodes.probesFailed,
	output: exitCodes.outputFailed,
	busy: exitCodes.busy,
	interrupted: exitCodes.interrupted,
};

/** An error the tool expects: its kind decides the exit code, its message is for a person. */
export class GravitonTuneError extends Error {
	constructor(
		readonly kind: ErrorKind,
		message: string,
		/** What to do about it, when something can be done. */
		readonly hint: string | null = null,
	) {
		super(message);
		this.name = 'GravitonTuneError';
	}
}

export function exitCodeOfKind(kind: ErrorKind): ExitCode {
	return codeOfKind[kind];
}

/** The exit code for any thrown value: its kind's code, else internal. */
export function exitCodeOf(error: unknown): ExitCode {
	return error instanceof GravitonTuneError ? codeOfKind[error.kind] : exitCodes.internal;
}
