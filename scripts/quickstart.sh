#!/usr/bin/env bash
# The README's first command: installs what is missing, builds, and runs wavebot's main job on the
# embedded default. Until `wavebot sandbox` lands, that is `wavebot plan` on the bundled example epic.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec build/src/cli/wavebot plan --from examples/epic.json --epic 1 "$@"
