// The function model: what a function is, its defaults, and how a config patch is merged.
// The config's fields are validated by function-schema.ts, at the edges (API, YAML, registry).
import { badRequest } from '../errors.js';
import type { ExecutionMode, RuntimeName } from './runtime.js';
import { type EntryPoint, type FunctionFiles, entryPoint } from './function-files.js';
import { instanceBoundsProblem, parseCpu, parseMemory, problemError, type FunctionConfig } from './function-schema.js';

export type { FunctionConfig };
export { validateHandler } from './function-files.js';

export const FUNCTION_NAME_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

export interface FunctionRecord {
  name: string;
  runtime: RuntimeName;
  /** "handle", or "file.function" naming the entry file (see function-files.ts). */
  handler: string | null;
  /** The entry file's text (the whole function when it is a single file). */
  code: string;
  /** Every file of the function, the entry file included. */
  files: FunctionFiles;
  config: FunctionConfig;
  version: number;
  source: 'api' | 'yaml';
  created_at: string;
  updated_at: string;
}

/** One entry of a function's history (GET /functions/:name/versions). */
export interface FunctionVersion {
  version: number;
  created_at: string;
  /** The API key's name, or "faas_config.yaml". */
  created_by: string;
  /** sha256 of the files (function-files.ts filesDigest). */
  digest: string;
  /** What this version changed, in words: "files: main.py", "config: timeout", "rollback to 3". */
  change: string;
  source: 'api' | 'yaml';
  /** Its content is kept (one of the last system.versions_retained): it can be rolled back to or called pinned. */
  retained: boolean;
}

/** Who made a version and what it changed, recorded with it. */
export interface VersionMeta {
  createdBy: string;
  change: string;
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
 * Merge a partial config over a base (defaults on create, the current config on update); a
 * null value puts its key back to `defaults` (the system's, for an update). The
 * patch was checked against the schema at the edge; what is left is the check across fields
 * on the result. `prefix` names fields in messages ("config" for the API, "functions.<name>"
 * for the YAML file).
 */
export function mergeConfig(base: FunctionConfig, patch: unknown, prefix = 'config', defaults: FunctionConfig = base): FunctionConfig {
  const out: Record<string, unknown> & FunctionConfig = { ...base };
  for (const [key, value] of Object.entries((patch ?? {}) as Record<string, unknown>)) {
    // null (API input only): back to the default, or unset for a key that has none.
    if (value !== null) out[key] = value;
    else if (key in defaults) out[key] = defaults[key as keyof FunctionConfig];
    else delete out[key];
  }
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

export function validateCode(code: unknown, field = 'code'): string {
  if (typeof code !== 'string' || code.trim().length === 0) {
    throw badRequest(field, `${field} must be a non-empty string of source code`);
  }
  return code;
}

/** The file and function a function's instances load. */
export function functionEntry(rec: Pick<FunctionRecord, 'runtime' | 'handler' | 'files'>): EntryPoint {
  return entryPoint(rec.runtime, rec.handler, Object.keys(rec.files));
}

export function memoryBytes(config: FunctionConfig): number {
  return parseMemory(config.memory) ?? 128 * 1024 ** 2;
}

export function cpuCores(config: FunctionConfig): number {
  return parseCpu(config.cpu_limit) ?? 1;
}
