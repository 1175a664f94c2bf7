// The one description of a function's config: a JSON schema compiled once, used by the API
// (route bodies, through Fastify), faas_config.yaml (declared functions) and the registry
// (rows read back). Each schema node says what it expects in `expected`, so a bad field is
// explained in the same words wherever it came from. What a schema cannot say (min <= max
// across two fields) is the one small check below it.
import { Ajv } from 'ajv';
import { Cron } from 'croner';
import { badRequest } from '../errors.js';
import type { ExecutionMode } from './runtime.js';

/** A function's config as the schema below describes it (defaults filled). */
export interface FunctionConfig {
  execution_mode: ExecutionMode;
  /** Seconds. */
  timeout: number;
  memory: string;
  cpu_limit: string;
  dependencies: string[];
  environment: Record<string, string>;
  min_instances: number;
  max_instances: number;
  /** Container mode: `none` (default) or `bridge`. */
  network: 'none' | 'bridge';
  /** Most in-flight invocations of this function; 0 = bounded only by max_instances. */
  max_concurrency: number;
  /** Calls in flight per instance for async handlers (Node `async`, Python `async def`); unset = 1. */
  concurrency?: number;
  /** Asynchronous invocations of this function; unset keys take the `async:` defaults of faas_config.yaml. */
  async?: AsyncSettings;
  /** Cron schedules: each tick queues an async job of this function. */
  schedules?: ScheduleConfig[];
  /** Secrets (POST /secrets) this function may read, as files in /var/faasd/secrets/<name>. */
  secrets?: string[];
}

/** One cron schedule of a function. */
export interface ScheduleConfig {
  /** Five fields (minute hour day-of-month month day-of-week), or six with seconds first. */
  cron: string;
  /** IANA time zone the expression is read in; default UTC. */
  timezone?: string;
  /** The job's body: a string is sent as is, anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Queue a tick even while the previous job of this schedule is queued or running. */
  overlap?: boolean;
  /** At start, run once if ticks were missed while faasd was down. */
  catch_up?: boolean;
}

export interface AsyncSettings {
  /** Jobs of this function running at once. */
  concurrency?: number;
  /** Queued jobs at most; an enqueue beyond is 429. */
  max_queue?: number;
  /** Runs at most (the first and its retries). */
  max_attempts?: number;
  /** Wait before the first retry (a duration: 1.5, "500ms", "1s", "5m"); doubles up to max_backoff. */
  initial_backoff?: number | string;
  max_backoff?: number | string;
  /** Retry a function error (500) too, not only a crash, an overload or a timeout. */
  retry_on_error?: boolean;
}

const DURATION_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(ms|s|m|h|d)$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in ms: a number of seconds, or "500ms", "1s", "5m", "2h", "7d". */
export function parseDuration(value: number | string): number | null {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : null;
  const m = DURATION_RE.exec(value.trim());
  return m ? Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!) : null;
}

const MEMORY_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|K|M|G|k)?$/;
const CPU_RE = /^(?:([0-9]+)m|([0-9]+(?:\.[0-9]+)?))$/;
const MEMORY_UNITS: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };

/** "128Mi" -> bytes. Plain numbers are bytes; K/M/G are powers of 1000, Ki/Mi/Gi of 1024. */
export function parseMemory(value: string): number | null {
  const m = MEMORY_RE.exec(value.trim());
  return m ? Math.floor(Number(m[1]) * (MEMORY_UNITS[m[2] ?? ''] ?? 1)) : null;
}

/** "100m" -> 0.1, "0.5" -> 0.5, "2" -> 2. */
export function parseCpu(value: string): number | null {
  const m = CPU_RE.exec(value.trim());
  if (!m) return null;
  return m[1] !== undefined ? Number(m[1]) / 1000 : Number(m[2]);
}

export const FUNCTION_CONFIG_SCHEMA_ID = 'faasd:function-config';

const ajv = new Ajv({ allErrors: false, strict: true, allowUnionTypes: true, verbose: true, keywords: ['expected'] });
const within = (v: number | null, min: number, max: number) => v !== null && v >= min && v <= max;
ajv.addFormat('memory-size', { type: 'string', validate: (s) => within(parseMemory(s), 16 * 1024 ** 2, 64 * 1024 ** 3) });
ajv.addFormat('cpu-cores', { type: 'string', validate: (s) => within(parseCpu(s), 0.01, 64) });
ajv.addFormat('duration', { type: 'string', validate: (s) => parseDuration(s) !== null });

