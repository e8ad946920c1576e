#!/usr/bin/env bash
# The image's build stage, and the same steps tests/deploy runs without a docker engine:
# installs the build dependencies (scripts/setup.sh), configures exactly as scripts/build.sh does,
# builds the `wavebot` target only, and installs the stripped binary as PREFIX/bin/wavebot.
# Usage: docker/build.sh PREFIX        (WAVEBOT_BUILD_DIR: build directory, default build)
set -euo pipefail
if (($# != 1)); then
  echo "usage: docker/build.sh PREFIX" >&2
  exit 2
fi
PREFIX=$1
cd "$(dirname "$0")/.."
bash scripts/setup.sh
BUILD_DIR=${WAVEBOT_BUILD_DIR:-build}
GENERATOR=()
command -v ninja >/dev/null && GENERATOR=(-G Ninja)
# The same options as scripts/build.sh, so that a developer's or CI's build directory is reused as is.
cmake -S . -B "$BUILD_DIR" "${GENERATOR[@]}" -DWAVEBOT_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" --target wavebot -j "$(nproc)"
install -d "$PREFIX/bin"
install -m 0755 -s "$BUILD_DIR/src/cli/wavebot" "$PREFIX/bin/wavebot"
"$PREFIX/bin/wavebot" version
