#!/usr/bin/env bash
# Build faasd's local runtime images WITHOUT pulling anything from a registry.
#
#   faasd-runtime/python:3.11-local   Debian's /usr/bin/python3.11 + its stdlib
#   faasd-runtime/node:20-local       the host's /usr/bin/node
#
# Each image is a root filesystem assembled from files of this host (binary,
# the shared libraries ldd reports, the dynamic loader, a minimal /etc) and fed
# to `docker import`. No shell, no package manager, no busybox.
#
# Usage: scripts/build-runtime-images.sh [--force] [python] [node]
#   --force   rebuild even if the image tag already exists
#   python/node  build only the named image(s); default: both
#
# Idempotent: an existing image is left alone unless --force is given.
# Needs a running Docker engine (see scripts/ensure-docker.sh).
set -euo pipefail

PY_IMAGE="faasd-runtime/python:3.11-local"
NODE_IMAGE="faasd-runtime/node:20-local"
PY_BIN="/usr/bin/python3.11"   # Debian's python, NOT the pyenv shim on PATH
PY_STDLIB="/usr/lib/python3.11"
NODE_BIN="/usr/bin/node"

log() { printf '[build-runtime-images] %s\n' "$*"; }
die() { printf '[build-runtime-images] ERROR: %s\n' "$*" >&2; exit 1; }

FORCE=0
WANT=()
for arg in "$@"; do
  case "$arg" in
    --force|-f) FORCE=1 ;;
    python|node) WANT+=("$arg") ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg" ;;
  esac
done
if [ "${#WANT[@]}" -eq 0 ]; then WANT=(python node); fi

command -v docker >/dev/null 2>&1 || die "docker client not found"
docker info >/dev/null 2>&1 || die "Docker engine not reachable (run scripts/ensure-docker.sh first)"
command -v ldd >/dev/null 2>&1 || die "ldd not found"

WORK="$(mktemp -d /var/tmp/faasd-rootfs.XXXXXX)"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Skeleton shared by both images: merged-/usr layout, /tmp 1777, nobody user.
make_skeleton() {
  local root="$1"
  mkdir -p "$root"/{usr/bin,usr/lib,usr/lib64,etc,dev,proc,sys,run/faas,var/tmp,tmp}
  ln -s usr/bin "$root/bin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp" "$root/var/tmp"
  chmod 0755 "$root/run/faas"
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
  cat >"$root/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
shadow: files
hosts:  files dns
EOF
  # Docker bind-mounts its own /etc/hosts, /etc/hostname and /etc/resolv.conf;
  # these are only fallbacks for other runtimes.
  printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
  : >"$root/etc/resolv.conf"
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
  fi
  chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf,hosts,resolv.conf}
}

# Copy one file into the rootfs at its canonical path; if the name asked for
# differs (symlink chain), recreate that name as an absolute symlink.
add_file() {
  local root="$1" path="$2" real dir base
  real="$(readlink -f "$path")"
  [ -f "$real" ] || die "missing file: $path"
  if [ ! -e "$root$real" ]; then
    mkdir -p "$root$(dirname "$real")"
    cp -p "$real" "$root$real"
  fi
  dir="$(readlink -f "$(dirname "$path")")"
  base="$(basename "$path")"
  if [ "$dir/$base" != "$real" ] && [ ! -e "$root$dir/$base" ] && [ ! -L "$root$dir/$base" ]; then
    mkdir -p "$root$dir"
    ln -s "$real" "$root$dir/$base"
  fi
}

# Every shared library (and the loader) that ldd reports for the given ELF files.
add_libs_of() {
  local root="$1"; shift
  local lib
  while read -r lib; do
    [ -n "$lib" ] && add_file "$root" "$lib"
  done < <(
    for f in "$@"; do ldd "$f" 2>/dev/null || true; done \
      | awk '/=> \// {print $3} /^[[:space:]]*\/[^ ]+ \(0x/ {print $1}' \
      | sort -u
  )
}

