// How long the walk may take.
import {Box, Text} from 'ink';
import SelectInput from 'ink-select-input';
import {budgetChoices} from '../choices.js';
import {ChoiceItem} from './model-screen.js';

export function BudgetScreen({flagSeconds, isActive, onChoose}: {flagSeconds: number; isActive: boolean; onChoose: (seconds: number) => void}) {
	const choices = budgetChoices(flagSeconds);
	const items = choices.map(c => ({key: c.key, label: c.label, value: c.seconds}));
	const initial = Math.max(0, choices.findIndex(c => c.seconds === flagSeconds));
	return (
		<Box flexDirection="column">
			<Text bold>How long may the walk take?</Text>
			<SelectInput items={items} initialIndex={initial} isFocused={isActive} itemComponent={ChoiceItem} onSelect={item => onChoose(item.value)} />
			<Text dimColor>↑/↓ choose · enter starts measuring · Ctrl+C stops at any time</Text>
		</Box>
	);
}
