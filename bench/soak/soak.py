#!/usr/bin/env python3
"""Soak and load benchmark of `wavebot serve` (issue #9): a bounded, loopback-only stream of mixed,
correctly signed GitHub webhooks at a fixed rate, with the server's resources sampled over time.

  bench/soak/soak.py [--rate 60] [--deliveries 36000] [--connections 8] [--sample 1.0]

Starts `wavebot serve` (WAVEBOT_BINARY, default build/src/cli/wavebot) with a fresh data directory and
no GitHub credentials (ingress + store + dispatcher; the engine is not exercised), then sends
`--deliveries` webhooks open-loop at `--rate` per second over `--connections` keep-alive connections:
issue_comment, issues, pull_request, pull_request_review, pull_request_review_comment, check_suite,
check_run, workflow_run, workflow_job, push, taken from @octokit/webhooks-examples (tests/contract,
`npm ci` there first). 2% are redeliveries of an earlier delivery id (answered "duplicate") and 1% carry a
wrong signature (answered 401). Every second it samples RSS (/proc/<pid>/status), open files
(/proc/<pid>/fd), threads (/proc/<pid>/task) and the queue depth (/metrics). The run is bounded by
count and by --max-seconds. Prints a summary (second vs last tenth of the run) and writes the samples
to --csv. Exit status 1 when any answer was unexpected or a resource grew (see --growth-*).
"""
import argparse
import hashlib
import hmac
import http.client
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "tests/contract/node_modules/@octokit/webhooks-examples/api.github.com/index.json")
# Relative weights: roughly what a busy organisation's App receives (CI events dominate).
MIX = {"check_run": 20, "check_suite": 10, "workflow_run": 12, "workflow_job": 20, "push": 8, "pull_request": 8,
       "issue_comment": 8, "issues": 5, "pull_request_review": 5, "pull_request_review_comment": 4}


def load_bodies(repos):
    """Per event, example bodies re-addressed to each of `repos` repositories of one organisation (the
    examples mostly name a single repository; the dispatcher orders deliveries per repository)."""
    with open(EXAMPLES) as f:
        index = json.load(f)
    bodies = {}
    for entry in index:
        if entry["name"] in MIX:
            out = []
            for x in entry["examples"][:8]:
                for r in range(repos):
                    if isinstance(x.get("repository"), dict):
                        x["repository"]["full_name"] = "soak-org/repo-%d" % r
                        x["repository"]["name"] = "repo-%d" % r
                    out.append(json.dumps(x, separators=(",", ":")).encode())
            bodies[entry["name"]] = out
    missing = set(MIX) - set(bodies)
    if missing:
        sys.exit(f"soak: no examples for {sorted(missing)} in {EXAMPLES}")
    return bodies


def proc_sample(pid):
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


