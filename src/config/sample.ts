// `faasd --create-config`: a commented sample holding every system key with its default and
// freshly generated keys (shown once: only their SHA-256 is written for the admin and
// Prometheus keys).
import crypto from 'node:crypto';
import { defaultSystem } from './schema.js';

export interface GeneratedKeys {
  invokeKey: string;
  manageKey: string;
  adminKey: string;
  /** Scrape-only key (scope metrics) for Prometheus' credentials_file. */
  metricsKey: string;
}

export function generateKey(prefix: string): string {
  return `${prefix}_${crypto.randomBytes(24).toString('base64url')}`;
}

export function sha256Hex(s: string): string {
  return crypto.createHash('sha256').update(s).digest('hex');
}

/** `images`: runtime images to propose instead of the registry defaults (local builds). */
export function sampleConfig(images: { python?: string; node?: string } = {}): { text: string; keys: GeneratedKeys } {
  const d = defaultSystem();
  const local = images.python || images.node ? '   # built locally (scripts/build-runtime-images.sh)' : '';
  const keys: GeneratedKeys = {
    invokeKey: generateKey('fsk_inv'),
    manageKey: generateKey('fsk_mgt'),
    adminKey: generateKey('fsk_adm'),
    metricsKey: generateKey('fsk_met'),
  };
  const text = `# faasd configuration. Load it with:  faasd -c faas_config.yaml  (or FAAS_CONFIG_FILE=...)
# Environment overrides: FAAS_DEFAULT_MODE, FAAS_API_PORT, FAAS_LOG_LEVEL, FAAS_DISABLE_CONTAINER.
# Command-line flags (--host, --port, --debug) override both.

system:
  default_mode: ${d.default_mode}              # process | container: mode of functions that do not say
  max_concurrent_functions: ${d.max_concurrent_functions}   # instances across all functions
  cold_start_timeout: ${d.cold_start_timeout}            # seconds an instance may take to start, and a request may queue
  warm_instance_ttl: ${d.warm_instance_ttl}            # seconds an idle instance above min_instances is kept
  api_gateway_host: ${d.api_gateway_host}      # 0.0.0.0 to listen on every interface
  api_gateway_port: ${d.api_gateway_port}
  function_storage_path: ${d.function_storage_path}   # code of each function version (rebuilt from the registry if lost)
  registry_path: ${d.registry_path}    # the SQLite registry: durable, never under /tmp
  secrets_key_path: ""             # key that seals secrets (made on first use, 0600); empty: secrets.key next to the registry
  container_runtime: docker
  base_image: ${images.python ?? d.base_image}      # container image for Python functions
  container_images:${local}
    python: ${images.python ?? d.base_image}
    node: ${images.node ?? d.container_images.node}
  process_isolation_level: ${d.process_isolation_level}     # strict (namespaces + cgroups + uid 65534) | standard (cgroups) | none
  logging_level: INFO             # DEBUG | INFO | WARNING | ERROR
  max_code_size: ${d.max_code_size}           # bytes of function source accepted (413 above)
  max_request_body: ${d.max_request_body}        # bytes of invoke request body accepted (413 above)
  interpreters:                   # process mode; empty = Debian's /usr/bin/python3 and /usr/bin/node
    python: ""
    node: ""
  disable_container: false        # true: container-mode deploys fail with 422, process mode works
  metrics_auth: false             # true: GET /metrics needs a key with the metrics scope (prometheus below)
  shutdown_timeout: ${d.shutdown_timeout}            # s in-flight invocations may take to finish on SIGTERM, then killed
  versions_retained: ${d.versions_retained}           # versions per function kept for rollback and pinned calls (POST /invoke/name@N)
  ui: true                        # the web console at /ui (sign in with an API key; false: not served)

# Bearer keys. Give "key" (plain) or "key_sha256" (hex SHA-256 of the key, so the file holds no secret).
# Scopes: invoke (POST /invoke), manage (functions, stats, instances), admin (stop instances),
# metrics (GET /metrics when metrics_auth is true). A key has only the scopes it lists.
# These keys were generated for this file and are printed once by --create-config.
api_keys:
  - name: app
    key: ${keys.invokeKey}
    scopes: [invoke]
  - name: deployer
    key: ${keys.manageKey}
    scopes: [invoke, manage]
  - name: ops
    key_sha256: ${sha256Hex(keys.adminKey)}
    scopes: [invoke, manage, admin, metrics]
    rate_limit: { rps: 0, burst: 1 }    # rps 0 = unlimited (trusted internal key)
  - name: prometheus                    # scrape-only: Prometheus' authorization.credentials_file holds the key
    key_sha256: ${sha256Hex(keys.metricsKey)}
    scopes: [metrics]

# Generic instances kept started per mode and runtime: a cold start takes one and only pays for
# loading the function (milliseconds). 0 turns it off. Functions with their own dependencies,
# or container functions with network: bridge, always get a normal cold start.
prewarm:
  process: { python: 2, node: 2 }
  container: { python: 1, node: 1 }

# Asynchronous invocations (POST /async/<name>): defaults of every function's config.async.
async:
  concurrency: 4                        # jobs of one function running at once
  max_queue: 100000                     # queued jobs of one function; more is 429
  max_attempts: 3                       # runs at most; a crash, OOM, overload or timeout is retried
  initial_backoff: 1s                   # doubles per retry, with jitter
  max_backoff: 5m
  retry_on_error: false                 # retry a function error (500) too
  retention: 7d                         # finished jobs (and idempotency keys) kept
  max_running: 32                       # jobs of all functions at once: the pools' share for async work
  callback_allowed_hosts: []            # X-Callback-Url may not reach loopback/private/link-local unless listed (hosts or CIDRs)
  callback_max_attempts: 10
  callback_initial_backoff: 1s
  callback_max_backoff: 5m
  callback_timeout: 10s

rate_limit:
  default: { rps: 100, burst: 200 }     # token bucket per key
  trusted_proxies: []                   # peers whose X-Forwarded-For is believed, e.g. [127.0.0.1]
  auth_failures_per_minute: 20          # per client IP, then 429

# Functions loaded (upserted) at every boot. Give code: inline or path: (file or directory,
# relative to this file). Every key but runtime/handler/code/path is optional.
functions:
  example-function:
    runtime: python3.11
    execution_mode: process
    handler: handle
    timeout: 30
    memory: 256Mi
    cpu_limit: 100m
    dependencies: []
    environment: {}
    min_instances: 0
    max_instances: 10
    code: |
      def handle(request):
          data = request.get_json() or {}
          return {"message": f"Hello, {data.get('name', 'World')}!"}
`;
  return { text, keys };
}
