#!/usr/bin/env python3
"""Time from a run's start to its claim on the Actions executor, from `wavebot sandbox` output.

Usage:
  build/src/cli/wavebot sandbox --executor actions --data-dir /tmp/sb-$RANDOM > OUT 2>&1
  bench/actions/ready_to_claim.py OUT [OUT ...]

For each agent run: from the engine's "dispatched #N" line (the run submitted to the executor) to the
executor's "attempt-X claimed" (a job of a workflow dispatch claimed it) or "attempt-X taken" (a job
waiting after its previous result took it: no dispatch). A ticket's k-th submission is matched with its
k-th agent run (rebases are the engine's own and are not submitted). Prints the median and each run's
figure by kind, in milliseconds.
"""
import datetime
import re
import statistics
import sys


def ts(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def runs(path):
    submitted, claimed, ticket_of = {}, {}, {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            m = re.match(r"(\S+) info epic \S+: dispatched #(\d+) \(", line)
            if m:
                submitted.setdefault(int(m.group(2)), []).append(ts(m.group(1)))
            m = re.match(r"(\S+) info actions: attempt-(\d+) (claimed|taken)", line)
            if m:
                claimed[int(m.group(2))] = (ts(m.group(1)), m.group(3))
            m = re.match(r"(\S+) info run (\d+) of \S+#(\d+) \((\w+)\) finished", line)
            if m and m.group(4) != "rebase":
                ticket_of[int(m.group(2))] = int(m.group(3))
    per_ticket = {}
    for attempt in sorted(ticket_of):
        per_ticket.setdefault(ticket_of[attempt], []).append(attempt)
    out = []
    for ticket, attempts in per_ticket.items():
        for k, attempt in enumerate(attempts):
            if attempt in claimed and k < len(submitted.get(ticket, [])):
                at, kind = claimed[attempt]
                out.append(((at - submitted[ticket][k]) * 1000, kind))
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    for path in sys.argv[1:]:
        r = runs(path)
        if not r:
            print(f"{path}: no runs found (was it `wavebot sandbox --executor actions` output?)")
            continue
        median = statistics.median(ms for ms, _ in r)
        taken = sorted(round(ms) for ms, kind in r if kind == "taken")
        dispatched = sorted(round(ms) for ms, kind in r if kind == "claimed")
        print(f"{path}: {len(r)} runs, start -> claim median {median:.0f} ms; "
              f"taken by a waiting job {taken}; claimed by a dispatched job {dispatched}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
