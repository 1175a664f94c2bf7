#!/usr/bin/env bash
# Make a Docker engine available on this machine (dev machines and CI).
#
#  1. If `docker info` already works: nothing to do.
#  2. If dockerd is not installed: apt-get install docker.io (Debian 12 ships
#     20.10.24, API 1.41), running `apt-get update` only when apt does not
#     know the package yet.
#  3. If the engine is not running: check the cgroup mounts, start dockerd in
#     the background with nohup (no systemd on these machines), logging to
#     /var/log/dockerd-faasd.log, and wait up to 60 s for `docker info`.
#     If dockerd dies because bridge/iptables setup fails, retry once with
#     `--iptables=false --ip6tables=false`, then once more with `--bridge=none`
#     (containers with `network: bridge` do NOT work in that last mode).
#
# Environment:
#   FAASD_DOCKERD_FLAGS   extra flags for dockerd (disables the fallbacks)
#   FAASD_DOCKER_WAIT     seconds to wait for the engine (default 60)
#
# Idempotent; prints what it does. Must run as root.
set -euo pipefail

LOG=/var/log/dockerd-faasd.log
WAIT="${FAASD_DOCKER_WAIT:-60}"
PIDFILE=/var/run/docker.pid

log() { printf '[ensure-docker] %s\n' "$*"; }
die() { printf '[ensure-docker] ERROR: %s\n' "$*" >&2; exit 1; }

export PATH="$PATH:/usr/sbin:/sbin:/usr/bin:/bin"

engine_up() { command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; }

if engine_up; then
  log "Docker engine already running: $(docker version --format 'server {{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo ok)"
  exit 0
fi

[ "$(id -u)" -eq 0 ] || die "must run as root (apt-get install / dockerd)"

# --- 1. install -------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
  candidate="$(apt-cache policy docker.io 2>/dev/null | awk '/Candidate:/ {print $2}')"
  if [ -z "$candidate" ] || [ "$candidate" = "(none)" ]; then
    log "apt does not know docker.io yet: apt-get update"
    apt-get update -q
  fi
  log "installing docker.io (dockerd, containerd, runc, iptables)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io
  command -v dockerd >/dev/null 2>&1 || die "dockerd still not found after installing docker.io"
else
  log "dockerd already installed: $(dockerd --version 2>/dev/null || echo '?')"
fi

# --- 2. cgroups -------------------------------------------------------------
# These machines boot without systemd but come with cgroup v1 controllers at
# /sys/fs/cgroup/<controller> and an empty cgroup2 mount at
# /sys/fs/cgroup/unified. Only mount what is missing.
ensure_cgroups() {
  if [ -f /sys/fs/cgroup/cgroup.controllers ]; then
    log "cgroup v2 (unified) hierarchy at /sys/fs/cgroup"
    return 0
  fi
  if ! mountpoint -q /sys/fs/cgroup; then
    log "mounting tmpfs at /sys/fs/cgroup"
    mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
  fi
  # The controllers dockerd/runc actually use for limits and stats. Others
  # (net_cls, net_prio, perf_event, hugetlb) are not mounted on these
  # machines and are not needed.
  local c missing=()
  for c in cpu cpuacct cpuset memory devices freezer blkio pids; do
    grep -qE "^${c}[[:space:]].*[[:space:]]1\$" /proc/cgroups || continue  # not in kernel / disabled
    if [ -e "/sys/fs/cgroup/$c" ] && { mountpoint -q "/sys/fs/cgroup/$c" || [ -L "/sys/fs/cgroup/$c" ]; }; then
      continue
    fi
    missing+=("$c")
  done
  for c in "${missing[@]}"; do
    log "mounting cgroup v1 controller $c at /sys/fs/cgroup/$c"
    mkdir -p "/sys/fs/cgroup/$c"
    mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" || log "warning: could not mount cgroup controller $c"
  done
  if [ ! -e /sys/fs/cgroup/unified ]; then
    # optional: an empty cgroup2 mount, as on these machines (systemd-style hybrid)
    if mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified; then
      log "mounted empty cgroup2 at /sys/fs/cgroup/unified"
    fi
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    log "cgroup v1 controllers present: $(for c in cpu cpuacct cpuset memory devices freezer blkio pids; do mountpoint -q /sys/fs/cgroup/$c && printf '%s ' "$c"; done)"
  fi
}
ensure_cgroups

