#!/usr/bin/env bash
# Everything faasd needs on a fresh Debian 12 machine with Node 20, idempotent.
#   scripts/install.sh          Debian packages for process mode + npm install (builds dist/)
#   scripts/install.sh --test   also a running Docker engine and the local runtime images
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[[ "${1:-}" == "--test" ]] && with_test=1

need_pkgs=()
command -v bwrap >/dev/null 2>&1 || need_pkgs+=(bubblewrap)      # strict process isolation
command -v unshare >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v setpriv >/dev/null 2>&1 || need_pkgs+=(util-linux)
[[ -x /usr/bin/python3 ]] || need_pkgs+=(python3)                  # the Python runtime
command -v make >/dev/null 2>&1 || need_pkgs+=(make)               # better-sqlite3 builds from source
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
if ((${#need_pkgs[@]})); then
  echo "install.sh: installing Debian packages: ${need_pkgs[*]}"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
fi

# npm install, not npm ci: npm 11 writes lockfiles without the optional per-platform
# packages (rollup's) and then its own `npm ci` rejects them as out of sync.
echo "install.sh: npm install (builds better-sqlite3 and compiles src/ to dist/)"
npm install --no-audit --no-fund

if ((with_test)); then
  bash scripts/ensure-docker.sh
  bash scripts/build-runtime-images.sh
fi
echo "install.sh: done"
