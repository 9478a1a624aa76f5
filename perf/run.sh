#!/usr/bin/env bash
# The Mpps harness in one command (README.md, "Performance"): installs what
# it needs and builds release (scripts/setup.sh), then runs perfrun, which
# measures ferrolb per mode and flow count against dpdk-testpmd io and
# macswap on the same virtual ports and core. Arguments go to perfrun:
#   perf/run.sh                                   # everything (long: ~1M-flow pcaps)
#   perf/run.sh --modes nat,fullnat --flows 1k --window 3
#   perf/run.sh --repeat 3                        # medians of 3 interleaved runs
# Results: the table on stdout, target/perf/results.json, target/perf/results.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --deps
[ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release -p ferrolb -p ferrolb-perf --bin ferrolb --bin perfrun
target="${CARGO_TARGET_DIR:-target}"
exec "$target/release/perfrun" --bin-dir "$target/release" --out target/perf "$@"
