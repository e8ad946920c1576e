#!/usr/bin/env bash
# Ingress benchmark: wrk against `wavebot serve` and, in the same run, against the @octokit/webhooks
# baseline (bench/ingress/baseline.mjs). Prints requests/s, p50, p99 and the ratios.
# Usage: bench/ingress/run.sh [duration=20s] [connections=64] [wrk threads=2]
# Needs: a built wavebot (WAVEBOT_BINARY, default build/src/cli/wavebot), wrk, node, and
# tests/contract/node_modules (npm ci in tests/contract).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-20s}
CONNS=${2:-64}
THREADS=${3:-2}
BIN=${WAVEBOT_BINARY:-build/src/cli/wavebot}
SECRET=bench-secret-$$
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

node -e '
const i = require("./tests/contract/node_modules/@octokit/webhooks-examples/api.github.com/index.json");
// The first issue_comment.created example, compact as GitHub sends it (12,672 bytes).
const ex = i.find(e => e.name === "issue_comment").examples.find(x => x.action === "created");
require("fs").writeFileSync(process.argv[1], JSON.stringify(ex));
' "$WORK/body.json"
SIG="sha256=$(openssl dgst -sha256 -hmac "$SECRET" "$WORK/body.json" | awk '{print $NF}')"
echo "payload: $(wc -c < "$WORK/body.json") bytes of issue_comment.created"
export BENCH_BODY="$WORK/body.json" BENCH_SIGNATURE="$SIG" BENCH_EVENT=issue_comment

wait_up() { for _ in $(seq 100); do curl -s -m 1 -o /dev/null -X "${2:-GET}" "$1" && return 0; sleep 0.1; done; echo "server did not start" >&2; exit 1; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

# wavebot
# The load generator is one address: no per-address cap. /metrics is read from the dashboard listener.
WAVEBOT_WEBHOOK_SECRET=$SECRET WAVEBOT_DATA_DIR="$WORK/data" WAVEBOT_LISTEN=127.0.0.1:18181 \
  WAVEBOT_MAX_CONNECTIONS_PER_ADDRESS=0 WAVEBOT_DASHBOARD_LISTEN=127.0.0.1:18182 WAVEBOT_READ_TOKEN=bench \
  WAVEBOT_LOG_LEVEL=${WAVEBOT_LOG_LEVEL:-info} "$BIN" serve >"$WORK/wavebot.out" 2>"$WORK/wavebot.log" &
WPID=$!
wait_up http://127.0.0.1:18181/healthz
IDLE_RSS=$(rss_kb $WPID)
BENCH_RUN=w$$ wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/ingress/post_webhook.lua \
  http://127.0.0.1:18181 > "$WORK/wavebot.wrk"
LOAD_RSS=$(rss_kb $WPID)
METRICS=$(curl -s -H 'Authorization: Bearer bench' http://127.0.0.1:18182/metrics)
STORED=$(echo "$METRICS" | awk '/deliveries_total.*result="accepted"/ {print $2}')
# Deliveries the dispatcher finished (claimed, parsed, handled, outcome committed) during the same run.
PROCESSED=$(echo "$METRICS" | awk '/processed_total.*result="done"/ {print $2}')
# What the store wrote for them (the dispatcher's claims and outcomes included): WAL frames (4 KB pages)
# per stored delivery, and stored deliveries per WAL sync.
STORE=$(echo "$METRICS" | awk -v n="${STORED:-0}" '
  /^wavebot_store_wal_frames_total / {f = $2} /^wavebot_store_wal_syncs_total / {s = $2}
  END { if (n > 0 && s > 0) printf "%.2f WAL frames per delivery, %.1f deliveries per WAL sync", f / n, n / s }')
# The WAL's size right after the load: the writer rewinds it at 16 MB (docs/benchmarks.md).
WAL_MB=$(du -cm "$WORK"/data/*-wal 2>/dev/null | awk 'END {print $1}')
kill -TERM $WPID; wait $WPID || true

# baseline
node bench/ingress/baseline.mjs 18182 "$SECRET" > "$WORK/baseline.log" 2>&1 &
BPID=$!
wait_up http://127.0.0.1:18182/webhook POST
BENCH_RUN=b$$ wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency -s bench/ingress/post_webhook.lua \
  http://127.0.0.1:18182 > "$WORK/baseline.wrk"
kill -TERM $BPID; wait $BPID || true

W=$(grep ^RESULT "$WORK/wavebot.wrk"); B=$(grep ^RESULT "$WORK/baseline.wrk")
field() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k {print $2}'; }
printf "%-10s %12s %10s %10s %10s\n" server "requests/s" "p50 ms" "p99 ms" errors
printf "%-10s %12s %10s %10s %10s\n" wavebot "$(field "$W" rps)" "$(field "$W" p50_ms)" "$(field "$W" p99_ms)" "$(field "$W" errors)"
printf "%-10s %12s %10s %10s %10s\n" baseline "$(field "$B" rps)" "$(field "$B" p50_ms)" "$(field "$B" p99_ms)" "$(field "$B" errors)"
awk -v w="$(field "$W" rps)" -v b="$(field "$B" rps)" -v wp="$(field "$W" p99_ms)" -v bp="$(field "$B" p99_ms)" \
  'BEGIN { printf "throughput ratio wavebot/baseline: %.2fx; p99 ratio: %.2fx\n", w / b, wp / bp }'
echo "wavebot: deliveries stored (202, committed): ${STORED:-0}; processed by the dispatcher meanwhile: ${PROCESSED:-0}; idle RSS ${IDLE_RSS} kB; RSS after load ${LOAD_RSS} kB; WAL after load ${WAL_MB:-0} MB"
echo "wavebot store: ${STORE:-no store metrics}"
echo "command: bench/ingress/run.sh $DURATION $CONNS $THREADS (wrk -t$THREADS -c$CONNS -d$DURATION)"
