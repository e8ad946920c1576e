#!/usr/bin/env bash
# Installs what wavebot needs to build and test on Debian 12, and nothing it already has.
# Idempotent: a second run installs nothing. Runs apt-get as root, through sudo when not root,
# or prints the exact command to run when neither is possible.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libcpp-httplib-dev libssl-dev nlohmann-json3-dev libgit2-dev libspdlog-dev
  libgtest-dev libgmock-dev libsqlite3-dev libyaml-cpp-dev libcli11-dev
  libcmark-gfm-dev libcmark-gfm-extensions-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
)
BUILD_ONLY=0
for arg in "$@"; do
  case "$arg" in
    --bench) PACKAGES+=(wrk) ;;          # load generator for the ingress benchmark
    --build-only) BUILD_ONLY=1 ;;        # only what building wavebot needs (docker/build.sh)
  esac
done
if ((BUILD_ONLY == 0)); then
  # Test tooling: Node.js and npm (OpenAPI contract checks, webhook examples, workflow/Dockerfile/compose
  # linters; a machine that already has node and npm, e.g. from NodeSource, keeps them) and
  # systemd-analyze and openssl (verify deploy/wavebot.service).
  command -v node >/dev/null || PACKAGES+=(nodejs)
  command -v npm >/dev/null || PACKAGES+=(npm)
  command -v systemd-analyze >/dev/null || PACKAGES+=(systemd)
  command -v openssl >/dev/null || PACKAGES+=(openssl)
fi

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
