#!/usr/bin/env bash
# Everything faasd needs on a fresh Debian 12 machine with Node 20, idempotent.
#   scripts/install.sh          Debian packages for process mode + npm ci (builds dist/)
#   scripts/install.sh --test   also a running Docker engine, the local runtime images and
#                               chromium (the web console's browser tests)
set -euo pipefail
cd "$(dirname "$0")/.."

with_test=0
[[ "${1:-}" == "--test" ]] && with_test=1

need_pkgs=()
command -v bwrap >/dev/null 2>&1 || need_pkgs+=(bubblewrap)      # strict process isolation
command -v unshare >/dev/null 2>&1 || need_pkgs+=(util-linux)
command -v setpriv >/dev/null 2>&1 || need_pkgs+=(util-linux)
[[ -x /usr/bin/python3 ]] || need_pkgs+=(python3)                  # the Python runtime
# pip installs Python functions' `dependencies` at deploy (python3 -m pip, as the daemon runs it)
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || need_pkgs+=(python3-pip)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)               # better-sqlite3 builds from source
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
# the web console's tests drive Debian's chromium, headless (test/ui-browser.test.ts)
((with_test)) && { [[ -x /usr/bin/chromium ]] || need_pkgs+=(chromium); }
if ((${#need_pkgs[@]})); then
  echo "install.sh: installing Debian packages: ${need_pkgs[*]} (apt-get update + install, about a minute)"
  SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
else
  echo "install.sh: Debian packages already present (bubblewrap, util-linux, python3, python3-pip, make, g++$( ((with_test)) && echo ', chromium'))"
fi

# A line every 30 s while a long silent step runs, so a compile is not taken for a hang.
heartbeat_pid=""
heartbeat_start() {
  local what="$1" started=$SECONDS
  # the sleep is killed with the loop: a leftover one would hold a pipe on our stdout open
  ( trap 'kill $! 2>/dev/null; exit 0' TERM
    while :; do
      sleep 30 & wait $!
      echo "install.sh: ... $what still running ($((SECONDS - started)) s)"
    done ) &
  heartbeat_pid=$!
}
heartbeat_stop() {
  [[ -n "$heartbeat_pid" ]] || return 0
  kill "$heartbeat_pid" 2>/dev/null || true
  wait "$heartbeat_pid" 2>/dev/null || true
  heartbeat_pid=""
}
trap heartbeat_stop EXIT

# npm ci: exactly the lockfile, node_modules recreated. Its `prepare` script (npm run build)
# compiles src/ to dist/ and bundles the web console (ui/) into dist/ui; better-sqlite3's
# install script builds the native addon.
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
  echo "install.sh: npm ci: installing packages and compiling better-sqlite3 from source," \
    "then src/ to dist/ (1-3 minutes on 2 cores; npm itself says little until the end)"
  npm_started=$SECONDS
  heartbeat_start "npm ci"
  npm ci --no-audit --no-fund
  heartbeat_stop
  echo "install.sh: npm ci done in $((SECONDS - npm_started)) s"
fi

if ((with_test)); then
  echo "install.sh: --test: making sure a Docker engine runs (installs docker.io and starts dockerd if needed)"
  bash scripts/ensure-docker.sh
  echo "install.sh: --test: local runtime images faasd-runtime/python and faasd-runtime/node (built from host files if missing)"
  bash scripts/build-runtime-images.sh
fi
echo "install.sh: done in $SECONDS s"
