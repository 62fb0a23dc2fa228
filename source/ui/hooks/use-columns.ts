// The terminal's width, for rows that align columns (items in <Static> do not stretch
// to the terminal on their own). 80 when the stream does not say.
import {useStdout} from 'ink';

export function useColumns(): number {
	const {stdout} = useStdout();
	return Math.max(40, stdout.columns || 80);
}
