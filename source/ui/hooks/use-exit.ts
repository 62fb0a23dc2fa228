// The one exit point: when the reducer records how the session ended, report the exit
// code and unmount. The last frame (the ending screen) stays on the terminal.
import {useApp} from 'ink';
import {useEffect, useRef} from 'react';
import {exitCode} from '../state.js';
import type {Ending} from '../state.js';

export function useExit(ending: Ending | null, onExit: (code: number) => void): void {
	const {exit} = useApp();
	// The callback may change identity between renders; the exit must still happen once.
	const report = useRef(onExit);
	report.current = onExit;
	useEffect(() => {
		if (!ending) return;
		report.current(exitCode(ending));
		exit();
	}, [ending, exit]);
}
