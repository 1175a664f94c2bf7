#!/usr/bin/env bash
# Build the faasd daemon image from the repo's Dockerfile, when it can be built here.
#
#   scripts/build-daemon-image.sh            tag faasd:local (or $FAASD_IMAGE)
#
# The Dockerfile starts FROM node:20-bookworm and node:20-bookworm-slim. This script never
# pulls: when either base image is missing locally (air-gapped hosts, CI without a
# registry) or no Docker engine answers, it prints one line saying why the build is
# skipped and exits 0. A build that starts and fails exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE="${FAASD_IMAGE:-faasd:local}"
NODE_IMAGE="${NODE_IMAGE:-node:20-bookworm}"
NODE_SLIM_IMAGE="${NODE_SLIM_IMAGE:-node:20-bookworm-slim}"

skip() { printf 'Dockerfile not built: %s\n' "$*"; exit 0; }

command -v docker >/dev/null 2>&1 || skip "no docker client on this host"
docker info >/dev/null 2>&1 || skip "the Docker engine is not reachable"
for base in "$NODE_IMAGE" "$NODE_SLIM_IMAGE"; do
  docker image inspect "$base" >/dev/null 2>&1 \
    || skip "base image $base is not available locally and no registry is reachable"
done

# The build itself needs Debian apt and the npm registry; pass the host's proxy through.
args=()
for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
  [[ -n "${!v:-}" ]] && args+=(--build-arg "$v=${!v}")
done
echo "build-daemon-image: building $IMAGE from $NODE_IMAGE / $NODE_SLIM_IMAGE"
docker build --pull=false \
  --build-arg "NODE_IMAGE=$NODE_IMAGE" --build-arg "NODE_SLIM_IMAGE=$NODE_SLIM_IMAGE" \
  ${args[@]+"${args[@]}"} -t "$IMAGE" .
echo "build-daemon-image: built $IMAGE"
