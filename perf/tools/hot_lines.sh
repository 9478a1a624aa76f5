#!/usr/bin/env bash
# The source lines that cost the most instructions per packet inside
# Pipeline::poll, for one case of the pipeline bench (default
# dr_established): callgrind with collection only inside poll, then
# callgrind_annotate's per-line counts divided by the packets polled.
#   perf/tools/hot_lines.sh [case] [how many lines]
set -euo pipefail
cd "$(dirname "$0")/../.."
case="${1:-dr_established}"
top="${2:-40}"
target="${CARGO_TARGET_DIR:-target}"
bench=$(cargo bench -p dataplane --features dpdk --bench pipeline --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m.get("target",{}).get("name")=="pipeline" and m.get("executable"):
        print(m["executable"])')
out="$target/callgrind/$case.poll-only.out"
mkdir -p "$target/callgrind"
valgrind --tool=callgrind --toggle-collect='*Pipeline*poll*' --callgrind-out-file="$out" "$bench" --bench --profile-time 2 "$case" >/dev/null 2>&1
polls=$(python3 perf/tools/callgrind_calls.py "$out" 'Pipeline<P>::poll' | sed 's/.*calls=\([0-9]*\).*/\1/')
callgrind_annotate --auto=yes "$out" 2>/dev/null |
  awk -v n="$polls" '/^-- Auto-annotated source:/ { file = $4 }
    /^ *[0-9,]+ \( *[0-9.]+%\)  / {
      c = $1; gsub(",", "", c)
      line = $0; sub(/^ *[0-9,]+ \( *[0-9.]+%\) */, "", line)
      if (line !~ /^=>/ && line !~ /^(dataplane|\/rustc|\/root|PROGRAM|events)/ && c > n * 32)
        printf "%6.1f %-34s %s\n", c / n / 32, substr(file, length(file) - 33), substr(line, 1, 90)
    }' | sort -rn | head -n "$top"
