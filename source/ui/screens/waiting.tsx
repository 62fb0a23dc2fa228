// A one-line "working on it" for the short waits: detection, re-checking, planning, writing.
import {Text} from 'ink';

export function Waiting({text}: {text: string}) {
	return <Text dimColor>{text}</Text>;
}
