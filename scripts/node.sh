#!/usr/bin/env bash
# Runs Node.js: the LTS that install.sh put in .runtime/ when the machine's is older, else the machine's.
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -x "$root/.runtime/bin/node" ]; then exec "$root/.runtime/bin/node" "$@"; fi
exec node "$@"
