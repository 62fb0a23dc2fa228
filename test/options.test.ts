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
		expect(usageError(['detect', '--model', 'resnet50'])).toBe('--model does not apply to `graviton-tune detect`; it belongs to `graviton-tune probe` and `graviton-tune [--auto]`');
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
