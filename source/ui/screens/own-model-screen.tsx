// "Your own model…": its path, then (for a .py file) its factory, then the input shape
// when the model check could not find the inputs. Each answer is checked by the model
// check (prepare) and the question asked again with its fix when it was wrong.
import {Box, Text} from 'ink';
import type {Dispatch} from 'react';
import {TextField} from '../components/text-field.js';
import type {Action, OwnDraft} from '../state.js';

const questions: Record<OwnDraft['field'], {ask: string; placeholder: string; help: string}> = {
	path: {
		ask: 'Path of your model',
		placeholder: './model.py, ./model.py:make_model, ./my-bert/ (save_pretrained), model.pt, model.pt2, model.onnx',
		help: 'a .py file builds the model with a factory (and may define example_inputs(batch_size) and evaluate(model))',
	},
	factory: {
		ask: 'Factory function in the file',
		placeholder: 'build_model',
		help: 'the function that returns the model; enter keeps build_model',
	},
	inputShape: {
		ask: 'Input shape per sample (without the batch)',
		placeholder: '3,224,224',
		help: 'or define example_inputs(batch_size) in the file for several inputs (tuple or dict)',
	},
};

export function OwnModelScreen({own, isActive, dispatch}: {own: OwnDraft; isActive: boolean; dispatch: Dispatch<Action>}) {
	const q = questions[own.field];
	const initial = own.field === 'path' ? own.path : own.field === 'factory' ? own.factory : own.inputShape;
	return (
		<Box flexDirection="column">
			<Text bold>Your own model</Text>
			{own.path && own.field !== 'path' ? <Text dimColor>path: {own.path}</Text> : null}
			{own.error ? <Text color="red" wrap="wrap">{own.error}</Text> : null}
			<Text>{q.ask}:</Text>
			<TextField key={own.field} isActive={isActive} initial={initial} placeholder={q.placeholder} onSubmit={value => dispatch({type: 'own-answer', value})} onCancel={() => dispatch({type: 'own-back'})} />
			<Text dimColor wrap="wrap">{q.help} · enter confirms · esc goes back</Text>
		</Box>
	);
}
