// Loads faas_config.yaml once at boot: YAML -> schema check (with line numbers) -> defaults
// -> FAAS_* environment overrides -> command-line flags -> frozen FaasConfig.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import { LineCounter, isMap, isSeq, isScalar, parseDocument, type Document, type Node } from 'yaml';
import { FaasError } from '../errors.js';
import { defaultConfig, mergeConfig, normaliseRuntime, validateCode, validateHandler, type FunctionConfig } from '../model/function-model.js';
import { FileSetBuilder, defaultEntryFile, entryPoint, type FunctionFiles } from '../model/function-files.js';
import { configShapeProblem, parseDuration, problemError } from '../model/function-schema.js';
import type { RuntimeName } from '../model/runtime.js';
import { DEMO_KEYS, MODE_PATTERN, configFileSchema, defaultSystem, type ApiKeyConfig, type FaasConfig, type LogLevel, type SystemConfig } from './schema.js';

export interface DeclaredFunctionSpec {
  name: string;
  runtime: RuntimeName;
  handler: string | null;
  /** Every file of the function (one, for `code:` or a file `path:`). */
  files: FunctionFiles;
  config: FunctionConfig;
}

export interface LoadedConfig extends FaasConfig {
  declared: DeclaredFunctionSpec[];
}

export interface LoadOptions {
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: { host?: string; port?: number; debug?: boolean };
  /** The execution modes this build has (the driver list); checked against default_mode. */
  modes?: readonly string[];
}

export class ConfigError extends FaasError {
  constructor(message: string) {
    super('CONFIG_INVALID', message);
    this.name = 'ConfigError';
  }
}

const ajv = new Ajv({ allErrors: false, strict: false });
const validateFile = ajv.compile(configFileSchema);

type Segment = string | number;

/** 1-based line of the deepest node that exists along `segs` (the key's line for map entries). */
function lineOf(doc: Document, lc: LineCounter, segs: Segment[]): number | null {
  let node: unknown = doc.contents;
  let offset: number | null = (node as Node | null)?.range?.[0] ?? null;
  for (const seg of segs) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === String(seg));
      if (!pair) break;
      offset = (pair.key as Node | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)] as Node | undefined;
      if (!item) break;
      offset = item.range?.[0] ?? offset;
      node = item;
    } else break;
  }
  return offset === null ? null : lc.linePos(offset).line;
}

function getIn(obj: unknown, segs: Segment[]): unknown {
  let cur: unknown = obj;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[String(s)];
  }
  return cur;
}

