// The function model: what a function is, its defaults, and how a config patch is merged.
// The config's fields are validated by function-schema.ts, at the edges (API, YAML, registry).
import { badRequest } from '../errors.js';
import type { ExecutionMode, RuntimeName } from './runtime.js';
import { instanceBoundsProblem, parseCpu, parseMemory, problemError, type FunctionConfig } from './function-schema.js';

export type { FunctionConfig };

export const FUNCTION_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

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

/**
 * Merge a partial config over a base (defaults on create, the current config on update). The
 * patch was checked against the schema at the edge; what is left is the check across fields
 * on the result. `prefix` names fields in messages ("config" for the API, "functions.<name>"
 * for the YAML file).
 */
export function mergeConfig(base: FunctionConfig, patch: unknown, prefix = 'config'): FunctionConfig {
  const out: FunctionConfig = { ...base, ...(patch as Partial<FunctionConfig> | undefined) };
  // The schema also takes cpu_limit: 2 and environment values 1 / true (YAML writes them so).
  out.cpu_limit = String(out.cpu_limit);
  out.environment = Object.fromEntries(Object.entries(out.environment).map(([k, v]) => [k, String(v)]));
  const bounds = instanceBoundsProblem(out);
  if (bounds) throw problemError(prefix, bounds);
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
