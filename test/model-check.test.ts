// The model check before any probe, with the real probe package and real torch: what it
// reports for a two-input model, and how a bad model is refused with its fix.
import {existsSync} from 'node:fs';
import path from 'node:path';
import {describe, expect, it} from 'vitest';
import {inspectModel} from '../source/core/walk/model-check.js';
import {managedPython, probesDir} from '../source/core/paths.js';

const fixtures = path.join(probesDir, 'tests', 'fixtures');
const realProbe = existsSync(managedPython());

describe.skipIf(!realProbe)('inspectModel with the real probe', () => {
	it('describes the inputs example_inputs gives, and finds evaluate()', async () => {
		const two = await inspectModel(managedPython(), {path: path.join(fixtures, 'two_inputs.py')});
		expect(two.ok).toBe(true);
		if (!two.ok) return;
		expect(two.info.inputs.map(i => [i.name, i.shape, i.dtype])).toEqual([['input_0', [1, 16], 'int64'], ['input_1', [1, 16], 'int64']]);
		expect(two.info.inputKind).toBe('tokens'); // channels_last is not offered
		expect(two.info.evaluate).toBe(false);
		const hurts = await inspectModel(managedPython(), {path: path.join(fixtures, 'int8_hurts.py')});
		expect(hurts.ok && hurts.info.evaluate).toBe(true);
	}, 120_000);

	it('refuses a missing file and a missing factory with the fix', async () => {
		const missing = await inspectModel(managedPython(), {path: path.join(fixtures, 'nope.py')});
		expect(missing).toMatchObject({ok: false, code: 'model-not-found', hint: expect.stringContaining('--model')});
		const factory = await inspectModel(managedPython(), {path: path.join(fixtures, 'two_inputs.py'), factory: 'make'});
		expect(factory).toMatchObject({ok: false, code: 'factory-failed', message: expect.stringContaining('build_keyword, build_model')});
	}, 120_000);
});
