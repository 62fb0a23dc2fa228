// Small text helpers for an 80-column terminal: figures, bars, clipped lines, paths.
import path from 'node:path';
import type {Interval} from '../core/types.js';

export {formatRate as rate} from '../core/report/index.js';

/** Half the 95% CI as a percentage of the median: "±1.2%". */
export function plusMinus(s: Interval): string {
	if (s.median <= 0) return '';
	return `±${(((s.ciHigh - s.ciLow) / 2 / s.median) * 100).toFixed(1)}%`;
}

// "1.18×": the report room's one ratio formatter (headline.ts).
export {times} from '../core/report/index.js';

/** A horizontal bar `width` cells wide, filled to `fraction` (clamped to 0..1). */
export function bar(fraction: number, width: number): string {
	const f = Number.isFinite(fraction) ? Math.max(0, Math.min(1, fraction)) : 0;
	const filled = Math.round(f * width);
	return '█'.repeat(filled) + '░'.repeat(width - filled);
}

/** At most `max` characters, with an ellipsis when cut. */
export function clip(text: string, max: number): string {
	if (text.length <= max) return text;
	return max <= 1 ? text.slice(0, max) : `${text.slice(0, max - 1)}…`;
}

/** A path as a person would type it from here: "./out/launch.sh" inside the working directory, else absolute. */
export function displayPath(p: string, cwd: string): string {
	const rel = path.relative(cwd, p);
	if (rel === '') return '.';
	if (rel.startsWith('..') || path.isAbsolute(rel)) return p;
	return `./${rel}`;
}
