#!/usr/bin/env python3
"""Calls and inclusive instructions (Ir) of the functions whose names match
a pattern, summed over every call site, from a callgrind output file.

    callgrind_calls.py callgrind.out 'Pipeline<P>::poll' [more patterns...]

Prints, per matching function name: calls, inclusive Ir, and Ir per call.
Used by perf/callgrind.sh to turn the pipeline bench into instructions per
packet (inclusive Ir of `Pipeline::poll` over the packets it was given).
"""
import re
import sys
from collections import defaultdict


def parse(path):
    names = {}
    calls = defaultdict(int)
    incl = defaultdict(int)
    pending_calls = None
    cfn = None
    name_re = re.compile(r"^\((\d+)\)(?: (.*))?$")

    def resolve(spec):
        m = name_re.match(spec.strip())
        if not m:
            return spec.strip()
        ident, name = m.group(1), m.group(2)
        if name is not None:
            names[ident] = name
        return names.get(ident, ident)

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("fn="):
                resolve(line[3:])
                cfn = None
            elif line.startswith("cfn="):
                cfn = resolve(line[4:])
            elif line.startswith(("fl=", "fi=", "fe=", "cfi=", "cfl=", "ob=", "cob=")):
                continue
            elif line.startswith("calls="):
                pending_calls = int(line[6:].split()[0])
            elif pending_calls is not None and line[:1].isdigit() or (
                pending_calls is not None and line[:1] in "+-*"
            ):
                parts = line.split()
                if len(parts) >= 2 and cfn is not None:
                    calls[cfn] += pending_calls
                    incl[cfn] += int(parts[-1])
                pending_calls = None
    return calls, incl


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    calls, incl = parse(sys.argv[1])
    for pattern in sys.argv[2:]:
        for name in sorted(n for n in calls if pattern in n):
            c = calls[name]
            print(f"{name}\tcalls={c}\tIr={incl[name]}\tIr/call={incl[name] / c:.1f}")


if __name__ == "__main__":
    main()
