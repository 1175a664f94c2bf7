#!/usr/bin/env bash
# Everything faasd needs on a fresh Debian 12 machine with Node 20, idempotent.
#   scripts/install.sh          Debian packages for process mode + npm ci (builds dist/)
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

# npm ci: exactly the lockfile, node_modules recreated. Its `prepare` script (npm run build)
# compiles src/ to dist/; better-sqlite3's install script builds the native addon.
# A second run skips it when node_modules was installed after the last change to
# package.json / package-lock.json (npm's hidden lockfile is newer) and better-sqlite3
# loads under this Node: npm ci would delete and recompile everything for nothing.
modules_current() {
  [[ node_modules/.package-lock.json -nt package-lock.json ]] \
    && [[ node_modules/.package-lock.json -nt package.json ]] \
    && node -e "new (require('better-sqlite3'))(':memory:').close()" >/dev/null 2>&1
}
if modules_current; then
  echo "install.sh: node_modules matches package-lock.json, npm ci skipped; npm run build"
  npm run --silent build
else
  echo "install.sh: npm ci (builds better-sqlite3 and compiles src/ to dist/)"
  npm ci --no-audit --no-fund
fi

if ((with_test)); then
  bash scripts/ensure-docker.sh
  bash scripts/build-runtime-images.sh
fi
echo "install.sh: done"
