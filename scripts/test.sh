#!/usr/bin/env bash
# Every test ferrolb has: formatting, lints, unit and property tests, the
# pcap replay cases that run the real binary on DPDK virtual ports, and the
# end-to-end tests with real TCP stacks in network namespaces
# (tests/e2e_netns.rs, docs/end-to-end.md), which need root: without it they
# fail, they do not skip. Installs what it needs first (scripts/setup.sh --deps).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build --bins"
# The tests run binaries of other packages too (ferrolbctl; the perf
# crate's e2e-server and e2e-client), which `cargo test` builds only for a
# package with integration tests of its own: build every binary first.
cargo build --workspace --bins
echo "== cargo test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace 2>&1 | tee "$log"
# One closing line for the whole run (cargo's own last line is the doc-test
# summary of the last crate, often "0 passed"). Each summary matched where
# it stands: a test that runs itself as a child process (control_socket's
# stranger_flood_helper) can print its own summary into the same line.
grep -o 'test result: [A-Za-z]*\. [0-9]* passed; [0-9]* failed; [0-9]* ignored' "$log" |
  awk '{ p += $4; f += $6; s += $8 } END { printf "tests: %d passed, %d failed, %d skipped\n", p, f, s }'
