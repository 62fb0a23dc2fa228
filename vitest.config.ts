import {defineConfig} from 'vitest/config';

export default defineConfig({
	test: {
		include: ['test/**/*.test.{ts,tsx}'],
		// The Arm suite needs the emulated machine: vitest.arm.config.ts, run by scripts/test.sh.
		exclude: ['test/arm/**', 'node_modules/**'],
		// TMPDIR is one folder for the run, removed at its end (test/global-setup.ts).
		globalSetup: ['test/global-setup.ts'],
		testTimeout: 120_000,
		hookTimeout: 300_000,
		// Probes run real PyTorch on a 2-core machine: running test files in
		// parallel would make them fight for cores and time out.
		fileParallelism: false,
		// Ink draws no live frames when it thinks it runs in CI (is-in-ci reads CI
		// and CONTINUOUS_INTEGRATION when ink is imported), so the UI tests would see
		// empty frames on a CI runner. '0' is is-in-ci's documented "not CI".
		// The busy-machine check is off for the tests that run walks (a CI host's steal time or
		// the test runner itself must not decide them); test/contention.test.ts turns it on.
		env: {CI: '0', CONTINUOUS_INTEGRATION: '0', GRAVITON_TUNE_BUSY_THRESHOLD: '1'},
	},
});
