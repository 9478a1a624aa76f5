#!/usr/bin/env bash
# Every test ferrolb has: formatting, lints, unit and property tests, and
# the pcap replay cases that run the real binary on DPDK virtual ports.
# Installs what it needs first (scripts/setup.sh --deps).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
