import {describe, expect, it} from 'vitest';
import {parseCommand, UsageError} from '../source/options.js';

function usageError(argv: string[]): string {
	try {
		parseCommand(argv);
	} catch (error) {
		expect(error).toBeInstanceOf(UsageError);
		return (error as Error).message;
	}
	throw new Error(`no usage error for ${argv.join(' ')}`);
}

describe('each command takes only its own flags', () => {
	it('detect refuses tuning and probe flags, naming where they belong', () => {
		expect(usageError(['detect', '--budget', '5m'])).toBe('--budget does not apply to `graviton-tune detect`; it belongs to `graviton-tune [--auto]`');
		expect(usageError(['detect', '--batch-size', '4'])).toBe('--batch-size does not apply to `graviton-tune detect`; it belongs to `graviton-tune probe`');
		// --model judges the recipes for that model (an .onnx file's own walk).
		expect(parseCommand(['detect', '--model', 'net.onnx'])).toMatchObject({kind: 'detect', model: {path: 'net.onnx'}});
		expect(parseCommand(['probe', '--model', 'net.onnx'])).toMatchObject({kind: 'probe', probe: {backend: 'onnxruntime'}});
	});

	it('setup refuses probe flags; tuning refuses setup flags', () => {
		expect(usageError(['setup', '--batch-size', '4'])).toMatch(/--batch-size does not apply to `graviton-tune setup`; it belongs to `graviton-tune probe`/);
		expect(usageError(['--auto', '--torch-index', 'https://example.invalid'])).toMatch(/--torch-index does not apply to `graviton-tune`; it belongs to `graviton-tune setup`/);
		expect(usageError(['probe', '--budget', '1m'])).toMatch(/--budget does not apply to `graviton-tune probe`/);
	});

	it('an unknown command is named before any flag', () => {
		expect(usageError(['tuen', '--batch-size', '4'])).toMatch(/^unknown command: tuen/);
	});

	it('accepts each command with its own flags', () => {
		expect(parseCommand(['detect', '--json', '--root', '/tmp/tree'])).toMatchObject({kind: 'detect', json: true, root: '/tmp/tree'});
		expect(parseCommand(['setup', '--torch-index', 'https://download.pytorch.org/whl/cpu'])).toMatchObject({kind: 'setup', torchIndex: 'https://download.pytorch.org/whl/cpu'});
		expect(parseCommand(['probe', '--model', 'toy', '--batch-size', '4', '--compile'])).toMatchObject({kind: 'probe', probe: {batchSize: 4, compile: true}});
		expect(parseCommand(['--auto', '--model', 'toy', '--budget', '90s'])).toMatchObject({kind: 'tune', auto: true, tune: {budgetSeconds: 90}});
		expect(parseCommand(['detect', '--help'])).toEqual({kind: 'help'});
	});
});

describe('your own model on the command line', () => {
	it('takes file.py:factory like --factory, and refuses both disagreeing', () => {
		expect(parseCommand(['--auto', '--model', './m/embed.py:make_model'])).toMatchObject({tune: {model: {path: './m/embed.py', factory: 'make_model'}}});
		expect(parseCommand(['probe', '--model', 'embed.py', '--factory', 'make'])).toMatchObject({model: {path: 'embed.py', factory: 'make'}});
		expect(usageError(['--auto', '--model', 'embed.py:a', '--factory', 'b'])).toMatch(/names the factory a but --factory says b/);
		expect(usageError(['--auto', '--model', 'resnet50', '--factory', 'b'])).toMatch(/only a Python model file/);
	});

	it('needs no --input-shape for a .py (example_inputs may give the inputs; the model check says when not)', () => {
		expect(parseCommand(['--auto', '--model', 'embed.py'])).toMatchObject({tune: {model: {path: 'embed.py'}}});
	});

	it('takes a Hugging Face folder with --seq-len, real samples and the accuracy drop', () => {
		const cmd = parseCommand(['--auto', '--model', './bert-folder', '--seq-len', '64', '--samples', 's.pt', '--max-accuracy-drop', '0.02']);
		expect(cmd).toMatchObject({tune: {model: {path: './bert-folder', seqLen: 64, samples: 's.pt'}, maxAccuracyDrop: 0.02}});
		expect(parseCommand(['--auto'])).toMatchObject({tune: {maxAccuracyDrop: 0.01}});
		expect(usageError(['--auto', '--seq-len', '0'])).toMatch(/--seq-len 0: expected a positive whole number/);
		expect(usageError(['--auto', '--max-accuracy-drop', '5'])).toMatch(/between 0 and 1/);
		expect(usageError(['detect', '--samples', 's.pt'])).toMatch(/--samples does not apply/);
	});
});
