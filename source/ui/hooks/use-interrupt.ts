// Ctrl+C and SIGTERM take one path: the session's AbortController. Aborting it stops
// the probes (their whole process groups); its abort event tells the reducer, which
// waits for the session to return before the app exits. A second Ctrl+C does not wait.
import {useInput, useStdin} from 'ink';
import {useEffect} from 'react';
import type {Dispatch} from 'react';
import type {Action} from '../state.js';

export function useInterrupt(controller: AbortController, dispatch: Dispatch<Action>): void {
	const {isRawModeSupported} = useStdin();
	useEffect(() => {
		const {signal} = controller;
		const onAbort = () => dispatch({type: 'interrupt'});
		if (signal.aborted) onAbort();
		else signal.addEventListener('abort', onAbort, {once: true});
		return () => signal.removeEventListener('abort', onAbort);
	}, [controller, dispatch]);
	useInput(
		(input, key) => {
			if (!(key.ctrl && input === 'c')) return;
			if (controller.signal.aborted) dispatch({type: 'interrupt', force: true});
			else controller.abort();
		},
		{isActive: isRawModeSupported === true},
	);
}
