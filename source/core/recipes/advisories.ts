// Advice from the advisory recipes (stage advisory): each names a condition of this machine
// or environment (an old torch, THP off, no allocator, a CPU quota below the visible CPUs),
// and when it holds, what to say and the command that would change it.
import {describeCpu, knownPython} from './applicability.js';
import type {Context} from './applicability.js';
import {LIBRARY_NAMES, libraryList} from '../machine/allocators.js';
import {compareVersions, libraryInstallCommand, pipInstall, thpCommand} from './install-commands.js';
import type {Advice, Detection, PythonEnv, Recipe} from '../types.js';

type AdvisoryWhen = NonNullable<Recipe['advisory']>['when'];

type Condition = (advisory: NonNullable<Recipe['advisory']>, ctx: Context) => {message: string; command: string | null} | null;

const conditions: Record<AdvisoryWhen, Condition> = {
	'torch-older-than'({minTorch}, {python}) {
		const env = knownPython(python);
		const version = env?.torch?.version;
		if (!env || !version || !minTorch || compareVersions(version, minTorch) >= 0) return null;
		return {
			message: `torch ${version} is older than ${minTorch}; recipes that need a newer torch are skipped, and newer releases are faster on CPU by themselves`,
			command: pipInstall(env.interpreter, ['--upgrade', `torch>=${minTorch}`]),
		};
	},
	'thp-never'(_, {detection}) {
		if (detection.thp !== 'never') return null;
		return {message: 'transparent huge pages are off (never), so PyTorch cannot put large tensors on huge pages', command: thpCommand('madvise')};
	},
	'allocator-missing'(_, {detection}) {
		if (LIBRARY_NAMES.some(name => detection.allocators[name])) return null;
		return {message: `none of ${libraryList('or')} is installed, so no allocator step can run`, command: libraryInstallCommand(LIBRARY_NAMES[0]!, detection.os)};
	},
	'quota-below-cpus'(_, {detection}) {
		const quota = detection.cpuQuota;
		const visible = detection.usableCpuList.length;
		if (quota === null || quota >= visible) return null;
		const threads = Math.max(1, Math.floor(quota));
		return {
			message: `the CPU quota is ${quota} CPUs but ${visible} are visible; thread pools sized from the visible CPUs get throttled, so size them to the quota (OMP_NUM_THREADS=${threads})`,
			command: null,
		};
	},
};

/** Advice from the advisory recipes whose condition holds on this machine. */
export function advisories(recipes: Recipe[], detection: Detection, python: PythonEnv | null): Advice[] {
	const ctx: Context = {detection, python, inputKind: undefined, model: undefined, cpu: describeCpu(detection.cpu)};
	return recipes.flatMap(recipe => {
		if (recipe.stage !== 'advisory' || !recipe.advisory) return [];
		const found = conditions[recipe.advisory.when](recipe.advisory, ctx);
		return found ? [{id: recipe.id, title: recipe.title, ...found}] : [];
	});
}
