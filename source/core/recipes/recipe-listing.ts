// The recipes as `detect` lists them: grouped by whether they apply, one entry per recipe
// with its reason and install command, wrapped to 80 columns.
import {wrapWords} from '../machine/describe.js';
import type {Applicability, ApplicabilityStatus} from '../types.js';

const WIDTH = 80;
const groups: Array<[ApplicabilityStatus, string]> = [
	['applicable', 'Applicable'],
	['needs', 'Needs something first'],
	['not-applicable', 'Not applicable here'],
];

/** For `detect`: grouped by status, one entry per recipe, wrapped to 80 columns. */
export function formatApplicability(list: Applicability[]): string {
	const lines: string[] = [];
	for (const [status, heading] of groups) {
		const items = list.filter(a => a.status === status);
		if (items.length === 0) continue;
		lines.push(`  ${heading} (${items.length})`);
		for (const item of items) lines.push(...formatItem(item));
	}
	return lines.join('\n');
}

function formatItem(a: Applicability): string[] {
	const title = a.recipe.lossy ? `${a.recipe.title} (lossy)` : a.recipe.title;
	if (a.status === 'applicable' && !a.optIn) return [`    ${title}`];
	const lines = wrapWords(`${title}: ${a.reason}`, WIDTH - 4, '  ').map(line => `    ${line}`);
	// Commands stay on one line, however long: they are meant to be copied.
	if (a.install) lines.push(`      ${a.install}`);
	return lines;
}
