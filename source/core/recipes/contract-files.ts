// The files generated from the contract, as scripts/generate.mjs writes them and the
// tests compare them: the Python side's copy of the option table, and the recipe schema.
import {contractJson} from './contract.js';
import {recipeSchema} from './recipe-schema.js';

export const CONTRACT_JSON_FILE = 'probes/graviton_tune_contract.json';
export const RECIPE_SCHEMA_FILE = 'recipes/recipe.schema.json';

export function contractFiles(): Array<{file: string; content: string}> {
	return [
		{file: CONTRACT_JSON_FILE, content: JSON.stringify(contractJson(), null, '\t') + '\n'},
		{file: RECIPE_SCHEMA_FILE, content: JSON.stringify(recipeSchema(), null, '\t') + '\n'},
	];
}
