// The contract's options as flags of `graviton-tune probe`: parseArgs' declaration, one
// flag's text parsed and checked into the option's value (OptionValueError naming the flag
// and what it expects), the values given, and the flags' part of --help.
import {GravitonTuneError} from '../errors.js';
import {OPTIONS, optionKeys} from './contract.js';
import type {OptionKey, OptionSpec, OptionValues} from './contract.js';

const specOf = (key: OptionKey): OptionSpec => OPTIONS[key] as OptionSpec;

export class OptionValueError extends GravitonTuneError {
	constructor(message: string) {
		super('usage', message);
		this.name = 'OptionValueError';
	}
}

/** parseArgs' declaration of the probe flags. */
export function optionFlagsForParseArgs(): Record<string, {type: 'string' | 'boolean'}> {
	return Object.fromEntries(
		optionKeys.flatMap(key => {
			const spec = specOf(key);
			return spec.flag ? [[spec.flag.slice(2), {type: spec.type === 'bool' ? ('boolean' as const) : ('string' as const)}]] : [];
		}),
	);
}

function aboveMin(spec: {min: number | null; exclusiveMin?: true}, n: number): boolean {
	if (spec.min === null) return true;
	return spec.exclusiveMin ? n > spec.min : n >= spec.min;
}

/** One flag's text → the option's value, or OptionValueError naming the flag and what it expects. */
export function parseOptionText(spec: OptionSpec, text: string, label = spec.flag ?? spec.env ?? spec.python): unknown {
	const bad = (expected: string) => new OptionValueError(`${label} ${text}: expected ${expected}`);
	switch (spec.type) {
		case 'int':
		case 'float': {
			const n = Number(text);
			const whole = spec.type === 'int' ? 'whole ' : '';
			if (text.trim() === '' || !Number.isFinite(n) || (whole && !Number.isInteger(n)) || !aboveMin(spec, n)) {
				if (spec.min === null) throw bad(`a ${whole}number`);
				throw bad(spec.min === 1 || (spec.min === 0 && spec.exclusiveMin) ? `a positive ${whole}number` : `a ${whole}number, ${spec.exclusiveMin ? 'above' : 'at least'} ${spec.min}`);
			}
			return n;
		}
		case 'bool':
			if (['1', 'true', 'yes', 'on'].includes(text.toLowerCase())) return true;
			if (['0', 'false', 'no', 'off'].includes(text.toLowerCase())) return false;
			throw bad('1 or 0');
		case 'enum':
			if (spec.choices.includes(text)) return text;
			if ('nullable' in spec && text === 'none') return null;
			throw bad(`one of ${spec.choices.join(', ')}`);
		case 'string':
			if (text.trim() === '') throw bad('a value');
			return text;
		case 'cpu-list': {
			const ids: number[] = [];
			for (const part of text.split(',')) {
				const m = /^\s*(\d+)(?:-(\d+))?\s*$/.exec(part);
				if (!m || (m[2] !== undefined && Number(m[2]) < Number(m[1]))) throw bad('a CPU list such as 0-3,8');
				for (let id = Number(m[1]); id <= Number(m[2] ?? m[1]); id++) ids.push(id);
			}
			return ids;
		}
		case 'map': {
			if (text === 'default') return {};
			const map: Record<string, string> = {};
			for (const item of text.split(',')) {
				const eq = item.indexOf('=');
				if (eq <= 0) throw bad('default, or key=value pairs joined by ","');
				map[item.slice(0, eq)] = item.slice(eq + 1);
			}
			return map;
		}
	}
}

/** The options given as flags (parseArgs values), parsed and checked; absent flags stay absent. */
export function optionsFromFlags(values: Record<string, unknown>): Partial<OptionValues> {
	const out: Record<string, unknown> = {};
	for (const key of optionKeys) {
		const spec = specOf(key);
		if (!spec.flag) continue;
		const raw = values[spec.flag.slice(2)];
		if (raw === undefined) continue;
		out[key] = spec.type === 'bool' ? raw === true : parseOptionText(spec, String(raw));
	}
	return out as Partial<OptionValues>;
}

/** The flags' part of --help: "--batch-size N  --channels-last  --autocast bf16 …". */
export function optionFlagsHelp(): string[] {
	return optionKeys.flatMap(key => {
		const spec = specOf(key);
		return spec.flag ? [spec.metavar ? `${spec.flag} ${spec.metavar}` : spec.flag] : [];
	});
}
