#!/usr/bin/env bash
# Installs what is missing (scripts/setup.sh), then configures and builds wavebot into build/.
# Usage: scripts/build.sh [--sanitize] [extra cmake -D options...]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${WAVEBOT_BUILD_DIR:-build}
EXTRA=()
if [[ "${1:-}" == "--sanitize" ]]; then
  shift
  BUILD_DIR=${WAVEBOT_BUILD_DIR:-build-asan}
  EXTRA+=(-DWAVEBOT_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
fi
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DWAVEBOT_WERROR=ON "${EXTRA[@]}" "$@" >/dev/null
cmake --build "$BUILD_DIR" -j "$(nproc)"
echo "build: $BUILD_DIR/src/cli/wavebot"
