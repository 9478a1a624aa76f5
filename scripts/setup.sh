#!/usr/bin/env bash
# Installs what ferrolb needs on Debian 12 and builds it. Idempotent: a
# second run installs nothing and rebuilds only what changed.
#
#   scripts/setup.sh            # packages + release build
#   scripts/setup.sh --deps     # packages only
#   scripts/setup.sh --package  # packages, then the Debian package of ferrolb
#                               # (scripts/package.sh; docs/packaging.md)
set -euo pipefail
cd "$(dirname "$0")/.."

# DPDK 22.11 (headers, shared libraries and PMDs, dpdk-testpmd), what
# bindgen needs (libclang), pcap for the net_pcap PMD, iproute2 for the
# network-namespace tests, ethtool to turn veth offloads off there, BIRD 2
# for route health injection over BGP (tests/e2e_bgp.rs, docs/many-nodes.md),
# keepalived for the active/backup pair (tests/e2e_ha.rs,
# docs/high-availability.md), dpkg-dev, binutils and systemd to build the
# Debian package and check its units (scripts/package.sh, tests/package.rs).
PACKAGES=(libdpdk-dev dpdk dpdk-dev libclang-dev clang pkg-config libpcap-dev iproute2 ethtool openssl curl bird2 keepalived dpkg-dev binutils systemd iputils-ping)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
pkg-config --atleast-version=22.11 libdpdk || {
  echo "setup: DPDK >= 22.11 not found by pkg-config after install" >&2; exit 1; }

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
fi
command -v cargo >/dev/null || {
  echo "setup: no Rust toolchain (cargo); install one with rustup (https://rustup.rs)" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q rustfmt || rustup component add rustfmt clippy 2>/dev/null || true

[ "${1:-}" = "--deps" ] && exit 0
if [ "${1:-}" = "--package" ]; then
  exec bash scripts/package.sh
fi
cargo build --release --workspace --bins
echo "setup: built target/release/ferrolb (DPDK $(pkg-config --modversion libdpdk))"
