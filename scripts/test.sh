#!/usr/bin/env bash
# The project's checks, in the order CI runs them: types, lint, format, cycles, then the
# test tiers (unit and direct need no root; netns tests need root and skip, saying why, without it).
set -euo pipefail
cd "$(dirname "$0")/.."
# The Node.js LTS that install.sh put beside the checkout, when the machine's is older.
if [ -x .runtime/bin/node ]; then export PATH="$PWD/.runtime/bin:$PATH"; fi
echo "==> node $(node --version)"
echo "==> typecheck"; npx tsc -p tsconfig.json
echo "==> lint"; npx eslint .
echo "==> format"; npx prettier --check . >/dev/null
echo "==> import cycles"; npx madge --circular --extensions ts src >/dev/null
echo "==> tests"
# V8's code cache on disk for the test files' processes too (bin/ambit enables it for its own):
# a run starts thousands of Node processes that load the same modules.
export NODE_COMPILE_CACHE="${NODE_COMPILE_CACHE:-${TMPDIR:-/tmp}/node-compile-cache}"
# test/run.ts: node --test semantics (a process per file, AMBIT_TEST_CONCURRENCY at a time,
# default 3), but the known-slow lab files first, then a list of the slowest files.
exec node dist/test/run.js
