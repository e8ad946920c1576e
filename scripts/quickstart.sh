#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs wavebot's whole loop on this
# machine: `wavebot sandbox` (a GitHub simulator, wavebot, a demo agent and a simulated reviewer).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/src/cli/wavebot sandbox "$@"
