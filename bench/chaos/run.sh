#!/usr/bin/env bash
# Chaos: kill -9 of `wavebot serve` at random points of the sample epic, repeated.
# Usage: bench/chaos/run.sh [RUNS=50] [KILLS=20] [FIRST_SEED=1]
# Each run is tests/engine's KillNineAtRandomPointsLosesAndDuplicatesNothing with its own seed; it prints
# a "chaos-result" line (complete, lost tickets, duplicate PRs, duplicate bot comments, duplicate agent
# runs). The totals go to stdout; a failed run's log stays in $OUT (default /tmp/wavebot-chaos).
# CHAOS=runs kills the runs (run-ticket and the agent's sandbox) instead of `wavebot serve`
# (KillNineOfRunsAtRandomPointsLosesAndDuplicatesNothing; KILLS is then the runs killed, one per ticket);
# CHAOS=actions kills `wavebot serve` with every run a workflow job on simulated self-hosted runners
# (KillNineAtRandomPointsOnActionsRunnersLosesAndDuplicatesNothing).
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-50}
KILLS=${2:-20}
FIRST=${3:-1}
BIN=${WAVEBOT_BUILD_DIR:-build}/tests/engine/engine_chaos_tests
FILTER='SandboxTest.KillNineAtRandomPointsLosesAndDuplicatesNothing'
[[ ${CHAOS:-serve} == runs ]] && FILTER='*KillNineOfRunsAtRandomPoints*'
[[ ${CHAOS:-serve} == actions ]] && FILTER='*KillNineAtRandomPointsOnActionsRunners*'
OUT=${OUT:-/tmp/wavebot-chaos}
[[ -x "$BIN" ]] || { echo "build first: scripts/build.sh (missing $BIN)" >&2; exit 2; }
mkdir -p "$OUT"
passed=0; failed=0; incomplete=0; lost=0; dprs=0; dcomments=0; druns=0; kills=0; reruns=0
start=$(date +%s)
for ((i = 0; i < RUNS; i++)); do
  seed=$((FIRST + i))
  log="$OUT/seed-$seed.log"
  if WAVEBOT_CHAOS_KILLS=$KILLS WAVEBOT_CHAOS_SEED=$seed "$BIN" \
      --gtest_filter="$FILTER" >"$log" 2>&1; then
    ok=1; passed=$((passed + 1))
  else
    ok=0; failed=$((failed + 1))
  fi
  line=$(grep -h '^chaos-result' "$log" || true)
  [[ $ok == 1 ]] && rm -f "$log"
  if [[ -z "$line" ]]; then echo "seed $seed: no result line (crashed?), see $log"; incomplete=$((incomplete + 1)); continue; fi
  echo "seed $seed: $line"
  get() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$line"; }
  [[ "$(get complete)" == 1 ]] || incomplete=$((incomplete + 1))
  kills=$((kills + $(get kills)))
  lost=$((lost + $(get lost_tickets))); dprs=$((dprs + $(get duplicate_prs)))
  dcomments=$((dcomments + $(get duplicate_comments))); druns=$((druns + $(get duplicate_runs)))
  r=$(get reruns_after_restarts); reruns=$((reruns + ${r:-0}))  # agents the actions executor ran twice (fails the run)
done
echo "runs=$RUNS passed=$passed failed=$failed incomplete=$incomplete kills=$kills lost_tickets=$lost" \
     "duplicate_prs=$dprs duplicate_comments=$dcomments duplicate_runs=$druns reruns_after_restarts=$reruns seconds=$(( $(date +%s) - start ))"
