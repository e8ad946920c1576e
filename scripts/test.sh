#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test with ctest.
# Usage: scripts/test.sh [--sanitize]   (ASan + UBSan build in build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh "$@"
BUILD_DIR=${WAVEBOT_BUILD_DIR:-build}
[[ "${1:-}" == "--sanitize" ]] && BUILD_DIR=${WAVEBOT_BUILD_DIR:-build-asan}
# Test tooling from npm, pinned by a package-lock.json in each tests/<suite>/ that needs some.
for lock in tests/*/package-lock.json; do
  [[ -f "$lock" ]] || continue
  (cd "$(dirname "$lock")" && npm ci --no-audit --no-fund --loglevel=error)
done
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 600
