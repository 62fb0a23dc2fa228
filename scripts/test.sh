#!/usr/bin/env bash
# The whole test suite, from a clean clone: system libraries, graviton-tune's own
# Python venv (made by the tool's `setup` command, as a user would), then vitest and
# pytest. Safe to re-run: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

[ -f dist/cli.js ] || npm run build
bash scripts/setup-system.sh
node dist/cli.js setup
venv_python=$(node dist/cli.js setup --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).python))')
"$venv_python" -m pip install -q pytest

npx vitest run
(cd probes && "$venv_python" -m pytest -q tests)