/** Five or six fields: a seventh (years) is not accepted. */
export const CRON_MODE = '5-or-6-parts';
// Registry rows are validated on every read, and proving that a pattern such as "0 0 30 2 *"
// never runs takes croner ~5 ms (it walks the calendar), so each answer is remembered.
const cronChecks = new Map<string, boolean>();
function remembered(key: string, check: () => boolean): boolean {
  let ok = cronChecks.get(key);
  if (ok === undefined) {
    try {
      ok = check();
    } catch {
      ok = false;
    }
    if (cronChecks.size >= 1000) cronChecks.clear();
    cronChecks.set(key, ok);
  }
  return ok;
}
// Parsed by croner itself, the library that runs the schedules: one grammar, one answer.
ajv.addFormat('cron', { type: 'string', validate: (s) => remembered(`c:${s}`, () => new Cron(s, { mode: CRON_MODE, timezone: 'UTC' }).nextRun() !== null) });
ajv.addFormat('timezone', { type: 'string', validate: (s) => remembered(`z:${s}`, () => new Cron('* * * * *', { timezone: s }).nextRun() !== null) });

const DURATION = { type: ['string', 'number'], format: 'duration', minimum: 0, expected: 'a duration: seconds as a number, or "500ms", "1s", "5m", "2h", "7d"' } as const;

/** The async settings of one function, or the system-wide defaults (faas_config.yaml `async:`). */
export const asyncSettingsSchema = {
  type: 'object',
  additionalProperties: false,
  expected: 'an object of async settings',
  properties: {
    concurrency: { type: 'integer', minimum: 1, maximum: 1000, expected: 'an integer from 1 to 1000' },
    max_queue: { type: 'integer', minimum: 1, maximum: 10_000_000, expected: 'an integer from 1 to 10000000' },
    max_attempts: { type: 'integer', minimum: 1, maximum: 100, expected: 'an integer from 1 to 100' },
    initial_backoff: DURATION,
    max_backoff: DURATION,
    retry_on_error: { type: 'boolean', expected: 'true or false' },
  },
} as const;

/** One cron schedule (config.schedules[i]). */
export const scheduleSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['cron'],
  expected: 'a schedule: {cron, timezone?, body?, headers?, overlap?, catch_up?}',
  properties: {
    cron: {
      type: 'string',
      maxLength: 200,
      format: 'cron',
      expected: 'a cron expression that has a next run: five fields (minute hour day-of-month month day-of-week) or six with seconds first, such as "*/5 * * * *"',
    },
    timezone: { type: 'string', minLength: 1, maxLength: 64, format: 'timezone', expected: 'an IANA time zone such as "UTC" or "Europe/Paris"' },
    body: { expected: 'any JSON value (a string is sent as is)' },
    headers: {
      type: 'object',
      maxProperties: 50,
      expected: 'an object of at most 50 header: "value" pairs',
      propertyNames: { pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,128}$", expected: 'an HTTP header name' },
      additionalProperties: { type: 'string', maxLength: 8192, pattern: '^[^\\r\\n\\x00]*$', expected: 'a one-line string of at most 8192 characters' },
    },
    overlap: { type: 'boolean', expected: 'true or false' },
    catch_up: { type: 'boolean', expected: 'true or false' },
  },
} as const;

/** Every key optional: a create is merged over the defaults, an update over the current config. */
export const functionConfigSchema = {
  $id: FUNCTION_CONFIG_SCHEMA_ID,
  type: 'object',
  expected: 'an object of function settings',
  additionalProperties: false,
  properties: {
    // Any registered driver's name; whether this daemon has it is the deploy path's answer (422).
    execution_mode: { type: 'string', pattern: '^[a-z][a-z0-9-]{0,31}$', expected: 'the name of an execution mode such as "process" or "container"' },
    timeout: { type: 'number', exclusiveMinimum: 0, maximum: 3600, expected: 'a number of seconds above 0 and at most 3600' },
    memory: { type: 'string', format: 'memory-size', expected: 'a size such as "128Mi" or "1Gi", from 16Mi to 64Gi' },
    cpu_limit: { type: ['string', 'number'], format: 'cpu-cores', minimum: 0.01, maximum: 64, expected: 'CPU cores such as "100m", "0.5" or "2", from 0.01 to 64' },
    dependencies: {
      type: 'array',
      maxItems: 100,
      expected: 'a list of at most 100 package specs',
      // A spec starting with "-" would be read as an installer option (--index-url, --pre ...).
      items: { type: 'string', maxLength: 512, pattern: '^(?!-)[^\\r\\n\\x00]+$', expected: 'a package spec: not empty, not starting with "-", one line' },
    },
    environment: {
      type: 'object',
      maxProperties: 100,
      expected: 'an object of at most 100 NAME: "value" pairs',
      propertyNames: { pattern: '^(?!FAAS_)[A-Za-z_][A-Za-z0-9_]*$', expected: 'a variable name matching [A-Za-z_][A-Za-z0-9_]* and not starting with FAAS_' },
      additionalProperties: { type: ['string', 'number', 'boolean'], maxLength: 8192, pattern: '^[^\\x00]*$', expected: 'a string of at most 8192 characters without NUL' },
    },
    min_instances: { type: 'integer', minimum: 0, maximum: 1000, expected: 'an integer from 0 to 1000, at most max_instances' },
    max_instances: { type: 'integer', minimum: 1, maximum: 1000, expected: 'an integer from 1 to 1000' },
    network: { enum: ['none', 'bridge'], expected: '"none" or "bridge" (container mode)' },
    max_concurrency: { type: 'integer', minimum: 0, maximum: 100_000, expected: 'an integer from 0 (bounded only by max_instances) to 100000' },
    concurrency: { type: 'integer', minimum: 1, maximum: 1000, expected: 'an integer from 1 (one call at a time per instance) to 1000: calls in flight per instance, for async handlers' },
    async: asyncSettingsSchema,
    schedules: { type: 'array', maxItems: 20, items: scheduleSchema, expected: 'a list of at most 20 schedules' },
    secrets: {
      type: 'array',
      maxItems: 64,
      uniqueItems: true,
      expected: 'a list of at most 64 different secret names',
      items: { type: 'string', pattern: '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$', expected: 'a secret name: 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit' },
    },
  },
} as const;

