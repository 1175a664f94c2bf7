// The function model: what a function is, its defaults, and the one validator used by both
// the HTTP API and faas_config.yaml (so the two can never disagree on what is valid).
import { badRequest } from '../errors.js';
import type { ExecutionMode, RuntimeName } from '../execution/driver.js';

export const FUNCTION_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const MEMORY_RE = /^([0-9]+(?:\.[0-9]+)?)\s*(Ki|Mi|Gi|K|M|G|k)?$/;
const CPU_RE = /^(?:([0-9]+)m|([0-9]+(?:\.[0-9]+)?))$/;

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
}

export interface FunctionRecord {
  name: string;
  runtime: RuntimeName;
  handler: string | null;
  code: string;
  config: FunctionConfig;
  version: number;
  source: 'api' | 'yaml';
  created_at: string;
  updated_at: string;
}

/** What a caller may send: everything optional but name and code. */
export interface FunctionInput {
  name: string;
  code: string;
  runtime?: string;
  handler?: string | null;
  config?: Partial<FunctionConfig>;
}

const PYTHON_ALIASES = /^(python|python3|python3\.\d{1,2}|py|py3)$/;
const NODE_ALIASES = /^(node|nodejs|node\d{1,2}|nodejs\d{1,2}|javascript|js)$/;

export function normaliseRuntime(value: string | undefined, field = 'runtime'): RuntimeName {
  if (value === undefined) return 'python';
  const v = value.toLowerCase();
  if (PYTHON_ALIASES.test(v)) return 'python';
  if (NODE_ALIASES.test(v)) return 'node';
  throw badRequest(field, `${field} "${value}" is not supported: use python (python3, python3.11, ...) or node (nodejs, node20, ...)`);
}

/** "128Mi" -> bytes. Plain numbers are bytes; K/M/G are powers of 1000, Ki/Mi/Gi of 1024. */
export function parseMemory(value: string): number | null {
  const m = MEMORY_RE.exec(value.trim());
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? '';
  const mult: Record<string, number> = { '': 1, k: 1e3, K: 1e3, M: 1e6, G: 1e9, Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 };
  return Math.floor(n * (mult[unit] ?? 1));
}

/** "100m" -> 0.1, "0.5" -> 0.5, "2" -> 2. */
export function parseCpu(value: string): number | null {
  const m = CPU_RE.exec(value.trim());
  if (!m) return null;
  return m[1] !== undefined ? Number(m[1]) / 1000 : Number(m[2]);
}

export const FUNCTION_LIMITS = Object.freeze({
  minMemoryBytes: 16 * 1024 ** 2,
  maxMemoryBytes: 64 * 1024 ** 3,
  maxTimeoutSeconds: 3600,
  maxInstances: 1000,
  maxDependencies: 100,
  maxEnvVars: 100,
  maxEnvValueLength: 8192,
});

export function defaultConfig(defaultMode: ExecutionMode): FunctionConfig {
  return {
    execution_mode: defaultMode,
    timeout: 30,
    memory: '128Mi',
    cpu_limit: '1',
    dependencies: [],
    environment: {},
    min_instances: 0,
    max_instances: 10,
    network: 'none',
    max_concurrency: 0,
  };
}

