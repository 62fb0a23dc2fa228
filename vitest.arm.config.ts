import {defineConfig} from 'vitest/config';

// The Arm suite (test/arm): the real tool inside an emulated Graviton2/3/4 built by
// scripts/arm-emulation.sh. Slow (everything runs under QEMU), so it has its own config
// and is run by scripts/test.sh after the image is built.
export default defineConfig({
	test: {
		include: ['test/arm/**/*.test.ts'],
		testTimeout: 600_000,
		hookTimeout: 3_000_000,
		fileParallelism: false,
	},
});