const validateConfig = ajv.compile(functionConfigSchema);

export const FUNCTION_CONFIG_INPUT_SCHEMA_ID = 'faasd:function-config-input';

/** A property of the config that may also be null: "back to the default" (its `expected` unchanged: the same words as faas_config.yaml's). */
function nullable(node: Record<string, unknown>): Record<string, unknown> {
  if (Array.isArray(node.enum)) return { ...node, enum: [...node.enum, null] };
  return { ...node, type: [...[node.type as string | string[]].flat(), 'null'] };
}

/**
 * What the API takes (create and update): the config above, where any key may also be null,
 * which puts it back to its default (unset for keys without one, such as `concurrency`). An
 * update merges over the current config, so without it a key could only be reset by sending
 * the default's value, and an optional key never.
 */
export const functionConfigInputSchema = {
  ...functionConfigSchema,
  $id: FUNCTION_CONFIG_INPUT_SCHEMA_ID,
  properties: Object.fromEntries(Object.entries(functionConfigSchema.properties).map(([k, node]) => [k, nullable(node)])),
};
// Registered by id for the routes that $ref it (compiled when the first of them is).
ajv.addSchema(functionConfigInputSchema);

/** Fastify's validatorCompiler for routes whose schemas `$ref` FUNCTION_CONFIG_SCHEMA_ID. */
export const compileWithFunctionSchema = ({ schema }: { schema: object }) => ajv.compile(schema);

/** What the failing schema node expects, after the field name; null if the node does not say. */
export function explain(err: { keyword: string; parentSchema?: unknown; data?: unknown }): string | null {
  const node = err.parentSchema as { expected?: unknown; properties?: object } | undefined;
  if (typeof node?.expected !== 'string') return null;
  if (err.keyword === 'additionalProperties') return `not a known setting, expected one of ${Object.keys(node.properties ?? {}).join(', ')}`;
  if (err.keyword === 'required') return `missing, expected ${node.expected}`;
  const got = JSON.stringify(err.data) ?? String(err.data);
  return `got ${got.length > 80 ? `${got.slice(0, 77)}...` : got}, expected ${node.expected}`;
}

export interface ConfigProblem {
  /** Keys below the config: ["environment", "1BAD"], ["dependencies", "0"]. */
  path: string[];
  /** `got "lots", expected a size such as ...` */
  detail: string;
}

/** The first problem with a (partial) config's shape, or null when it matches the schema. */
export function configShapeProblem(config: unknown): ConfigProblem | null {
  if (validateConfig(config)) return null;
  const err = validateConfig.errors![0]!;
  const path = err.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
  if (err.keyword === 'additionalProperties') path.push(String(err.params.additionalProperty));
  // A schedule without its cron names schedules[i].cron, as the API's error does.
  if (err.keyword === 'required') path.push(String(err.params.missingProperty));
  if (err.propertyName !== undefined) path.push(err.propertyName);
  return { path, detail: explain(err) ?? err.message ?? 'is not valid' };
}

/** The check across fields, on a whole (merged) config. */
export function instanceBoundsProblem(config: Pick<FunctionConfig, 'min_instances' | 'max_instances'>): ConfigProblem | null {
  if (!(config.min_instances > config.max_instances)) return null;
  return { path: ['min_instances'], detail: `got ${config.min_instances}, expected at most max_instances (${config.max_instances})` };
}

/** `config` + ["dependencies", "0"] -> `config.dependencies[0]`. */
export function fieldName(prefix: string, path: readonly string[]): string {
  return path.reduce((out, s) => (/^\d+$/.test(s) ? `${out}[${s}]` : out ? `${out}.${s}` : s), prefix);
}

/** A 400 naming the field under `prefix` ("config", "functions.<name>"). */
export function problemError(prefix: string, p: ConfigProblem) {
  const field = fieldName(prefix, p.path);
  return badRequest(field, `${field}: ${p.detail}`);
}