# --- 3. start ---------------------------------------------------------------
dockerd_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ] || return 1
  # a killed dockerd can linger briefly as a zombie / exiting task
  awk '{exit ($3 == "Z" || $3 == "X") ? 1 : 0}' "/proc/$pid/stat" 2>/dev/null || return 1
  echo "$pid"
}

# wait_engine PID -> 0 up, 1 dockerd died, 2 timeout
wait_engine() {
  local pid="$1" i
  for ((i = 0; i < WAIT; i++)); do
    if engine_up; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 1
  done
  engine_up && return 0
  return 2
}

start_dockerd() {
  # shellcheck disable=SC2206
  local flags=($*)
  log "starting: nohup dockerd ${flags[*]} >> $LOG 2>&1 &"
  {
    echo "===== $(date -u +%FT%TZ) ensure-docker.sh: dockerd ${flags[*]}"
  } >>"$LOG"
  nohup dockerd "${flags[@]}" >>"$LOG" 2>&1 </dev/null &
  STARTED_PID=$!
  disown "$STARTED_PID" 2>/dev/null || true
}

fail_with_log() {
  echo "----- last 40 lines of $LOG -----" >&2
  tail -n 40 "$LOG" >&2 || true
  die "$1"
}

if pid="$(dockerd_pid)"; then
  log "dockerd already running (pid $pid) but not answering yet; waiting up to ${WAIT}s"
  rc=0
  wait_engine "$pid" || rc=$?
  if [ "$rc" -eq 0 ]; then
    log "Docker engine is up"
    exit 0
  fi
  [ "$rc" -eq 2 ] && fail_with_log "dockerd (pid $pid) is running but \`docker info\` fails"
  log "dockerd (pid $pid) exited (e.g. killed at the end of a session); starting a new one"
  sleep 1
fi

if [ -n "${FAASD_DOCKERD_FLAGS:-}" ]; then
  attempts=("$FAASD_DOCKERD_FLAGS")
else
  # 1st: full bridge networking with iptables NAT (works on these machines).
  # 2nd: bridge without iptables rules (no NAT to the outside, host<->container ok).
  # 3rd: no default bridge at all (only --network none/host work).
  attempts=("" "--iptables=false --ip6tables=false" "--iptables=false --ip6tables=false --bridge=none")
fi

for flags in "${attempts[@]}"; do
  start_dockerd "$flags"
  rc=0
  wait_engine "$STARTED_PID" || rc=$?
  if [ "$rc" -eq 0 ]; then
    log "Docker engine is up (dockerd pid $STARTED_PID, flags: '${flags}')"
    docker info --format '  server {{.ServerVersion}}, storage {{.Driver}}, cgroup driver {{.CgroupDriver}}, cgroup v{{.CgroupVersion}}' 2>/dev/null || true
    exit 0
  fi
  if [ "$rc" -eq 2 ]; then
    fail_with_log "dockerd (pid $STARTED_PID) did not answer within ${WAIT}s"
  fi
  # dockerd exited: only fall back for networking problems.
  if tail -n 30 "$LOG" | grep -qiE 'iptables|bridge|nat chain|docker0|ip6tables|netlink'; then
    log "dockerd exited during network setup; trying fallback flags"
    rm -f "$PIDFILE"
    continue
  fi
  fail_with_log "dockerd exited while starting"
done
fail_with_log "dockerd could not be started with any of the flag sets"
