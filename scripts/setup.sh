#!/usr/bin/env bash
# Installs what wavebot needs to build and test on Debian 12, and nothing it already has.
# Idempotent: a second run installs nothing. Runs apt-get as root, through sudo when not root,
# or prints the exact command to run when neither is possible.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libcpp-httplib-dev libcurl4-openssl-dev libssl-dev nlohmann-json3-dev libgit2-dev libspdlog-dev
  libgtest-dev libgmock-dev libsqlite3-dev libzstd-dev libyaml-cpp-dev libcli11-dev
  libcmark-gfm-dev libcmark-gfm-extensions-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  chromium  # headless browser for the dashboard's browser test (tests/dashboard)
  bubblewrap  # the agent sandbox (docs/security.md): every agent run is contained by it
  tinyproxy-bin socat  # the sandbox's allowlist network policy: a filtering proxy and its bridge
  curl  # the hostile-agent tests probe the network from inside the sandbox with it
)
# Node.js and npm run test tooling only (OpenAPI contract checks, webhook examples, workflow, Dockerfile
# and compose linters); cmake's test configuration looks for node, so every build installs it. A machine
# that already has node and npm (for example from NodeSource, whose nodejs bundles npm) keeps them.
command -v node >/dev/null || PACKAGES+=(nodejs)
command -v npm >/dev/null || PACKAGES+=(npm)
# systemd-analyze and openssl verify deploy/wavebot.service (tests/deploy).
command -v systemd-analyze >/dev/null || PACKAGES+=(systemd)
command -v openssl >/dev/null || PACKAGES+=(openssl)
# Optional extras with --bench: load generator for the ingress benchmark.
if [[ "${1:-}" == "--bench" ]]; then PACKAGES+=(wrk); fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
if [[ $(id -u) -eq 0 ]]; then
  SUDO=()
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  SUDO=(sudo)
else
  echo "setup: missing packages and no root. Run:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -qq
"${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
