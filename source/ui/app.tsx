// The interactive face: a reducer over UI actions and session events, the effects that
// feed it, finished work in <Static>, and one small live screen at a time.
import {Box, useStdin} from 'ink';
import {useCallback, useReducer} from 'react';
import type {Dispatch} from 'react';
import type {Preferences} from '../core/settings.js';
import type {ModelSpec} from '../core/types.js';
import type {TuneOptions} from '../core/walk/index.js';
import {History} from './components/history.js';
import type {UiDeps} from './deps.js';
import {useExit} from './hooks/use-exit.js';
import {useInterrupt} from './hooks/use-interrupt.js';
import {useSessionEffects} from './hooks/use-session-effects.js';
import {BudgetScreen} from './screens/budget-screen.js';
import {ConfirmScreen} from './screens/confirm-screen.js';
import {EndingScreen} from './screens/ending-screen.js';
import {ModelScreen} from './screens/model-screen.js';
import {OwnModelScreen} from './screens/own-model-screen.js';
import {RecipesScreen} from './screens/recipes-screen.js';
import {RunningScreen} from './screens/running-screen.js';
import {Waiting} from './screens/waiting.js';
import {InstallingScreen} from './screens/installing-screen.js';
import {allocatorMissing, initialState, reduce, workloadLine} from './state.js';
import type {Action, State} from './state.js';

export interface AppProps {
	tune: TuneOptions;
	controller: AbortController;
	deps: UiDeps;
	onExit: (code: number) => void;
}

function readPreferences(deps: UiDeps): Preferences {
	try {
		return deps.settings?.preferences() ?? {};
	} catch {
		return {};
	}
}

export function App({tune, controller, deps, onExit}: AppProps) {
	const [state, dispatch] = useReducer(reduce, undefined, () =>
		initialState({
			flagModel: tune.model,
			flagRecipes: tune.recipes,
			flagBudgetSeconds: tune.budgetSeconds,
			yes: tune.yes,
			pricePerHour: tune.pricePerHour,
			preferences: readPreferences(deps),
			...(deps.inputKind ? {inputKind: deps.inputKind} : {}),
		}),
	);
	useInterrupt(controller, dispatch);
	useSessionEffects(state, dispatch, {deps, tune, controller});
	useExit(state.ending, onExit);
	return (
		<Box flexDirection="column">
			<History state={state} />
			{state.ending ? <EndingScreen ending={state.ending} /> : <LiveScreen state={state} dispatch={dispatch} canInstall={deps.installSystem !== undefined} />}
		</Box>
	);
}

function LiveScreen({state, dispatch, canInstall}: {state: State; dispatch: Dispatch<Action>; canInstall: boolean}) {
	const offerSystemInstall = canInstall && allocatorMissing(state);
	// Questions listen to keys only where keys can be read (never prompt without a TTY).
	const {isRawModeSupported} = useStdin();
	const isActive = isRawModeSupported === true && !state.stopping;
	const chooseModel = useCallback((model: ModelSpec) => dispatch({type: 'model-chosen', model}), [dispatch]);
	switch (state.screen) {
		case 'detecting':
			return <Waiting text="Reading the machine and the Python environment…" />;
		case 'model':
			return (
				<ModelScreen
					flagModel={state.options.flagModel}
					python={state.prepared?.python ?? null}
					preferences={state.options.preferences}
					isActive={isActive}
					error={state.modelError}
					onChoose={chooseModel}
					onOwn={() => dispatch({type: 'own-model'})}
					installCommand={offerSystemInstall ? 'graviton-tune setup --system' : null}
					installLines={state.installLines}
					onInstall={() => dispatch({type: 'install-system'})}
				/>
			);
		case 'own-model':
			return state.own ? <OwnModelScreen own={state.own} isActive={isActive} dispatch={dispatch} /> : null;
		case 'installing':
			return <InstallingScreen lines={state.installLines} stopping={state.stopping} />;
		case 'rechecking':
			return <Waiting text={`Checking which recipes apply to ${state.model?.name ?? state.model?.path ?? 'this model'}…`} />;
		case 'recipes':
			return <RecipesScreen applicability={state.prepared?.applicability ?? []} selected={state.selected} cursor={state.cursor} isActive={isActive} dispatch={dispatch} workload={workloadLine(state)} />;
		case 'budget':
			return <BudgetScreen flagSeconds={state.options.flagBudgetSeconds} isActive={isActive} onChoose={seconds => dispatch({type: 'budget-chosen', seconds})} />;
		case 'running':
			return <RunningScreen run={state.run} stopping={state.stopping} />;
		case 'planning':
			return <Waiting text={state.stopping ? 'Stopping…' : 'Preparing the files…'} />;
		case 'confirm':
			return state.plan ? <ConfirmScreen plan={state.plan} isActive={isActive} onAnswer={write => dispatch({type: 'confirm', write})} /> : null;
		case 'writing':
			return <Waiting text={state.stopping ? 'Finishing the write before stopping…' : 'Writing…'} />;
	}
}