function describeExpected(err: ErrorObject): string {
  const p = err.params as Record<string, unknown>;
  switch (err.keyword) {
    case 'enum':
      return `one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'type':
      return `a value of type ${String(p.type)}`;
    case 'minimum':
    case 'exclusiveMinimum':
    case 'maximum':
    case 'exclusiveMaximum':
      return `a number ${String(p.comparison)} ${String(p.limit)}`;
    case 'additionalProperties':
      return 'no such key (check the spelling against faasd --create-config)';
    case 'required':
      return `the key "${String(p.missingProperty)}"`;
    case 'oneOf':
      return 'exactly one of "key" or "key_sha256"';
    case 'pattern':
      return `text matching ${String(p.pattern)}`;
    default:
      return err.message ?? 'a valid value';
  }
}

function pointerToSegs(pointer: string): Segment[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function fail(file: string, line: number | null, keyPath: string, value: unknown, expected: string): never {
  const where = line === null ? file : `${file}:${line}`;
  const got = value === undefined ? '' : ` got ${JSON.stringify(value)},`;
  throw new ConfigError(`${where}: ${keyPath || '(top level)'}:${got} expected ${expected}`);
}

function parseBool(name: string, v: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off|)$/i.test(v)) return false;
  throw new ConfigError(`environment ${name}=${JSON.stringify(v)}: expected 1/0, true/false, yes/no`);
}

export function normaliseLogLevel(v: string): LogLevel {
  const l = v.toLowerCase();
  return l === 'warning' ? 'warn' : (l as LogLevel);
}

const HOST_LABEL = '[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?';
const HOST_NAME_RE = new RegExp(`^(?=.{1,253}$)${HOST_LABEL}(?:\\.${HOST_LABEL})*$`);

/**
 * An async.callback_allowed_hosts entry as the callback policy reads it: a host name, an IP
 * address or a CIDR, lower-case, IPv6 without brackets; null when it is none of these. A name
 * ending in a number is refused: URLs read it as an IPv4 address ("10.1" is 10.0.0.1).
 */
function normaliseHostRule(entry: string): string | null {
  const s = entry.trim().toLowerCase();
  const slash = s.indexOf('/');
  const addr = (slash < 0 ? s : s.slice(0, slash)).replace(/^\[(.*)\]$/, '$1');
  const family = net.isIP(addr);
  if (slash >= 0) {
    const bits = s.slice(slash + 1);
    if (!family || !/^[0-9]{1,3}$/.test(bits) || Number(bits) > (family === 4 ? 32 : 128)) return null;
    return `${addr}/${Number(bits)}`;
  }
  if (family) return addr;
  const name = s.replace(/\.$/, '');
  return HOST_NAME_RE.test(name) && !/(^|\.)[0-9]+$/.test(name) ? name : null;
}

/** Directories a declared function's directory may hold that are not part of it. */
const SKIPPED_DIRS = new Set(['.git', 'node_modules', '__pycache__', '.deps']);

/**
 * A declared function's files: `code:` (the entry file's text), or `path:` to one file (the
 * entry file) or to a directory (every file in it, checked as an upload is).
 */
export function readDeclaredFiles(
  name: string,
  decl: Record<string, unknown>,
  runtime: RuntimeName,
  handler: string | null,
  baseDir: string,
  maxBytes: number,
  where: (k: string) => never,
): FunctionFiles {
  const hasCode = typeof decl.code === 'string';
  const hasPath = typeof decl.path === 'string';
  if (hasCode === hasPath) where(hasCode ? 'path' : 'code');
  const field = `functions.${name}.${hasCode ? 'code' : 'path'}`;
  const single = (text: string) => {
    const set = new FileSetBuilder(maxBytes, field);
    set.add(defaultEntryFile(runtime, handler), Buffer.from(validateCode(text, field), 'utf8'));
    return set.build();
  };
  if (hasCode) return single(decl.code as string);
  const root = path.resolve(baseDir, decl.path as string);
  let current = root;
  try {
    if (!fs.statSync(root).isDirectory()) return single(fs.readFileSync(root, 'utf8'));
    const set = new FileSetBuilder(maxBytes, field);
    const walk = (dir: string, rel: string) => {
      for (const ent of fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
        current = path.join(dir, ent.name);
        const relPath = rel ? `${rel}/${ent.name}` : ent.name;
        // A link is followed to a file (the operator's own tree); never to a directory (loops).
        const isDir = ent.isDirectory() || (ent.isSymbolicLink() && fs.statSync(current).isDirectory());
        if (isDir) {
          if (ent.isSymbolicLink()) throw new ConfigError(`${field}: ${current} is a link to a directory; link files, not directories`);
          if (!SKIPPED_DIRS.has(ent.name)) walk(current, relPath);
        } else set.add(relPath, fs.readFileSync(current));
      }
    };
    walk(root, '');
    const files = set.build();
    entryPoint(runtime, handler, Object.keys(files), field);
    return files;
  } catch (e) {
    if (e instanceof ConfigError || e instanceof FaasError) throw e;
    throw new ConfigError(`${field}: cannot read ${current}: ${(e as Error).message}`);
  }
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const file = opts.file ?? (env.FAAS_CONFIG_FILE || undefined);
  let raw: Record<string, unknown> = {};
  let doc: Document | null = null;
  const lc = new LineCounter();
  let display = '(defaults)';
  let sourceFile: string | null = null;

  if (file) {
    sourceFile = path.resolve(file);
    display = file;
    let text: string;
    try {
      text = fs.readFileSync(sourceFile, 'utf8');
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    doc = parseDocument(text, { lineCounter: lc, prettyErrors: false });
    if (doc.errors.length > 0) {
      const e = doc.errors[0]!;
      const line = lc.linePos(e.pos[0]).line;
      throw new ConfigError(`${file}:${line}: invalid YAML: ${e.message.split('\n')[0]}`);
    }
    const js = doc.toJS() as unknown;
    if (js !== null && js !== undefined) {
      if (typeof js !== 'object' || Array.isArray(js)) fail(file, 1, '', js, 'a mapping with system:, api_keys:, rate_limit:, functions:');
      raw = js as Record<string, unknown>;
    }
    if (!validateFile(raw)) {
      const err = validateFile.errors![0]!;
      const segs = pointerToSegs(err.instancePath);
      if (err.keyword === 'additionalProperties') segs.push(String((err.params as { additionalProperty: string }).additionalProperty));
      if (err.keyword === 'propertyNames') segs.push(String((err.params as { propertyName: string }).propertyName));
      const keyPath = segs
        .map((s) => (typeof s === 'number' || /^\d+$/.test(String(s)) ? `[${s}]` : `.${s}`))
        .join('')
        .replace(/^\./, '');
      const expected = err.keyword === 'propertyNames' ? 'a function name of lower-case letters, digits and "-"' : describeExpected(err);
      fail(file, lineOf(doc, lc, segs), keyPath, err.keyword === 'additionalProperties' ? undefined : getIn(raw, segs), expected);
    }
  }
  const baseDir = sourceFile ? path.dirname(sourceFile) : process.cwd();

  // system: defaults <- file <- env <- flags
  const fileSystem = (raw.system ?? {}) as Partial<SystemConfig>;
  const system: SystemConfig = {
    ...defaultSystem(),
    ...fileSystem,
    container_images: { ...defaultSystem().container_images, ...(fileSystem.container_images ?? {}) },
    interpreters: { ...defaultSystem().interpreters, ...(fileSystem.interpreters ?? {}) },
  };
  if (!system.container_images.python) system.container_images.python = system.base_image;
  system.logging_level = normaliseLogLevel(system.logging_level);
  for (const k of ['function_storage_path', 'registry_path'] as const) system[k] = path.resolve(baseDir, system[k]);
  system.secrets_key_path = system.secrets_key_path ? path.resolve(baseDir, system.secrets_key_path) : path.join(path.dirname(system.registry_path), 'secrets.key');

  if (env.FAAS_DEFAULT_MODE !== undefined && env.FAAS_DEFAULT_MODE !== '') {
    if (!new RegExp(MODE_PATTERN).test(env.FAAS_DEFAULT_MODE) || (opts.modes && !opts.modes.includes(env.FAAS_DEFAULT_MODE))) {
      throw new ConfigError(`environment FAAS_DEFAULT_MODE=${JSON.stringify(env.FAAS_DEFAULT_MODE)}: expected ${opts.modes ? opts.modes.map((m) => `"${m}"`).join(' or ') : 'a mode name'}`);
    }
    system.default_mode = env.FAAS_DEFAULT_MODE;
  } else if (opts.modes && !opts.modes.includes(system.default_mode)) {
    fail(display, doc ? lineOf(doc, lc, ['system', 'default_mode']) : null, 'system.default_mode', system.default_mode, `one of ${opts.modes.join(', ')}`);
  }
  if (env.FAAS_API_PORT !== undefined && env.FAAS_API_PORT !== '') {
    const port = Number(env.FAAS_API_PORT);
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new ConfigError(`environment FAAS_API_PORT=${JSON.stringify(env.FAAS_API_PORT)}: expected an integer from 0 to 65535`);
    }
    system.api_gateway_port = port;
  }
  if (env.FAAS_LOG_LEVEL !== undefined && env.FAAS_LOG_LEVEL !== '') {
    const l = normaliseLogLevel(env.FAAS_LOG_LEVEL);
    if (!['debug', 'info', 'warn', 'error'].includes(l)) {
      throw new ConfigError(`environment FAAS_LOG_LEVEL=${JSON.stringify(env.FAAS_LOG_LEVEL)}: expected debug, info, warning or error`);
    }
    system.logging_level = l;
  }
  if (env.FAAS_DISABLE_CONTAINER !== undefined) {
    system.disable_container = parseBool('FAAS_DISABLE_CONTAINER', env.FAAS_DISABLE_CONTAINER) || system.disable_container;
  }
  if (opts.flags?.host) system.api_gateway_host = opts.flags.host;
  if (opts.flags?.port !== undefined) system.api_gateway_port = opts.flags.port;
  if (opts.flags?.debug) system.logging_level = 'debug';

  // api_keys: none configured means the quick-start keys (loudly, see daemon.ts and /health).
  const fileKeys = (raw.api_keys ?? []) as ApiKeyConfig[];
  const seenNames = new Set<string>();
  fileKeys.forEach((k, i) => {
    if (seenNames.has(k.name)) fail(display, doc ? lineOf(doc, lc, ['api_keys', i, 'name']) : null, `api_keys[${i}].name`, k.name, 'a name used by one key only');
    seenNames.add(k.name);
  });
  const usingDemo = fileKeys.length === 0;
  const apiKeys = usingDemo ? DEMO_KEYS.map((k) => ({ ...k, scopes: [...k.scopes] })) : fileKeys;

  const rl = (raw.rate_limit ?? {}) as Partial<FaasConfig['rate_limit']>;
  const rateLimit = {
    default: { rps: 100, burst: 200, ...(rl.default ?? {}) },
    trusted_proxies: rl.trusted_proxies ?? [],
    auth_failures_per_minute: rl.auth_failures_per_minute ?? 20,
  };
  if (rateLimit.default.burst === undefined) rateLimit.default.burst = Math.max(1, Math.ceil(rateLimit.default.rps * 2));

  // functions: the config keys checked with the API's schema, errors located in the file.
  const declaredRaw = (raw.functions ?? {}) as Record<string, Record<string, unknown>>;
  const declared: DeclaredFunctionSpec[] = [];
  for (const [name, decl] of Object.entries(declaredRaw)) {
    const where = (key: string): never => {
      const line = doc ? lineOf(doc, lc, ['functions', name, key]) : null;
      fail(
        display,
        line,
        `functions.${name}.${key}`,
        decl[key],
        key === 'code' || key === 'path' ? 'exactly one of code: (source text) or path: (file or directory, relative to the config file)' : 'a valid value',
      );
    };
    try {
      const runtime = normaliseRuntime(decl.runtime as string | undefined, `functions.${name}.runtime`);
      const handler = validateHandler(decl.handler, `functions.${name}.handler`);
      const files = readDeclaredFiles(name, decl, runtime, handler, baseDir, system.max_code_size, where);
      const { runtime: _r, handler: _h, code: _c, path: _p, ...configPart } = decl;
      const problem = configShapeProblem(configPart);
      if (problem) throw problemError(`functions.${name}`, problem);
      const config = mergeConfig(defaultConfig(system.default_mode), configPart, `functions.${name}`);
      declared.push({ name, runtime, handler, files, config });
    } catch (e) {
      if (e instanceof FaasError && (e.code === 'BAD_REQUEST' || e.code === 'PAYLOAD_TOO_LARGE')) {
        const field = String(e.details.field ?? '');
        const segs = field.split(/[.[\]]/).filter(Boolean);
        const line = doc ? lineOf(doc, lc, segs) : null;
        throw new ConfigError(`${display}${line === null ? '' : `:${line}`}: function "${name}": ${e.message}`);
      }
      throw e;
    }
  }

  const pw = (raw.prewarm ?? {}) as { process?: Partial<Record<'python' | 'node' | 'max', number>>; container?: Partial<Record<'python' | 'node' | 'max', number>> };
  // `max`: a burst of first calls grows each runtime's generic pool up to this (never below
  // its own count); it shrinks back once the burst is over (drivers/generic-pool.ts).
  const prewarm = {
    process: { python: 2, node: 2, max: 8, ...(pw.process ?? {}) },
    container: { python: 1, node: 1, max: 2, ...(pw.container ?? {}) },
  };

  const ar = (raw.async ?? {}) as Record<string, unknown>;
  const duration = (key: string, fallback: number): number => {
    const v = ar[key];
    if (v === undefined) return fallback;
    const ms = parseDuration(v as string | number);
    if (ms === null) fail(display, doc ? lineOf(doc, lc, ['async', key]) : null, `async.${key}`, v, 'a duration: seconds as a number, or "500ms", "1s", "5m", "2h", "7d"');
    return ms;
  };
  const asyncDefaults = {
    concurrency: (ar.concurrency as number | undefined) ?? 4,
    max_queue: (ar.max_queue as number | undefined) ?? 100_000,
    max_attempts: (ar.max_attempts as number | undefined) ?? 3,
    initial_backoff: duration('initial_backoff', 1000),
    max_backoff: duration('max_backoff', 300_000),
    retry_on_error: (ar.retry_on_error as boolean | undefined) ?? false,
    retention: duration('retention', 7 * 86_400_000),
    max_running: (ar.max_running as number | undefined) ?? 32,
    callback_allowed_hosts: ((ar.callback_allowed_hosts as string[] | undefined) ?? []).map((entry, i) => {
      const rule = normaliseHostRule(entry);
      if (rule === null) {
        fail(
          display,
          doc ? lineOf(doc, lc, ['async', 'callback_allowed_hosts', i]) : null,
          `async.callback_allowed_hosts[${i}]`,
          entry,
          'a host name, an IP address or a CIDR such as 10.0.0.0/8 or fd00::/8',
        );
      }
      return rule;
    }),
    callback_max_attempts: (ar.callback_max_attempts as number | undefined) ?? 10,
    callback_initial_backoff: duration('callback_initial_backoff', 1000),
    callback_max_backoff: duration('callback_max_backoff', 300_000),
    callback_timeout: duration('callback_timeout', 10_000),
  };

  const config: LoadedConfig = {
    system,
    prewarm,
    async: asyncDefaults,
    api_keys: apiKeys,
    using_demo_keys: usingDemo,
    rate_limit: rateLimit,
    functions: declaredRaw,
    declared,
    source_file: sourceFile,
  };
  return deepFreeze(config);
}

function deepFreeze<T>(o: T): T {
  // File contents (Buffers) cannot be frozen; nothing holds on to them to change them either.
  if (o && typeof o === 'object' && !Object.isFrozen(o) && !ArrayBuffer.isView(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}
