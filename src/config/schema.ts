// The shape of faas_config.yaml, its defaults, and the JSON schema it is validated against.
import os from 'node:os';
import path from 'node:path';
import type { ExecutionMode } from '../model/runtime.js';

/** The shape of a driver name; which ones exist is the driver list's to say (LoadOptions.modes). */
export const MODE_PATTERN = '^[a-z][a-z0-9-]{0,31}$';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
/**
 * What a key may do. Independent: no scope implies another, a key lists each it needs.
 * `metrics` is GET /metrics when system.metrics_auth is on, so a scraper's key can do nothing else.
 */
export type Scope = 'invoke' | 'manage' | 'admin' | 'metrics';
export const SCOPES: readonly Scope[] = ['invoke', 'manage', 'admin', 'metrics'];

export interface RateLimitSpec {
  /** Tokens per second; 0 = unlimited. */
  rps: number;
  burst: number;
}

export interface ApiKeyConfig {
  name: string;
  /** Exactly one of key / key_sha256. */
  key?: string;
  key_sha256?: string;
  scopes: Scope[];
  rate_limit?: RateLimitSpec;
}

export interface SystemConfig {
  /** A registered driver's name (execution/drivers/index.ts). */
  default_mode: ExecutionMode;
  max_concurrent_functions: number;
  cold_start_timeout: number;
  warm_instance_ttl: number;
  api_gateway_host: string;
  api_gateway_port: number;
  function_storage_path: string;
  registry_path: string;
  /** The key secrets are sealed with (made on first use, 0600); empty in the file = secrets.key next to the registry. */
  secrets_key_path: string;
  container_runtime: 'docker';
  base_image: string;
  container_images: { python: string; node: string };
  process_isolation_level: 'strict' | 'standard' | 'none';
  logging_level: LogLevel;
  /** Largest accepted function source, bytes. */
  max_code_size: number;
  /** Largest accepted invoke request body, bytes. */
  max_request_body: number;
  /** Interpreters for process mode; empty = resolve a real system binary. */
  interpreters: { python: string; node: string };
  disable_container: boolean;
  /** Require a key with the `metrics` scope for GET /metrics. */
  metrics_auth: boolean;
  /** Seconds in-flight invocations may take to finish at shutdown before they are killed. */
  shutdown_timeout: number;
  /** Versions per function whose content is kept for rollback and pinned calls (older ones are pruned). */
  versions_retained: number;
  /** Serve the web console at /ui (public static files; its data comes through the API). */
  ui: boolean;
}

/** Generic instances kept per runtime; `max`: what each may grow to while a burst drains them. */
export type PrewarmCounts = { python: number; node: number; max: number };

export interface AsyncDefaults {
  concurrency: number;
  max_queue: number;
  max_attempts: number;
  /** ms */
  initial_backoff: number;
  /** ms */
  max_backoff: number;
  retry_on_error: boolean;
  /** ms a finished job is kept before it is pruned. */
  retention: number;
  /** Jobs of all functions running at once: the share of the pools async work may take. */
  max_running: number;
  /**
   * Hosts (exact names), IP addresses and CIDRs that X-Callback-Url may target even though they
   * are loopback, link-local or private (closed by default: a callback is a request the caller
   * makes faasd send). Lower-case, IPv6 without brackets.
   */
  callback_allowed_hosts: readonly string[];
  /** Deliveries of one job's callback before it is given up (failed). */
  callback_max_attempts: number;
  /** ms: the wait after the first failed delivery, doubling after each. */
  callback_initial_backoff: number;
  /** ms: the longest wait between deliveries. */
  callback_max_backoff: number;
  /** ms one delivery may take, connect to the end of the answer. */
  callback_timeout: number;
}

export interface DeclaredFunction {
  runtime?: string;
  handler?: string;
  code?: string;
  path?: string;
  [configKey: string]: unknown;
}

export interface FaasConfig {
  system: SystemConfig;
  api_keys: ApiKeyConfig[];
  /** True when no api_keys were configured and the quick-start keys are in force. */
  using_demo_keys: boolean;
  rate_limit: { default: RateLimitSpec; trusted_proxies: string[]; auth_failures_per_minute: number };
  /** Generic instances kept started per mode and runtime (0 = off). */
  prewarm: { process: PrewarmCounts; container: PrewarmCounts };
  /** Asynchronous invocations: the defaults of every function's `async` settings, and the queue's own. */
  async: AsyncDefaults;
  functions: Record<string, DeclaredFunction>;
  /** Absolute path of the file loaded, or null on built-in defaults. */
  source_file: string | null;
}

function defaultRegistryPath(): string {
  // Durable, never under /tmp: root gets the FHS location, others their XDG data dir.
  if (process.getuid?.() === 0) return '/var/lib/faasd/registry.db';
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'faasd', 'registry.db');
}

export function defaultSystem(): SystemConfig {
  return {
    default_mode: 'process',
    max_concurrent_functions: 1000,
    cold_start_timeout: 30,
    warm_instance_ttl: 600,
    api_gateway_host: '127.0.0.1',
    api_gateway_port: 8000,
    function_storage_path: '/tmp/faas_functions',
    registry_path: defaultRegistryPath(),
    secrets_key_path: '',
    container_runtime: 'docker',
    base_image: 'python:3.11-slim',
    container_images: { python: '', node: 'node:20-slim' },
    process_isolation_level: 'strict',
    logging_level: 'info',
    max_code_size: 1024 * 1024,
    max_request_body: 6 * 1024 * 1024,
    interpreters: { python: '', node: '' },
    disable_container: false,
    metrics_auth: false,
    shutdown_timeout: 30,
    versions_retained: 10,
    ui: true,
  };
}