import_rootfs() {
  local root="$1" image="$2" cmd="$3"; shift 3
  local changes=(
    --change 'ENV PATH=/usr/bin:/bin'
    --change 'ENV LANG=C.UTF-8'
    --change 'WORKDIR /tmp'
    --change "CMD $cmd"
  )
  for c in "$@"; do changes+=(--change "$c"); done
  local old_id new_id
  old_id="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  log "importing $image from $(du -sh "$root" | cut -f1) rootfs"
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf - . \
    | docker import "${changes[@]}" --message "faasd local runtime, assembled from host files by $(basename "$0")" - "$image" >/dev/null
  new_id="$(docker image inspect --format '{{.Id}}' "$image")"
  if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    # drop the previous build (now untagged); keep it if a container still uses it
    if docker image rm "$old_id" >/dev/null 2>&1; then log "removed previous $image ($old_id)"; fi
  fi
  log "built $image: $(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1/1000/1000}')"
}

build_python() {
  [ -x "$PY_BIN" ] || die "$PY_BIN not found (apt-get install python3.11-minimal libpython3.11-stdlib)"
  [ -d "$PY_STDLIB/lib-dynload" ] || die "$PY_STDLIB/lib-dynload not found"
  local root="$WORK/python"
  log "assembling python rootfs from $PY_BIN ($("$PY_BIN" -V 2>&1))"
  make_skeleton "$root"
  add_file "$root" "$PY_BIN"
  ln -s python3.11 "$root/usr/bin/python3"
  ln -s python3.11 "$root/usr/bin/python"

  # stdlib minus test suites, GUI/IDE, installer bits, static libpython (25 MB).
  # Only the plain .pyc caches are kept: the rootfs is read-only at run time,
  # so without them every cold start would recompile the stdlib modules.
  mkdir -p "$root$PY_STDLIB"
  tar -C "$PY_STDLIB" -cf - \
      --exclude='./test' --exclude='./idlelib' --exclude='./tkinter' \
      --exclude='./turtledemo' --exclude='./turtle.py' --exclude='./ensurepip' \
      --exclude='./lib2to3' --exclude='./config-3.*' --exclude='./sitecustomize.py' \
      --exclude='./unittest/test' --exclude='./ctypes/test' --exclude='./sqlite3/test' \
      --exclude='./distutils/tests' --exclude='./EXTERNALLY-MANAGED' \
      --exclude='*.opt-1.pyc' --exclude='*.opt-2.pyc' \
      . | tar -C "$root$PY_STDLIB" -xf -
  # Debian's sitecustomize.py is a symlink to /etc (apport hook): leave it out.

  add_libs_of "$root" "$PY_BIN" "$PY_STDLIB"/lib-dynload/*.so
  import_rootfs "$root" "$PY_IMAGE" '["/usr/bin/python3"]' \
    'ENV PYTHONDONTWRITEBYTECODE=1'
}

build_node() {
  [ -x "$NODE_BIN" ] || die "$NODE_BIN not found"
  local root="$WORK/node"
  log "assembling node rootfs from $NODE_BIN ($("$NODE_BIN" --version))"
  make_skeleton "$root"
  add_file "$root" "$NODE_BIN"
  add_libs_of "$root" "$NODE_BIN"
  import_rootfs "$root" "$NODE_IMAGE" '["/usr/bin/node"]'
}

for what in "${WANT[@]}"; do
  case "$what" in
    python) image="$PY_IMAGE" ;;
    node) image="$NODE_IMAGE" ;;
  esac
  if [ "$FORCE" -eq 0 ] && image_exists "$image"; then
    log "$image already exists ($(docker image inspect --format '{{.Size}}' "$image" | awk '{printf "%.1f MB", $1/1000/1000}')), skipping (use --force to rebuild)"
    continue
  fi
  "build_$what"
done

docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}\t{{.ID}}' faasd-runtime/python
docker image ls --format '{{.Repository}}:{{.Tag}}\t{{.Size}}\t{{.ID}}' faasd-runtime/node
