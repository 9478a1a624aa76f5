#!/usr/bin/env bash
# Instructions per packet in the pipeline bench, by stage, counted by
# callgrind (deterministic for one binary: the gate for fast-path work,
# where times on a shared VM move by 5-10%). For each case of
# dataplane/benches/pipeline.rs given (default: every one), runs the bench
# under callgrind and prints the inclusive instructions of
# `Pipeline::poll` per packet and of the stages below it per call.
#
#   perf/callgrind.sh                      # dr_established nat_established ...
#   perf/callgrind.sh dr_established
# Output files: target/callgrind/<case>.out (open with callgrind_annotate
# or kcachegrind).
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
bench=$(cargo bench -p dataplane --features dpdk --bench pipeline --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="pipeline" and m.get("executable"):
        print(m["executable"])')
[ -n "$bench" ] || { echo "callgrind.sh: could not build the pipeline bench" >&2; exit 1; }
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  mapfile -t cases < <("$bench" --bench --list 2>/dev/null | sed -n 's/^pipeline_poll32\/\(.*\): benchmark$/\1/p')
fi
mkdir -p "$target/callgrind"
for c in "${cases[@]}"; do
  out="$target/callgrind/$c.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --bench --profile-time 2 "$c" >/dev/null 2>&1
  python3 perf/tools/callgrind_calls.py "$out" 'Pipeline<P>::poll' >"$out.poll"
  # One poll per 32 packets, but two (one per worker) in the redirected case.
  per=32
  case "$c" in *redirected*) per=16 ;; esac
  awk -F'\t' -v c="$c" -v per="$per" '{ split($4, a, "="); printf "%-24s %8.1f instructions per packet (Pipeline::poll, %s)\n", c, a[2] / per, $2 }' "$out.poll"
done
