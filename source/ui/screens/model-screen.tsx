// Which model to tune: the built-ins this Python can run, or the one given with --model.
import {Box, Text, useInput} from 'ink';
import SelectInput from 'ink-select-input';
import type {ItemProps} from 'ink-select-input';
import type {ModelSpec, PythonEnv} from '../../core/types.js';
import {defaultModelKey, modelChoices, OWN_MODEL_KEY} from '../choices.js';
import type {Preferences} from '../../core/settings.js';
import {libraryList} from '../../core/machine/index.js';

export function ChoiceItem({isSelected, label}: ItemProps) {
	return <Text color={isSelected ? 'cyan' : undefined} wrap="truncate-end">{label}</Text>;
}

interface Props {
	flagModel: ModelSpec;
	python: PythonEnv | null;
	preferences: Preferences;
	isActive: boolean;
	/** Why the model given with --model (or chosen) cannot be tuned, with its fix. */
	error?: string | null;
	onChoose: (model: ModelSpec) => void;
	onOwn: () => void;
	/** Set when an allocator library is missing and can be installed from here ('s'). */
	installCommand?: string | null;
	/** What an earlier install printed (it ran, and the machine was read again). */
	installLines?: string[];
	onInstall?: () => void;
}

export function ModelScreen({flagModel, python, preferences, isActive, error, onChoose, onOwn, installCommand = null, installLines = [], onInstall}: Props) {
	// Nothing system-wide happens unless the user presses s.
	useInput(input => {
		if ((input === 's' || input === 'S') && installCommand) onInstall?.();
	}, {isActive: isActive && installCommand !== null});
	const choices = modelChoices(flagModel, python, preferences);
	const initial = Math.max(0, choices.findIndex(c => c.key === defaultModelKey(flagModel, choices, preferences)));
	const items = choices.map(c => ({key: c.key, label: c.label, value: c.key}));
	const choose = (key: string) => {
		if (key === OWN_MODEL_KEY) onOwn();
		else onChoose(choices.find(c => c.key === key)!.model);
	};
	return (
		<Box flexDirection="column">
			<Text bold>Which model should be measured?</Text>
			{error ? <Text color="red" wrap="wrap">{error}</Text> : null}
			<SelectInput items={items} initialIndex={initial} isFocused={isActive} itemComponent={ChoiceItem} onSelect={item => choose(item.value)} />
			<Text dimColor>↑/↓ choose · enter confirms · built-ins have random weights: speed does not depend on them</Text>
			{python && !python.packages['transformers'] ? <Text dimColor>bert_base needs transformers in this Python</Text> : null}
			{installCommand ? <Text color="yellow" wrap="wrap">s: install {libraryList()} system-wide now ({installCommand}: the package manager, as root or through sudo), so the allocator recipes can run</Text> : null}
			{installLines.length > 0 ? <Text dimColor wrap="wrap">{installLines.at(-1)}</Text> : null}
		</Box>
	);
}
