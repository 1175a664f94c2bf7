// faasd deploy NAME FILE|DIR [flags] and faasd deploy -f stack.yaml [NAME...]: create or update.
// A file goes as JSON ({name, code, runtime, config}); a directory as a .tar.gz with the rest in
// the X-Faas-Function header. Update first (PUT), create (POST) when the daemon has no such
// function: the same command deploys the first and every later version.
import fs from 'node:fs';
import path from 'node:path';
import { ClientError, type FaasClient } from '../http.js';
import { type Output, formatBytes } from '../output.js';
import type { StackFunction } from '../stack.js';

export interface DeployFlags {
  file?: string;
  runtime?: string;
  handler?: string;
  mode?: string;
  memory?: string;
  timeout?: number;
  env?: string[];
  min?: number;
  max?: number;
}

interface DeploySpec {
  name: string;
  runtime?: string;
  handler?: string | null;
  config: Record<string, unknown>;
  code?: string;
  dir?: string;
}

export interface FunctionDetails {
  name: string;
  runtime: string;
  version: number;
  execution_mode: string;
  files?: { path: string; size: number }[];
  [k: string]: unknown;
}

const EXTENSIONS: Record<string, string> = { '.py': 'python', '.js': 'node', '.mjs': 'node', '.cjs': 'node' };

/** A directory's runtime from the files the daemon looks for; undefined leaves it to the daemon. */
function runtimeOfDir(dir: string): string | undefined {
  const has = (f: string) => fs.existsSync(path.join(dir, f));
  if (['main.py', 'handler.py', 'requirements.txt'].some(has)) return 'python';
  if (['index.js', 'handler.js', 'package.json'].some(has)) return 'node';
  return undefined;
}

export function configFromFlags(f: DeployFlags): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  if (f.mode !== undefined) config.execution_mode = f.mode;
  if (f.memory !== undefined) config.memory = f.memory;
  if (f.timeout !== undefined) config.timeout = f.timeout;
  if (f.min !== undefined) config.min_instances = f.min;
  if (f.max !== undefined) config.max_instances = f.max;
  if (f.env && f.env.length > 0) {
    const env: Record<string, string> = {};
    for (const kv of f.env) {
      const i = kv.indexOf('=');
      if (i <= 0) throw new ClientError('BadArgument', `--env ${JSON.stringify(kv)}: expected KEY=VALUE`);
      env[kv.slice(0, i)] = kv.slice(i + 1);
    }
    config.environment = env;
  }
  return config;
}

