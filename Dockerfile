# faasd itself as an image. Build: scripts/build-daemon-image.sh (or `docker build -t faasd .`).
# Run: see "Running faasd in Docker" in README.md.
#
# Written for the classic builder as well as BuildKit (no `# syntax=` line: that would pull
# a frontend image; no RUN --mount, no heredocs). The base images can be overridden to use a
# mirror: --build-arg NODE_IMAGE=... --build-arg NODE_SLIM_IMAGE=...
ARG NODE_IMAGE=node:20-bookworm
ARG NODE_SLIM_IMAGE=node:20-bookworm-slim

# ---- toolchain: what better-sqlite3 needs to compile its native addon -----------------
FROM ${NODE_IMAGE} AS toolchain
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /build
COPY package.json package-lock.json ./

# ---- deps: production node_modules only ------------------------------------------------
FROM toolchain AS deps
# --ignore-scripts: the root package's `prepare` runs tsc, which is a dev dependency and has
# no sources here; dockerode's optional native helpers (ssh2, cpu-features) are not needed.
# better-sqlite3 is then built explicitly (prebuilt binary if reachable, else node-gyp with
# the toolchain above, against this exact Node ABI).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm rebuild better-sqlite3 \
 && node -e "new (require('better-sqlite3'))(':memory:').close()"

# ---- builder: compile src/ to dist/ ------------------------------------------------------
FROM toolchain AS builder
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# ---- runtime -----------------------------------------------------------------------------
FROM ${NODE_SLIM_IMAGE}
# bubblewrap + util-linux (unshare, setpriv): strict/standard process isolation;
# python3: the Python runtime for process-mode functions (Node is the image's own);
# python3-pip: installs Python functions' `dependencies` at deploy (`python3 -m pip`).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends bubblewrap python3 python3-pip util-linux ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A user for container-mode-only deployments (see USER below). Registry and run directories
# exist and belong to it, so `--user faasd` works with the default paths.
RUN groupadd --system --gid 10001 faasd \
 && useradd --system --uid 10001 --gid faasd --home-dir /var/lib/faasd --shell /usr/sbin/nologin faasd \
 && mkdir -p /var/lib/faasd /run/faasd \
 && chown faasd:faasd /var/lib/faasd /run/faasd

WORKDIR /opt/faasd
COPY --from=deps /build/node_modules ./node_modules
COPY --from=builder /build/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY runtimes ./runtimes

# Root keeps its registry at /var/lib/faasd/registry.db; XDG_DATA_HOME makes a non-root
# user's default ($XDG_DATA_HOME/faasd/registry.db) the same file: one volume either way.
ENV NODE_ENV=production XDG_DATA_HOME=/var/lib
VOLUME ["/var/lib/faasd"]
EXPOSE 8000

# The default user stays root, on purpose: strict process isolation creates PID, mount, IPC,
# UTS and network namespaces (CAP_SYS_ADMIN), brings up loopback in each new network
# namespace (CAP_NET_ADMIN: without it bwrap fails "loopback: Failed RTM_NEWADDR"), drops each
# function to an unprivileged uid (CAP_SETUID/SETGID) and writes cgroup limits under
# /sys/fs/cgroup, none of which an unprivileged user can do. The container still needs those rights granted at `docker run`
# (--privileged, or the narrower flags in README.md). Deployments that only use container
# mode need none of it: run with `--user faasd --group-add <gid of /var/run/docker.sock>`
# and `system.default_mode: container`; the Docker socket is then the only privilege (and it
# is root-equivalent on the host, so guard who can reach this gateway either way).
USER root

# Node's own fetch: no curl in the image. FAAS_API_PORT, if set, moves the port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.FAAS_API_PORT||8000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# --host 0.0.0.0: inside a container, loopback is unreachable through a published port.
# Extra arguments are appended: `docker run faasd -c /etc/faasd/faas_config.yaml`,
# `docker run faasd --check-system`.
ENTRYPOINT ["node", "bin/faasd.js", "--host", "0.0.0.0"]