/** The quick-start keys, in force only while no api_keys are configured. */
export const DEMO_KEYS: readonly ApiKeyConfig[] = Object.freeze([
  { name: 'demo', key: 'demo-key', scopes: ['invoke', 'manage'] as Scope[] },
  { name: 'admin', key: 'admin-key', scopes: ['invoke', 'manage', 'admin', 'metrics'] as Scope[] },
]);

const rateLimitSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rps'],
  properties: {
    rps: { type: 'number', minimum: 0 },
    burst: { type: 'integer', minimum: 1 },
  },
} as const;

const LOG_LEVELS = ['debug', 'info', 'warn', 'warning', 'error', 'DEBUG', 'INFO', 'WARN', 'WARNING', 'ERROR'];

/** JSON schema of the file. A function entry's other keys are its config: model/function-schema.ts. */
export const configFileSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    system: {
      type: 'object',
      additionalProperties: false,
      properties: {
        default_mode: { type: 'string', pattern: MODE_PATTERN },
        max_concurrent_functions: { type: 'integer', minimum: 1, maximum: 100000 },
        cold_start_timeout: { type: 'number', exclusiveMinimum: 0, maximum: 600 },
        warm_instance_ttl: { type: 'number', minimum: 1 },
        api_gateway_host: { type: 'string', minLength: 1 },
        api_gateway_port: { type: 'integer', minimum: 0, maximum: 65535 },
        function_storage_path: { type: 'string', minLength: 1 },
        registry_path: { type: 'string', minLength: 1 },
        secrets_key_path: { type: 'string' },
        container_runtime: { enum: ['docker'] },
        base_image: { type: 'string', minLength: 1 },
        container_images: {
          type: 'object',
          additionalProperties: false,
          properties: { python: { type: 'string' }, node: { type: 'string' } },
        },
        process_isolation_level: { enum: ['strict', 'standard', 'none'] },
        logging_level: { enum: LOG_LEVELS },
        max_code_size: { type: 'integer', minimum: 1024, maximum: 64 * 1024 * 1024 },
        max_request_body: { type: 'integer', minimum: 1024, maximum: 1024 * 1024 * 1024 },
        interpreters: {
          type: 'object',
          additionalProperties: false,
          properties: { python: { type: 'string' }, node: { type: 'string' } },
        },
        disable_container: { type: 'boolean' },
        metrics_auth: { type: 'boolean' },
        shutdown_timeout: { type: 'number', minimum: 0, maximum: 3600 },
        // 2 at least: the version before the live one is what a rollback goes back to.
        versions_retained: { type: 'integer', minimum: 2, maximum: 1000 },
        ui: { type: 'boolean' },
      },
    },
    api_keys: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'scopes'],
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' },
          key: { type: 'string', minLength: 8 },
          key_sha256: { type: 'string', pattern: '^[0-9a-fA-F]{64}$' },
          scopes: { type: 'array', minItems: 1, uniqueItems: true, items: { enum: SCOPES } },
          rate_limit: rateLimitSchema,
        },
        oneOf: [{ required: ['key'] }, { required: ['key_sha256'] }],
      },
    },
    rate_limit: {
      type: 'object',
      additionalProperties: false,
      properties: {
        default: rateLimitSchema,
        trusted_proxies: { type: 'array', items: { type: 'string', minLength: 1 } },
        auth_failures_per_minute: { type: 'integer', minimum: 1 },
      },
    },
    async: {
      type: 'object',
      additionalProperties: false,
      properties: {
        concurrency: { type: 'integer', minimum: 1, maximum: 1000 },
        max_queue: { type: 'integer', minimum: 1, maximum: 10_000_000 },
        max_attempts: { type: 'integer', minimum: 1, maximum: 100 },
        initial_backoff: { type: ['string', 'number'] },
        max_backoff: { type: ['string', 'number'] },
        retry_on_error: { type: 'boolean' },
        retention: { type: ['string', 'number'] },
        max_running: { type: 'integer', minimum: 1, maximum: 100_000 },
        callback_allowed_hosts: { type: 'array', items: { type: 'string', minLength: 1, maxLength: 260 } },
        callback_max_attempts: { type: 'integer', minimum: 1, maximum: 100 },
        callback_initial_backoff: { type: ['string', 'number'] },
        callback_max_backoff: { type: ['string', 'number'] },
        callback_timeout: { type: ['string', 'number'] },
      },
    },
    prewarm: {
      type: 'object',
      additionalProperties: false,
      properties: {
        process: {
          type: 'object',
          additionalProperties: false,
          properties: { python: { type: 'integer', minimum: 0, maximum: 100 }, node: { type: 'integer', minimum: 0, maximum: 100 }, max: { type: 'integer', minimum: 0, maximum: 100 } },
        },
        container: {
          type: 'object',
          additionalProperties: false,
          properties: { python: { type: 'integer', minimum: 0, maximum: 100 }, node: { type: 'integer', minimum: 0, maximum: 100 }, max: { type: 'integer', minimum: 0, maximum: 100 } },
        },
      },
    },
    functions: {
      type: ['object', 'null'],
      propertyNames: { pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$' },
      additionalProperties: {
        type: 'object',
        properties: {
          runtime: { type: 'string' },
          handler: { type: 'string' },
          code: { type: 'string' },
          path: { type: 'string' },
        },
      },
    },
  },
} as const;
