// Which model to tune: the built-ins this Python can run, or the one given with --model.
import {Box, Text, useInput} from 'ink';
import SelectInput from 'ink-select-input';
import type {ItemProps} from 'ink-select-input';
import type {ModelSpec, PythonEnv} from '../../core/types.js';
import {defaultModelKey, modelChoices} from '../choices.js';
import type {Preferences} from '../../core/settings.js';

export function ChoiceItem({isSelected, label}: ItemProps) {
	return <Text color={isSelected ? 'cyan' : undefined} wrap="truncate-end">{label}</Text>;
}

interface Props {
	flagModel: ModelSpec;
	python: PythonEnv | null;
	preferences: Preferences;
	isActive: boolean;
	onChoose: (model: ModelSpec) => void;
	/** Set when tcmalloc/jemalloc are missing and can be installed from here ('s'). */
	installCommand?: string | null;
	/** What an earlier install printed (it ran, and the machine was read again). */
	installLines?: string[];
	onInstall?: () => void;
}

export function ModelScreen({flagModel, python, preferences, isActive, onChoose, installCommand = null, installLines = [], onInstall}: Props) {
	// Nothing system-wide happens unless the user presses s.
	useInput(input => {
		if ((input === 's' || input === 'S') && installCommand) onInstall?.();
	}, {isActive: isActive && installCommand !== null});
	const choices = modelChoices(flagModel, python);
	const initial = Math.max(0, choices.findIndex(c => c.key === defaultModelKey(flagModel, choices, preferences)));
	const items = choices.map(c => ({key: c.key, label: c.label, value: c.model}));
	return (
		<Box flexDirection="column">
			<Text bold>Which model should be measured?</Text>
			<SelectInput items={items} initialIndex={initial} isFocused={isActive} itemComponent={ChoiceItem} onSelect={item => onChoose(item.value)} />
			<Text dimColor>↑/↓ choose · enter confirms · weights are random: speed does not depend on them</Text>
			{python && !python.packages['transformers'] ? <Text dimColor>bert_base needs transformers in this Python</Text> : null}
			{installCommand ? <Text color="yellow" wrap="wrap">s: install tcmalloc and jemalloc system-wide now ({installCommand}: the package manager, as root or through sudo), so the allocator recipes can run</Text> : null}
			{installLines.length > 0 ? <Text dimColor wrap="wrap">{installLines.at(-1)}</Text> : null}
		</Box>
	);
}
