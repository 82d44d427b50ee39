#!/usr/bin/env bash
# Compiles bpf/*.bpf.c (the eBPF redirection programs) into dist/bpf/*.bpf.o with clang.
# scripts/install.sh installs clang, llvm, libbpf-dev and bpftool from Debian first.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang >/dev/null 2>&1; then
  echo "build-bpf: clang not found; run 'bash scripts/install.sh' (installs clang llvm libbpf-dev bpftool)" >&2
  exit 1
fi
if [ ! -f /usr/include/bpf/bpf_helpers.h ]; then
  echo "build-bpf: /usr/include/bpf/bpf_helpers.h not found; apt-get install libbpf-dev" >&2
  exit 1
fi
mkdir -p dist/bpf
arch_inc="/usr/include/$(uname -m)-linux-gnu"
build() { # <source> <object> [clang flags...]
  local src="$1" out="$2"
  shift 2
  if [ "$out" -nt "$src" ] && [ "$out" -nt "$0" ]; then return; fi
  clang -O2 -g -Wall -Werror -target bpf -I"$arch_inc" "$@" -c "$src" -o "$out"
  echo "==> $out"
}
for src in bpf/*.bpf.c; do
  build "$src" "dist/bpf/$(basename "${src%.c}").o"
done
# The mark+TPROXY fallback for kernels without bpf_sk_assign (src/redirect/ebpf/README.md).
build bpf/ambient_redirect.bpf.c dist/bpf/ambient_redirect_mark.bpf.o -DAMBIT_MARK_TPROXY
