// Lint for the TypeScript source and tests (typescript-eslint's type-aware rules), and
// the layering rule: core is plain TypeScript that any face can call, so it imports
// nothing from the faces (ui/, headless/), the CLI (cli.tsx, options.ts), React or Ink.
import js from '@eslint/js';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

export default tseslint.config(
	{ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/fixtures/**', 'probes/**']},
	js.configs.recommended,
	...tseslint.configs.recommended,
	{
		files: ['**/*.{ts,tsx}'],
		languageOptions: {
			parserOptions: {project: './tsconfig.test.json', tsconfigRootDir: import.meta.dirname},
		},
		rules: {
			// `_name` is the convention for a value left out on purpose ({yes: _yes, ...rest}).
			'@typescript-eslint/no-unused-vars': ['error', {argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none'}],
			'@typescript-eslint/consistent-type-imports': ['error', {fixStyle: 'separate-type-imports'}],
			'@typescript-eslint/no-floating-promises': 'error',
			'@typescript-eslint/no-misused-promises': ['error', {checksVoidReturn: {attributes: false}}],
			'@typescript-eslint/await-thenable': 'error',
			eqeqeq: ['error', 'always', {null: 'ignore'}],
			'no-constant-condition': ['error', {checkLoops: false}],
		},
	},
	{
		files: ['source/ui/**/*.{ts,tsx}'],
		...reactHooks.configs['recommended-latest'],
	},
	{
		// The emulated-Arm suite reads JSON lines from another process's output, loosely on purpose.
		files: ['test/arm/arm.test.ts'],
		rules: {'@typescript-eslint/no-explicit-any': 'off'},
	},
	{
		files: ['source/core/**/*.ts'],
		rules: {
			'no-restricted-imports': [
				'error',
				{
					paths: [
						{name: 'react', message: 'core never imports React: it is plain TypeScript any face can call'},
						{name: 'ink', message: 'core never imports Ink: it is plain TypeScript any face can call'},
					],
					patterns: [
						{group: ['**/ui/**', '../ui', '../../ui'], message: 'core imports nothing from the Ink face (source/ui)'},
						{group: ['**/headless/**', '../headless', '../../headless'], message: 'core imports nothing from the headless face (source/headless)'},
						{group: ['**/options.js', '**/cli.js', '../options', '../../options'], message: 'core imports nothing from the CLI (options.ts, cli.tsx): declare shared shapes in core'},
					],
				},
			],
		},
	},
	{
		// core is in rooms (machine/, recipes/, walk/, report/), each with one door, its index.ts:
		// the faces and the bench come in by the doors, never to a module behind one.
		files: ['source/ui/**/*.{ts,tsx}', 'source/headless/**/*.ts', 'source/bench/**/*.ts', 'source/cli.tsx', 'source/options.ts'],
		rules: {
			'no-restricted-imports': [
				'error',
				{
					patterns: [
						{regex: 'core/(machine|recipes|walk|report)/(?!index\\.js$)', message: "come in by the room's door: core/<room>/index.js"},
					],
				},
			],
		},
	},
	{
		files: ['**/*.{js,mjs}'],
		languageOptions: {globals: {process: 'readonly', console: 'readonly', URL: 'readonly'}},
	},
);
