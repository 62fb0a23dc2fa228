import {defineConfig} from 'vitest/config';

export default defineConfig({
	test: {
		include: ['test/**/*.test.{ts,tsx}'],
		testTimeout: 120_000,
		hookTimeout: 300_000,
		// Probes run real PyTorch on a 2-core machine: running test files in
		// parallel would make them fight for cores and time out.
		fileParallelism: false,
	},
});