def metric(port, name):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("GET", "/metrics")
        text = c.getresponse().read().decode()
    finally:
        c.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return -1.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=60.0, help="deliveries per second (open loop)")
    ap.add_argument("--deliveries", type=int, default=36000, help="total requests sent")
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--sample", type=float, default=1.0, help="seconds between resource samples")
    ap.add_argument("--max-seconds", type=float, default=1800, help="hard bound on the sending phase")
    ap.add_argument("--csv", default="soak-samples.csv")
    ap.add_argument("--growth-rss-kb", type=int, default=16 * 1024,
                    help="fail when RSS of the last tenth exceeds the first tenth's by more")
    ap.add_argument("--growth-fds", type=int, default=8)
    ap.add_argument("--growth-threads", type=int, default=8)
    ap.add_argument("--seed", type=int, default=9)
    ap.add_argument("--repos", type=int, default=40, help="repositories the deliveries are spread over")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    binary = os.environ.get("WAVEBOT_BINARY", os.path.join(ROOT, "build/src/cli/wavebot"))
    bodies = load_bodies(args.repos)
    secret = "soak-secret-%d" % os.getpid()
    work = tempfile.mkdtemp(prefix="wavebot-soak-")
    env = dict(os.environ, WAVEBOT_WEBHOOK_SECRET=secret, WAVEBOT_DATA_DIR=os.path.join(work, "data"),
               WAVEBOT_LISTEN="127.0.0.1:0", WAVEBOT_LOG_LEVEL=os.environ.get("WAVEBOT_LOG_LEVEL", "info"))
    for k in ("WAVEBOT_TOKEN", "WAVEBOT_APP_ID", "WAVEBOT_PRIVATE_KEY_FILE"):
        env.pop(k, None)
    log = open(os.path.join(work, "serve.log"), "wb")
    serve = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.PIPE, stderr=log)
    port = 0
    deadline = time.time() + 30
    while time.time() < deadline:
        line = serve.stdout.readline().decode()
        if "listening on http://127.0.0.1:" in line:
            port = int(line.split("127.0.0.1:")[1].split()[0])
            break
    if not port:
        serve.kill()
        sys.exit("soak: wavebot serve did not start; log in " + log.name)

    # The schedule: (event, body, delivery id, signature) for every request, decided up front.
    names = list(MIX)
    weights = [MIX[n] for n in names]
    plan, sent_ids = [], []
    for i in range(args.deliveries):
        ev = rng.choices(names, weights)[0]
        body = rng.choice(bodies[ev])
        roll = rng.random()
        if roll < 0.02 and sent_ids:
            kind, did, ev, body = "replay", *rng.choice(sent_ids)
        else:
            kind, did = "new", "soak-%d-%d" % (os.getpid(), i)
            sent_ids.append((did, ev, body))
        sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if roll > 0.99:
            kind, sig = "badsig", "sha256=" + "0" * 64
        plan.append((kind, ev, body, did, sig))
    expect = {"new": 202, "replay": 202, "badsig": 401}

    latencies, unexpected, statuses = [], [], {}
    lock = threading.Lock()
    next_index = [0]
    start = time.monotonic() + 0.5
    stop_at = start + args.max_seconds

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while True:
            with lock:
                i = next_index[0]
                next_index[0] += 1
            if i >= len(plan):
                break
            due = start + i / args.rate
            now = time.monotonic()
            if due > stop_at:
                break
            if due > now:
                time.sleep(due - now)
            kind, ev, body, did, sig = plan[i]
            t0 = time.monotonic()
            try:
                conn.request("POST", "/webhook", body=body, headers={
                    "Content-Type": "application/json", "X-GitHub-Event": ev, "X-GitHub-Delivery": did,
                    "X-Hub-Signature-256": sig, "User-Agent": "GitHub-Hookshot/soak"})
                r = conn.getresponse()
                answer = r.read().decode(errors="replace")
                status = r.status
            except Exception as e:  # noqa: BLE001 - any transport error is a finding
                status, answer = -1, str(e)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            # Acknowledgement time from when the request was due (open loop: includes any queueing).
            ack = time.monotonic() - min(due, t0)
            with lock:
                latencies.append(ack)
                statuses[status] = statuses.get(status, 0) + 1
                if status != expect[kind] or (kind == "replay" and "duplicate" not in answer and
                                              not answer.startswith("stored")):
                    unexpected.append((kind, did, status, answer.strip()[:200]))
        conn.close()

    samples = []
    sampling = [True]

    def sampler():
        while sampling[0]:
            try:
                rss, fds, threads = proc_sample(serve.pid)
                depth = metric(port, "wavebot_webhook_queue_depth")
            except (OSError, http.client.HTTPException):
                break
            samples.append((time.monotonic() - start, rss, fds, threads, depth, len(latencies)))
            time.sleep(args.sample)

    s = threading.Thread(target=sampler)
    s.start()
    workers = [threading.Thread(target=worker) for _ in range(args.connections)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    send_seconds = time.monotonic() - start
    # Let the dispatcher drain, then take the final samples.
    drain_deadline = time.monotonic() + 120
    while time.monotonic() < drain_deadline and metric(port, "wavebot_webhook_queue_depth") > 0:
        time.sleep(0.2)
    time.sleep(args.sample * 2)
    sampling[0] = False
    s.join()
    # The server still answers health and a valid new delivery afterwards.
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    c.request("GET", "/healthz")
    health = c.getresponse()
    health_body = health.read().decode()
    body = bodies["issues"][0]
    c.request("POST", "/webhook", body=body, headers={
        "X-GitHub-Event": "issues", "X-GitHub-Delivery": "soak-after-%d" % os.getpid(),
        "X-Hub-Signature-256": "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()})
    after = c.getresponse()
    after.read()
    serve.send_signal(signal.SIGTERM)
    exit_code = serve.wait(timeout=30)
    db_bytes = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(work, "data"))
                   for f in fs)

    with open(args.csv, "w") as f:
        f.write("seconds,rss_kb,open_fds,threads,queue_depth,answered\n")
        for row in samples:
            f.write("%.1f,%d,%d,%d,%d,%d\n" % (row[0], row[1], row[2], row[3], row[4], row[5]))
    tenth = max(1, len(samples) // 10)
    # Warm-up excluded: the second tenth of the run against the last.
    first, last = samples[tenth:2 * tenth], samples[-tenth:]
    avg = lambda rows, k: statistics.mean(r[k] for r in rows)  # noqa: E731
    lat = sorted(latencies)
    pct = lambda p: lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000  # noqa: E731
    print(f"soak: {len(latencies)} requests in {send_seconds:.0f} s ({len(latencies) / send_seconds:.1f}/s, "
          f"target {args.rate}/s, {args.connections} connections); answers {dict(sorted(statuses.items()))}")
    print(f"ack ms: p50 {pct(50):.1f}  p99 {pct(99):.1f}  p99.9 {pct(99.9):.1f}  max {lat[-1] * 1000:.1f}")
    print(f"samples: {len(samples)} every {args.sample}s -> {args.csv}")
    for label, k in (("RSS kB", 1), ("open fds", 2), ("threads", 3), ("queue depth", 4)):
        print(f"  {label:12s} first tenth {avg(first, k):10.1f}  last tenth {avg(last, k):10.1f}  "
              f"max {max(r[k] for r in samples):10.1f}")
    print(f"after: /healthz {health.status} {health_body.strip()}; serve exit {exit_code}; "
          f"data dir {db_bytes / 1e6:.1f} MB; a new valid delivery afterwards: {after.status}")
    failures = []
    if unexpected:
        failures.append(f"{len(unexpected)} unexpected answers, first: {unexpected[:3]}")
    if avg(last, 1) - avg(first, 1) > args.growth_rss_kb:
        failures.append("RSS grew")
    if avg(last, 2) - avg(first, 2) > args.growth_fds:
        failures.append("open files grew")
    if avg(last, 3) - avg(first, 3) > args.growth_threads:
        failures.append("threads grew")
    if samples[-1][4] != 0:
        failures.append("queue did not drain")
    if health.status != 200 or after.status != 202 or exit_code != 0:
        failures.append("server unhealthy or bad exit")
    print("soak: " + ("FAILED: " + "; ".join(failures) if failures else "ok: resources flat, queue drained"))
    print(f"command: bench/soak/soak.py --rate {args.rate:g} --deliveries {args.deliveries} "
          f"--connections {args.connections} --repos {args.repos}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
