#!/usr/bin/env bash
# Builds the libFuzzer targets with clang-14 (ASan + UBSan) and runs each one.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]    (default: 10 s each, all targets)
# Crashes are written to fuzz/crashes/<target>/; copy one into fuzz/corpus/<target>/ to keep it as a
# regression input (every corpus file is replayed on each run).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-10}
shift || true
TARGETS=("$@")
((${#TARGETS[@]})) || TARGETS=(fuzz_links fuzz_plan_export fuzz_repo_config fuzz_commands fuzz_events fuzz_server_config fuzz_ingress fuzz_ls_refs)
BUILD=${WAVEBOT_FUZZ_BUILD_DIR:-build-fuzz}
CXX=${CXX_FUZZ:-clang++-14}
if ! command -v "$CXX" >/dev/null; then
  echo "fuzz: $CXX not found: install the Debian packages clang-14 libclang-rt-14-dev (scripts/setup.sh)" >&2
  exit 1
fi
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
cmake -S fuzz -B "$BUILD" "${GENERATOR[@]}" -DCMAKE_CXX_COMPILER="$CXX" >/dev/null
# Quiet when it builds; the compiler's and linker's errors when it does not.
if ! build_log=$(cmake --build "$BUILD" -j "$(nproc)" --target "${TARGETS[@]}" 2>&1); then
  echo "$build_log" | grep -E 'error|undefined reference' | head -20 >&2
  echo "fuzz: building the targets failed (cmake --build $BUILD)" >&2
  exit 1
fi
for t in "${TARGETS[@]}"; do
  corpus=fuzz/corpus/${t#fuzz_}
  work=$BUILD/corpus/${t#fuzz_}
  mkdir -p "$work" "fuzz/crashes/$t"
  echo "fuzz: $t for ${SECONDS_PER_TARGET}s (seeds: $corpus)"
  "$BUILD/$t" "$work" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -max_len=65536 -timeout=10 \
    -artifact_prefix="fuzz/crashes/$t/" -print_final_stats=1 2>&1 | grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+[[:space:]]+DONE)|ERROR|SUMMARY' || true
  # libFuzzer exits non-zero on a crash; re-run the corpus to turn that into this script's status.
  "$BUILD/$t" -runs=0 -artifact_prefix="$BUILD/replay-" "$corpus" >/dev/null 2>&1 || { echo "fuzz: $t fails on its corpus" >&2; exit 1; }
  if compgen -G "fuzz/crashes/$t/*" >/dev/null; then echo "fuzz: $t found crashes: fuzz/crashes/$t/" >&2; exit 1; fi
done
echo "fuzz: no crashes"
