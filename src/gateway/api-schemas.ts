// The shapes of the API's answers, as JSON schemas: Fastify serializes replies with them
// (fast-json-stringify: faster than JSON.stringify, and a field not named here is never sent),
// and the OpenAPI document (openapi.ts) is generated from them. Shared shapes are registered
// once (addSchema) and referenced as { $ref: 'Name#' }; they appear as components.
import type { FastifyInstance } from 'fastify';

type Schema = Record<string, unknown>;

const nullable = (type: string) => ({ type: [type, 'null'] });
const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const num = { type: 'number' } as const;
const bool = { type: 'boolean' } as const;
const iso = { type: 'string', format: 'date-time' } as const;
const isoOrNull = { type: ['string', 'null'], format: 'date-time' } as const;
/** An object whose keys are data (modes, states, header names): values of one type. */
const mapOf = (value: Schema) => ({ type: 'object', additionalProperties: value });
/** An object of open shape (a function's config, a driver's detail): passed through as is. */
const open = (description: string) => ({ type: 'object', additionalProperties: true, description });

function obj(properties: Record<string, Schema>, description?: string, required: string[] = []): Schema {
  return { type: 'object', ...(description ? { description } : {}), properties, ...(required.length ? { required } : {}), additionalProperties: false };
}

const ref = (id: string) => ({ $ref: `${id}#` });

const percentiles = obj({ p50: nullable('number'), p95: nullable('number'), p99: nullable('number') }, 'milliseconds; null until there is a sample');

