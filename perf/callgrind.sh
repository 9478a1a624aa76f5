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
#   perf/callgrind.sh --slope dr_established dr_trace_armed
# --slope runs each case for 1 s and 4 s and prints the instructions per
# packet between the two (the set-up of the flows cancels out; the plain
# figure divides it over the packets, so it moves a few percent with the
# number of polls): the figure to compare cases by.
# Cases are matched exactly (criterion's plain filter is a substring:
# nat_established would also run fullnat_established).
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
slope=0
if [ "${1:-}" = --slope ]; then
  slope=1
  shift
fi
cases=("$@")
if [ ${#cases[@]} -eq 0 ]; then
  mapfile -t cases < <("$bench" --bench --list 2>/dev/null | sed -n 's/^pipeline_poll32\/\(.*\): benchmark$/\1/p')
fi
mkdir -p "$target/callgrind"
# A case the bench does not have would print a meaningless figure.
known=$("$bench" --bench --list 2>/dev/null | sed -n 's/^pipeline_poll32\/\(.*\): benchmark$/\1/p')
for c in "${cases[@]}"; do
  grep -qxF "$c" <<<"$known" || { echo "callgrind.sh: no case $c; the cases:" $known >&2; exit 1; }
done
# Calls and inclusive instructions of Pipeline::poll for case $1 run $2 s.
poll_counts() {
  local out="$target/callgrind/$1-$2s.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --bench --profile-time "$2" --exact "pipeline_poll32/$1" >/dev/null 2>&1
  python3 perf/tools/callgrind_calls.py "$out" 'Pipeline<P>::poll' |
    awk -F'\t' '{ split($2, c, "="); split($3, i, "="); print c[2], i[2] }'
}
if [ "$slope" = 1 ]; then
  for c in "${cases[@]}"; do
    per=32
    case "$c" in *redirected*) per=16 ;; esac
    read -r calls1 ir1 < <(poll_counts "$c" 1)
    read -r calls4 ir4 < <(poll_counts "$c" 4)
    awk -v c="$c" -v per="$per" -v a="$calls1" -v b="$calls4" -v x="$ir1" -v y="$ir4" \
      'BEGIN { printf "%-24s %8.1f instructions per packet (slope of Pipeline::poll, %d to %d polls)\n", c, (y - x) / ((b - a) * per), a, b }'
  done
  exit 0
fi
for c in "${cases[@]}"; do
  out="$target/callgrind/$c.out"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bench" --bench --profile-time 2 --exact "pipeline_poll32/$c" >/dev/null 2>&1
  python3 perf/tools/callgrind_calls.py "$out" 'Pipeline<P>::poll' >"$out.poll"
  # One poll per 32 packets, but two (one per worker) in the redirected case.
  per=32
  case "$c" in *redirected*) per=16 ;; esac
  awk -F'\t' -v c="$c" -v per="$per" '{ split($4, a, "="); printf "%-24s %8.1f instructions per packet (Pipeline::poll, %s)\n", c, a[2] / per, $2 }' "$out.poll"
done
