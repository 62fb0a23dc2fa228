// Which recipes the walk may try, in three groups: applicable (toggles, all on by
// default), needs something (with the command that would make it applicable), and not
// applicable (with the reason). The cursor visits all of them so every reason can be read.
import {Box, Text, useInput, useStdout} from 'ink';
import type {Dispatch} from 'react';
import type {Applicability} from '../../core/types.js';
import {alwaysRuns, groupOf, recipeList, toggleable, windowAround} from '../choices.js';
import type {RecipeGroup} from '../choices.js';
import type {Action} from '../state.js';
import {clip} from '../text.js';

type Row = {kind: 'heading'; group: RecipeGroup} | {kind: 'recipe'; index: number; a: Applicability};

const headings: Record<RecipeGroup, string> = {
	applicable: 'Applicable — on by default',
	needs: 'Needs something first',
	'not-applicable': 'Not applicable here',
};

function rows(list: Applicability[]): Row[] {
	const out: Row[] = [];
	let group: RecipeGroup | null = null;
	list.forEach((a, index) => {
		if (groupOf(a) !== group) {
			group = groupOf(a);
			out.push({kind: 'heading', group});
		}
		out.push({kind: 'recipe', index, a});
	});
	return out;
}

function box(a: Applicability, selected: string[]): string {
	if (a.status !== 'applicable') return '   ';
	if (alwaysRuns(a)) return '[•]';
	return selected.includes(a.recipe.id) ? '[x]' : '[ ]';
}

function aside(a: Applicability): string {
	if (a.status === 'needs') return a.install ?? a.reason;
	if (a.status === 'not-applicable') return a.reason;
	if (alwaysRuns(a)) return 'always runs';
	const kind = a.recipe.lossy ? `${a.recipe.stage} · lossy` : a.recipe.stage;
	return a.optIn ? `${kind} · only if ticked (rarely faster on this CPU)` : kind;
}

function detail(a: Applicability, width: number): string {
	const max = width * 2 - 4;
	if (a.status === 'needs') return clip(`${a.reason}${a.install ? ` — install: ${a.install}` : ''}`, max);
	if (a.status === 'not-applicable') return clip(a.reason, max);
	const lossy = a.recipe.lossy ? ' Lossy: kept only while the output check passes.' : '';
	return clip(`${a.recipe.why}${lossy}`, max);
}

interface Props {
	applicability: Applicability[];
	selected: string[];
	cursor: number;
	isActive: boolean;
	dispatch: Dispatch<Action>;
	/** The model and how it will be measured: "tiny-llama (LlamaForCausalLM), measured generating …". */
	workload?: string | null;
}

export function RecipesScreen({applicability, selected, cursor, isActive, dispatch, workload = null}: Props) {
	const {stdout} = useStdout();
	const height = stdout.rows || 24;
	const width = Math.min(stdout.columns || 80, 100);
	useInput(
		(input, key) => {
			if (key.upArrow || input === 'k') dispatch({type: 'cursor', delta: -1});
			else if (key.downArrow || input === 'j') dispatch({type: 'cursor', delta: 1});
			else if (key.pageUp) dispatch({type: 'cursor', delta: -5});
			else if (key.pageDown) dispatch({type: 'cursor', delta: 5});
			else if (input === ' ') dispatch({type: 'toggle'});
			else if (input === 'a') dispatch({type: 'toggle-all'});
			else if (key.return) dispatch({type: 'recipes-done'});
		},
		{isActive},
	);
	const list = recipeList(applicability);
	const all = rows(list);
	const focusRow = Math.max(0, all.findIndex(r => r.kind === 'recipe' && r.index === cursor));
	// Title, the model line, two "more" lines, a blank, two detail lines and the key line stay visible.
	const {start, end} = windowAround(all.length, focusRow, Math.max(5, height - (workload ? 10 : 9)));
	const focused = list[cursor];
	const on = list.filter(a => toggleable(a) && selected.includes(a.recipe.id)).length;
	return (
		<Box flexDirection="column">
			<Text bold>Which recipes should the walk try? <Text dimColor>({on} of {list.filter(toggleable).length} on)</Text></Text>
			{workload ? <Text dimColor wrap="truncate-end">{workload}</Text> : null}
			{start > 0 ? <Text dimColor>  ↑ {start} more</Text> : null}
			{all.slice(start, end).map(row =>
				row.kind === 'heading' ? (
					<Text key={`h-${row.group}`} underline dimColor={row.group === 'not-applicable'}>{headings[row.group]}</Text>
				) : (
					<Box key={row.a.recipe.id}>
						<Box flexShrink={0}>
							<Text color={row.index === cursor ? 'cyan' : undefined}>{row.index === cursor ? '❯ ' : '  '}{box(row.a, selected)} </Text>
						</Box>
						<Box width={34} flexShrink={0}>
							<Text wrap="truncate-end" dimColor={row.a.status === 'not-applicable'} color={row.index === cursor ? 'cyan' : undefined}>{row.a.recipe.title}</Text>
						</Box>
						<Box flexGrow={1} flexShrink={1} paddingLeft={1}>
							<Text wrap="truncate-end" dimColor={row.a.status !== 'needs'} color={row.a.status === 'needs' ? 'yellow' : undefined}>{aside(row.a)}</Text>
						</Box>
					</Box>
				),
			)}
			{end < all.length ? <Text dimColor>  ↓ {all.length - end} more</Text> : null}
			{focused ? <Box marginTop={1} paddingLeft={2} height={2} overflow="hidden"><Text dimColor wrap="wrap">{detail(focused, width - 2)}</Text></Box> : null}
			<Text dimColor>↑/↓ move · space toggles · a all/none · enter continues</Text>
		</Box>
	);
}
