#!/usr/bin/env bash
# The README's test command: installs what is missing, builds, and runs every test with ctest.
# Usage: scripts/test.sh [--sanitize]   (ASan + UBSan build in build-asan/)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh "$@"
BUILD_DIR=${WAVEBOT_BUILD_DIR:-build}
[[ "${1:-}" == "--sanitize" ]] && BUILD_DIR=${WAVEBOT_BUILD_DIR:-build-asan}
# Test tooling from npm (pinned by tests/contract/package-lock.json), when present.
if [[ -f tests/contract/package-lock.json ]]; then
  (cd tests/contract && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j "$(nproc)" --timeout 600
