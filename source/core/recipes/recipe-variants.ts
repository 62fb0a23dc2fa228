// A recipe as it applies on one architecture: its variant (variants.aarch64, variants.x86_64)
// merged into the general fields, and its ${tcmalloc}-style placeholders resolved to the
// library paths found on this machine.
import {isLibrary} from '../machine/allocators.js';
import type {Arch, Detection, Recipe, RecipeChanges} from '../types.js';

export const archs: readonly Arch[] = ['aarch64', 'x86_64'];
export const placeholder = /\$\{(\w+)\}/g;

function isArch(arch: string): arch is Arch {
	return (archs as readonly string[]).includes(arch);
}

/** The recipe as it applies on `arch`: its variant merged in, `variants` gone. */
export function effectiveRecipe(recipe: Recipe, arch: Arch | string): Recipe {
	const {variants, ...base} = recipe;
	const variant = isArch(arch) ? variants?.[arch] : undefined;
	if (!variant) return base;
	return {
		...base,
		changes: mergeChanges(base.changes, variant.changes ?? {}),
		requires: {...base.requires, ...variant.requires},
		// Variant paragraphs add the arch-specific part to the general one.
		why: variant.why ? `${base.why} ${variant.why}` : base.why,
	};
}

function mergeChanges(base: RecipeChanges, over: RecipeChanges): RecipeChanges {
	const merged: RecipeChanges = {...base, ...over};
	if (base.env || over.env) merged.env = {...base.env, ...over.env};
	if (base.probe || over.probe) merged.probe = {...base.probe, ...over.probe};
	return merged;
}

export function resolvePlaceholders(changes: RecipeChanges, allocators: Detection['allocators']): RecipeChanges {
	if (!changes.env) return changes;
	const resolve = (value: string) => value.replace(placeholder, (whole, name: string) => (isLibrary(name) ? allocators[name] ?? whole : whole));
	return {...changes, env: Object.fromEntries(Object.entries(changes.env).map(([key, value]) => [key, resolve(value)]))};
}
