#!/usr/bin/env bash
# The whole test suite, from a clean clone: system libraries, chromium for the HTML
# pages, graviton-tune's own Python venv (made by the tool's `setup` command, as a user
# would), then lint and type checks, then vitest and pytest. Safe to re-run: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

# Always rebuilt: the CLI tests run dist/, and the contract's generated files are checked from it.
npm run build
ci=false
if [ -n "${CI:-}" ] && [ "${CI:-}" != 0 ] && [ "${CI:-}" != false ]; then ci=true; fi
bash scripts/setup-browser.sh
# cloud-init, systemd, ansible-core and podman for the tests of deploy/ (test/deploy.test.ts).
bash scripts/setup-deploy-tests.sh
# The allocator libraries (setup --system) and the Python venv, as a user sets them up.
node dist/cli.js setup --system
venv_python=$(node dist/cli.js setup --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).python))')
"$venv_python" -m pip install -q pytest pytest-xdist ruff

# Lint and type checks first: eslint (typescript-eslint, the core layering rule) and tsc
# over source and tests, the generated files (contract JSON, recipe schema, runtime bundle) up to date,
# and ruff over the Python side (ruff.toml).
npm run lint
npm run generate -- --check
"$venv_python" -m ruff check

# The HTML pages' browser tests are required here (skipped in a bare `npx vitest run` without chromium);
# so, in CI, are the tools the deploy/ examples are checked with (elsewhere a missing one is a skip, said).
require_deploy=0
if [ "$ci" = true ]; then require_deploy=1; fi
GT_REQUIRE_BROWSER=1 GT_REQUIRE_DEPLOY_TOOLS=$require_deploy npx vitest run
# Two workers (pytest-xdist): most of a probe test is one busy thread (torch's import, a
# child process starting), so two at a time on a 2-CPU host take 3 minutes instead of 4.5.
(cd probes && "$venv_python" -m pytest -q -n 2 tests)

# The Arm suite: the real tool inside an emulated Graviton2/3/4 (QEMU user mode, an arm64
# Debian image built once and cached by scripts/arm-emulation.sh: about 10 minutes on a
# quiet 2-core host, then reused). It runs in every npm test where it can (root and
# binfmt_misc). Where it cannot, it is skipped with the reason, except in CI, which never
# skips it. GRAVITON_TUNE_ARM_SUITE=0 skips it on purpose, outside CI only.
if [ "${GRAVITON_TUNE_ARM_SUITE:-1}" = 0 ] && [ "$ci" != true ]; then
	echo "test: the Arm suite was not run (GRAVITON_TUNE_ARM_SUITE=0)" >&2
elif reason=$(bash scripts/arm-emulation.sh check 2>&1); then
	bash scripts/arm-emulation.sh build
	npx vitest run --config vitest.arm.config.ts
elif [ "$ci" = true ]; then
	echo "test: CI never skips the Arm suite, and it cannot run here: ${reason#arm-emulation: cannot run here: }" >&2
	exit 1
else
	echo "test: skipped the Arm suite: ${reason#arm-emulation: cannot run here: }" >&2
fi
