// One line of text input: printable keys append, backspace deletes, enter submits,
// escape goes back. Keys are read only while active (never without a TTY).
import {Text, useInput} from 'ink';
import {useState} from 'react';

interface Props {
	isActive: boolean;
	initial?: string;
	placeholder?: string;
	onSubmit: (value: string) => void;
	onCancel?: () => void;
}

export function TextField({isActive, initial = '', placeholder = '', onSubmit, onCancel}: Props) {
	const [value, setValue] = useState(initial);
	useInput(
		(input, key) => {
			if (key.return) onSubmit(value);
			else if (key.escape) onCancel?.();
			else if (key.backspace || key.delete) setValue(v => v.slice(0, -1));
			else if (input && !key.ctrl && !key.meta && !key.tab && !key.upArrow && !key.downArrow) setValue(v => v + input.replace(/[\r\n]/g, ''));
		},
		{isActive},
	);
	return (
		<Text>
			<Text color="cyan">› </Text>
			{value ? <Text>{value}</Text> : <Text dimColor>{placeholder}</Text>}
			{isActive ? <Text inverse> </Text> : null}
		</Text>
	);
}