const CONFIG_KEYS = new Set<string>(Object.keys(defaultConfig('process')));

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkInt(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw badRequest(field, `${field} must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/**
 * Merge a partial config over a base (defaults on create, the current config on update) and
 * validate the result. `prefix` names fields in messages ("config." for the API,
 * "functions.<name>." for the YAML file).
 */
export function mergeConfig(base: FunctionConfig, patch: unknown, prefix = 'config.'): FunctionConfig {
  if (patch === undefined || patch === null) return { ...base };
  if (!isPlainObject(patch)) throw badRequest(prefix.replace(/\.$/, ''), `${prefix.replace(/\.$/, '')} must be an object`);
  for (const key of Object.keys(patch)) {
    if (!CONFIG_KEYS.has(key)) {
      throw badRequest(prefix + key, `${prefix}${key} is not a known setting (known: ${[...CONFIG_KEYS].join(', ')})`);
    }
  }
  const out: FunctionConfig = { ...base, ...(patch as Partial<FunctionConfig>) };
  const f = (k: string) => prefix + k;

  if (out.execution_mode !== 'process' && out.execution_mode !== 'container') {
    throw badRequest(f('execution_mode'), `${f('execution_mode')} must be "process" or "container", got ${JSON.stringify(out.execution_mode)}`);
  }
  if (typeof out.timeout !== 'number' || !(out.timeout > 0) || out.timeout > FUNCTION_LIMITS.maxTimeoutSeconds) {
    throw badRequest(f('timeout'), `${f('timeout')} must be a number of seconds above 0 and at most ${FUNCTION_LIMITS.maxTimeoutSeconds}, got ${JSON.stringify(out.timeout)}`);
  }
  const mem = typeof out.memory === 'string' ? parseMemory(out.memory) : null;
  if (mem === null || mem < FUNCTION_LIMITS.minMemoryBytes || mem > FUNCTION_LIMITS.maxMemoryBytes) {
    throw badRequest(f('memory'), `${f('memory')} must be a size such as "128Mi" or "1Gi" between 16Mi and 64Gi, got ${JSON.stringify(out.memory)}`);
  }
  const cpu = typeof out.cpu_limit === 'string' ? parseCpu(out.cpu_limit) : typeof out.cpu_limit === 'number' ? (out.cpu_limit as number) : null;
  if (cpu === null || !(cpu >= 0.01) || cpu > 64) {
    throw badRequest(f('cpu_limit'), `${f('cpu_limit')} must be CPU cores such as "100m", "0.5" or "2" (0.01 to 64), got ${JSON.stringify(out.cpu_limit)}`);
  }
  out.cpu_limit = String(out.cpu_limit);
  if (!Array.isArray(out.dependencies) || out.dependencies.length > FUNCTION_LIMITS.maxDependencies) {
    throw badRequest(f('dependencies'), `${f('dependencies')} must be a list of at most ${FUNCTION_LIMITS.maxDependencies} package specs`);
  }
  out.dependencies.forEach((d, i) => {
    // A spec starting with "-" would be read as an installer option (--index-url, --pre ...).
    if (typeof d !== 'string' || d.length === 0 || d.length > 512 || d.startsWith('-') || /[\r\n\0]/.test(d)) {
      throw badRequest(`${f('dependencies')}[${i}]`, `${f('dependencies')}[${i}] must be a package spec (not empty, not starting with "-", one line), got ${JSON.stringify(d)}`);
    }
  });
  if (!isPlainObject(out.environment) || Object.keys(out.environment).length > FUNCTION_LIMITS.maxEnvVars) {
    throw badRequest(f('environment'), `${f('environment')} must be an object of at most ${FUNCTION_LIMITS.maxEnvVars} NAME: "value" pairs`);
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(out.environment)) {
    if (!ENV_NAME_RE.test(k) || k.startsWith('FAAS_')) {
      throw badRequest(`${f('environment')}.${k}`, `${f('environment')}.${k}: variable names must match [A-Za-z_][A-Za-z0-9_]* and not start with FAAS_`);
    }
    if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') {
      throw badRequest(`${f('environment')}.${k}`, `${f('environment')}.${k} must be a string`);
    }
    const s = String(v);
    if (s.length > FUNCTION_LIMITS.maxEnvValueLength || s.includes('\0')) {
      throw badRequest(`${f('environment')}.${k}`, `${f('environment')}.${k} must be at most ${FUNCTION_LIMITS.maxEnvValueLength} characters without NUL`);
    }
    env[k] = s;
  }
  out.environment = env;
  checkInt(out.max_instances, f('max_instances'), 1, FUNCTION_LIMITS.maxInstances);
  checkInt(out.min_instances, f('min_instances'), 0, out.max_instances);
  checkInt(out.max_concurrency, f('max_concurrency'), 0, 100_000);
  if (out.network !== 'none' && out.network !== 'bridge') {
    throw badRequest(f('network'), `${f('network')} must be "none" or "bridge", got ${JSON.stringify(out.network)}`);
  }
  return out;
}

export function validateName(name: unknown, field = 'name'): string {
  if (typeof name !== 'string' || !FUNCTION_NAME_RE.test(name)) {
    throw badRequest(field, `${field} must be 1-63 lower-case letters, digits or "-", starting and ending with a letter or digit, got ${JSON.stringify(name)}`);
  }
  return name;
}

export function validateHandler(handler: unknown, field = 'handler'): string | null {
  if (handler === undefined || handler === null) return null;
  if (typeof handler !== 'string' || !/^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/.test(handler)) {
    throw badRequest(field, `${field} must be an identifier such as "handle", got ${JSON.stringify(handler)}`);
  }
  return handler;
}

export function validateCode(code: unknown, field = 'code'): string {
  if (typeof code !== 'string' || code.trim().length === 0) {
    throw badRequest(field, `${field} must be a non-empty string of source code`);
  }
  return code;
}

export function entryFile(runtime: RuntimeName): string {
  return runtime === 'python' ? 'main.py' : 'index.js';
}

export function memoryBytes(config: FunctionConfig): number {
  return parseMemory(config.memory) ?? 128 * 1024 ** 2;
}

export function cpuCores(config: FunctionConfig): number {
  return parseCpu(config.cpu_limit) ?? 1;
}
