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
# The benchmarks also draw a chart (SVG → PNG).
if [ "${1:-}" = "--bench" ]; then command -v rsvg-convert >/dev/null 2>&1 || need+=(librsvg2-bin); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "==> apt-get install ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "==> build"
npx tsc -p tsconfig.json