export const SHARED_SCHEMAS: Schema[] = [
  {
    $id: 'Error',
    ...obj(
      {
        error: { ...str, description: 'the error code, e.g. FunctionNotFound, BadRequest, DeployFailed' },
        message: { ...str, description: 'what went wrong, in words' },
        field: { ...str, description: 'the request field at fault (400s)' },
      },
      'Every error: {error, message} and details such as field, limit, entry, line',
      ['error', 'message'],
    ),
    additionalProperties: true,
  },
  { $id: 'InstanceCounts', ...obj({ total: int, starting: int, idle: int, busy: int, stopping: int }, 'instances of a function by state') },
  {
    $id: 'FunctionSummary',
    ...obj(
      {
        name: str,
        runtime: { enum: ['python', 'node'] },
        handler: { ...nullable('string'), description: '"handle", or file.function naming the entry file' },
        version: int,
        execution_mode: str,
        source: { enum: ['api', 'yaml'] },
        created_at: iso,
        updated_at: iso,
        instances: ref('InstanceCounts'),
        stats: obj(
          {
            invocations: obj({ total: int, errors: int, cold_starts: int, prewarmed_starts: int }),
            latency_ms: percentiles,
          },
          'with ?stats=true: its traffic since the daemon started',
        ),
      },
      'a function without its code',
    ),
  },
  {
    $id: 'FunctionDetails',
    ...obj(
      {
        name: str,
        runtime: { enum: ['python', 'node'] },
        handler: nullable('string'),
        version: int,
        execution_mode: str,
        source: { enum: ['api', 'yaml'] },
        created_at: iso,
        updated_at: iso,
        code: { ...str, description: "the entry file's text" },
        files: { type: 'array', items: obj({ path: str, size: int }) },
        digest: { ...str, description: 'sha256 of the files' },
        config: open('the function config (the FunctionConfig schema), defaults filled in'),
        instances: ref('InstanceCounts'),
      },
      'a function in full',
    ),
  },
  {
    $id: 'FunctionVersion',
    ...obj({
      version: int,
      created_at: iso,
      created_by: { ...str, description: 'the API key name, or faas_config.yaml' },
      digest: str,
      change: { ...str, description: 'what this version changed, e.g. "changed main.py; config: timeout" or "rollback to 3"' },
      source: { enum: ['api', 'yaml'] },
      retained: { ...bool, description: 'its content is kept: it can be rolled back to or called pinned' },
      live: bool,
    }),
  },
  {
    $id: 'InstanceInfo',
    ...obj({
      id: str,
      function: { ...str, description: 'the function, or name@version for a pinned version' },
      version: int,
      mode: str,
      state: { enum: ['starting', 'idle', 'busy', 'stopping'] },
      pid: nullable('integer'),
      container_id: nullable('string'),
      age_seconds: num,
      idle_seconds: num,
      invocations: int,
    }),
  },
  {
    $id: 'AsyncQueue',
    ...obj({
      queued: int,
      running: int,
      oldest_job_age_seconds: nullable('number'),
      functions: { type: 'array', items: obj({ function: str, queued: int, running: int, oldest_job_age_seconds: nullable('number') }) },
    }),
  },
  {
    $id: 'Job',
    ...obj(
      {
        id: str,
        function: str,
        version: nullable('integer'),
        status: { enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'] },
        trigger: str,
        attempts: int,
        max_attempts: int,
        created_at: isoOrNull,
        started_at: isoOrNull,
        finished_at: isoOrNull,
        next_run_at: isoOrNull,
        result: {
          type: ['object', 'null'],
          properties: {
            status_code: int,
            headers: mapOf(str),
            body: str,
            body_encoding: { enum: ['utf8', 'base64'] },
            truncated: bool,
          },
          additionalProperties: false,
        },
        error: { type: ['object', 'null'], additionalProperties: true, description: 'the last error: {error, message, status, ...}' },
        callback: {
          type: ['object', 'null'],
          properties: { url: str, status: { enum: ['pending', 'delivered', 'failed', 'skipped'] }, attempts: int, next_attempt_at: isoOrNull, last_error: nullable('string'), finished_at: isoOrNull },
          additionalProperties: false,
        },
        status_url: str,
      },
      'an asynchronous invocation',
    ),
  },
  {
    $id: 'Schedule',
    ...obj({
      function: str,
      index: int,
      cron: str,
      timezone: str,
      overlap: bool,
      catch_up: bool,
      next_run: isoOrNull,
      last_run: isoOrNull,
      last_job_id: nullable('string'),
      last_status: nullable('string'),
      skipped: int,
    }),
  },
  {
    $id: 'Secret',
    ...obj({ name: str, created_at: iso, updated_at: iso, used_by: { type: 'array', items: str, description: 'functions whose config.secrets names it' } }, 'a secret (never its value)'),
  },
  { $id: 'LogLine', ...obj({ time: iso, request_id: str, line: str }) },
];

export function registerSharedSchemas(app: FastifyInstance): void {
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
}

/** `:name` of a function or a secret in a route's URL. */
export const NAME_PARAMS = { type: 'object', required: ['name'], properties: { name: { type: 'string', maxLength: 63 } } } as const;

/** Answers every route may give besides its own: the error shape for 4xx and 5xx. */
const errors = { '4xx': ref('Error'), '5xx': ref('Error') };

export const R = {
  errors,
  health: {
    200: obj({
      status: { enum: ['ok', 'degraded', 'unhealthy'] },
      uptime_seconds: int,
      registry: obj({ ok: bool }),
      drivers: mapOf(open("a mode's driver: ok, detail, and its container images")),
      default_mode: str,
      using_demo_keys: bool,
      warnings: { type: 'array', items: str },
    }),
    503: open('the same body as 200, status unhealthy'),
    '4xx': ref('Error'),
  },
  functionList: { 200: obj({ functions: { type: 'array', items: ref('FunctionSummary') }, count: int }), ...errors },
  functionDetails: { 200: ref('FunctionDetails'), ...errors },
  functionCreated: { 201: ref('FunctionDetails'), ...errors },
  noContent: { 204: { type: 'null', description: 'done' }, ...errors },
  archive: { 200: { description: 'a .tar.gz of the function files', content: { 'application/gzip': { schema: { type: 'string', format: 'binary' } } } }, ...errors },
  versionList: { 200: obj({ function: str, live: int, count: int, versions: { type: 'array', items: ref('FunctionVersion') } }), ...errors },
  versionDetails: {
    200: obj({
      name: str,
      version: int,
      runtime: { enum: ['python', 'node'] },
      handler: nullable('string'),
      execution_mode: str,
      code: str,
      files: { type: 'array', items: obj({ path: str, size: int }) },
      digest: str,
      config: open('the version config'),
      created_at: iso,
      created_by: nullable('string'),
      change: nullable('string'),
    }),
    ...errors,
  },
  invoke: { 200: { description: "the function's answer: its status, headers and body, as it returned them", content: { '*/*': { schema: {} } } }, ...errors },
  enqueued: { 202: obj({ id: str, status: str, status_url: str }), ...errors },
  job: { 200: ref('Job'), ...errors },
  jobList: { 200: obj({ invocations: { type: 'array', items: ref('Job') }, count: int, next_cursor: nullable('string') }), ...errors },
  schedules: { 200: obj({ schedules: { type: 'array', items: ref('Schedule') }, count: int }), ...errors },
  instances: { 200: obj({ instances: { type: 'array', items: ref('InstanceInfo') }, count: int }), ...errors },
  metrics: { 200: { description: 'Prometheus text exposition format', content: { 'text/plain': { schema: str } } }, ...errors },
  stats: {
    200: obj({
      uptime_seconds: int,
      functions: obj({ total: int, by_mode: mapOf(int) }),
      instances: obj({ total: int, by_state: mapOf(int) }),
      invocations: obj({ total: int, errors: int, cold_starts: int, prewarmed_starts: int }),
      rate_limited: int,
      async: ref('AsyncQueue'),
      latency_ms: percentiles,
    }),
    ...errors,
  },
  functionStats: {
    200: obj({
      name: str,
      version: int,
      mode: str,
      invocations: obj({ total: int, errors: int, cold_starts: int, prewarmed_starts: int }),
      latency_ms: percentiles,
      cold_start_ms: obj({ p50: nullable('number'), p95: nullable('number') }),
      queue_depth: int,
      async: ref('AsyncQueue'),
      instances: { type: 'array', items: obj({ id: str, state: str, invocations: int, cpu_seconds: nullable('number'), memory_bytes: nullable('integer') }) },
    }),
    ...errors,
  },
  logs: {
    200: {
      description: 'the lines as JSON; with follow=true, a text/event-stream of `line` events (data: a LogLine) that stays open',
      content: {
        'application/json': { schema: obj({ function: str, count: int, lines: { type: 'array', items: ref('LogLine') } }) },
        'text/event-stream': { schema: str },
      },
    },
    ...errors,
  },
  secretList: { 200: obj({ secrets: { type: 'array', items: ref('Secret') }, count: int }), ...errors },
  secret: { 200: ref('Secret'), ...errors },
  secretCreated: { 201: ref('Secret'), ...errors },
  whoami: { 200: obj({ name: str, scopes: { type: 'array', items: str } }), ...errors },
} as const;