/** JSON for a header: non-ASCII escaped, so the header stays ASCII whatever the config holds. */
function asciiJson(v: unknown): string {
  return JSON.stringify(v).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

async function deployOne(client: FaasClient, spec: DeploySpec, onPhase: (label: string) => void): Promise<{ details: FunctionDetails; created: boolean }> {
  const meta: Record<string, unknown> = {};
  if (spec.runtime !== undefined) meta.runtime = spec.runtime;
  if (spec.handler !== undefined && spec.handler !== null) meta.handler = spec.handler;
  if (Object.keys(spec.config).length > 0) meta.config = spec.config;

  let send: (method: 'PUT' | 'POST') => Promise<Response>;
  if (spec.dir !== undefined) {
    onPhase(`packing ${spec.dir}`);
    // Loaded when needed (tar, and below the daemon's config loader): other commands start faster.
    const { packDirectory } = await import('../tarball.js');
    const packed = await packDirectory(spec.dir);
    const label = `deploying ${spec.name}: ${packed.files.length} file${packed.files.length === 1 ? '' : 's'}, ${formatBytes(packed.bytes)} (${formatBytes(packed.archive.length)} packed)`;
    send = (method) => {
      onPhase(label);
      const header = asciiJson(method === 'POST' ? { name: spec.name, ...meta } : meta);
      return client.request(method, method === 'POST' ? '/functions' : `/functions/${spec.name}`, {
        body: packed.archive,
        headers: { 'content-type': 'application/gzip', 'x-faas-function': header },
      });
    };
  } else {
    const body = { code: spec.code, ...meta };
    send = (method) => {
      onPhase(`deploying ${spec.name}`);
      return method === 'POST' ? client.request('POST', '/functions', { json: { name: spec.name, ...body } }) : client.request('PUT', `/functions/${spec.name}`, { json: body });
    };
  }
  let res = await send('PUT');
  let created = false;
  if (res.status === 404) {
    const err = await client.errorFrom(res);
    if (err.code !== 'FunctionNotFound' && err.code !== 'FUNCTION_NOT_FOUND') throw err;
    res = await send('POST');
    created = true;
    // Someone created it between our PUT and POST: update it after all.
    if (res.status === 409) {
      await res.body?.cancel();
      res = await send('PUT');
      created = false;
    }
  }
  if (!res.ok) throw await client.errorFrom(res);
  return { details: (await res.json()) as FunctionDetails, created };
}

function specFromArgs(name: string, target: string, flags: DeployFlags): DeploySpec {
  let st: fs.Stats;
  try {
    st = fs.statSync(target);
  } catch {
    throw new ClientError('BadArgument', `${target} does not exist (give a source file such as handler.py, or a directory)`);
  }
  const config = configFromFlags(flags);
  const handler = flags.handler;
  if (st.isDirectory()) {
    const runtime = flags.runtime ?? runtimeOfDir(target);
    return { name, config, dir: path.resolve(target), ...(runtime ? { runtime } : {}), ...(handler ? { handler } : {}) };
  }
  const ext = path.extname(target).toLowerCase();
  const runtime = flags.runtime ?? EXTENSIONS[ext];
  if (!runtime) throw new ClientError('BadArgument', `cannot tell the runtime of ${target} from its extension: give --runtime python or --runtime node`);
  return { name, runtime, config, code: fs.readFileSync(target, 'utf8'), ...(handler ? { handler } : {}) };
}

function describeResult(r: { details: FunctionDetails; created: boolean }, ms: number): string {
  const files = r.details.files ? `, ${r.details.files.length} file${r.details.files.length === 1 ? '' : 's'}` : '';
  return `${r.created ? 'Created' : 'Updated'} ${r.details.name} v${r.details.version} (${r.details.runtime}, ${r.details.execution_mode} mode${files}) in ${(ms / 1000).toFixed(1)}s`;
}

export async function deployCommand(client: FaasClient, out: Output, args: string[], flags: DeployFlags): Promise<number> {
  let specs: DeploySpec[];
  if (flags.file) {
    const perFunction = ['runtime', 'handler', 'mode', 'memory', 'timeout', 'env', 'min', 'max'] as const;
    const given = perFunction.filter((k) => flags[k] !== undefined);
    if (given.length > 0) throw new ClientError('BadArgument', `with -f the stack file sets each function's config; --${given[0]} is not taken`);
    const { loadStack } = await import('../stack.js');
    const all: StackFunction[] = loadStack(flags.file);
    const unknown = args.filter((a) => !all.some((f) => f.name === a));
    if (unknown.length > 0) throw new ClientError('BadArgument', `${flags.file} has no function ${unknown.map((u) => `"${u}"`).join(', ')} (it has ${all.map((f) => f.name).join(', ')})`);
    specs = args.length > 0 ? all.filter((f) => args.includes(f.name)) : all;
  } else {
    if (args.length !== 2) throw new ClientError('BadArgument', 'usage: faasd deploy NAME FILE|DIR [--runtime ...] or faasd deploy -f stack.yaml [NAME...]');
    specs = [specFromArgs(args[0]!, args[1]!, flags)];
  }

  const progress = out.progress('');
  const results: FunctionDetails[] = [];
  let failed = 0;
  try {
    for (const [i, spec] of specs.entries()) {
      const prefix = specs.length > 1 ? `[${i + 1}/${specs.length}] ` : '';
      const t0 = Date.now();
      try {
        const r = await deployOne(client, spec, (label) => progress.update(`${prefix}${label}`));
        results.push(r.details);
        progress.stop();
        if (!out.json) out.line(describeResult(r, Date.now() - t0));
      } catch (e) {
        // One function of a stack failing leaves the others to deploy; the exit code says so.
        if (!(e instanceof ClientError) || specs.length === 1 || e.code === 'Unreachable') throw e;
        progress.stop();
        failed += 1;
        out.note(`faasd: ${e.code}: function "${spec.name}": ${e.message}`, 'red');
      }
    }
  } finally {
    progress.stop();
  }
  if (out.json) out.data(flags.file ? results : results[0]);
  else if (!flags.file && results[0]) out.note(`Invoke it: faasd invoke ${results[0].name}    (or curl -X POST ${client.gateway}/invoke/${results[0].name} -H "Authorization: Bearer ...")`, 'dim');
  if (failed > 0) out.note(`faasd: ${failed} of ${specs.length} functions failed to deploy`, 'red');
  return failed > 0 ? 1 : 0;
}
