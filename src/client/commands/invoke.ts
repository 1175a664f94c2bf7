// faasd invoke NAME: the body from -d JSON, -d @file, or stdin when it is not a terminal; the
// function's answer to stdout as it came (bytes), -v for status and timing on stderr; exit 1
// on a 4xx/5xx. --async queues it (POST /async/NAME) and prints the invocation id.
import fs from 'node:fs';
import { ClientError, type FaasClient } from '../http.js';
import type { Output } from '../output.js';
import { readStdin } from '../stdin.js';

export interface InvokeFlags {
  data?: string;
  method?: string;
  header?: string[];
  path?: string;
  async?: boolean;
  verbose?: boolean;
}

/** The body and, when the caller gave none, a content type guessed from it. */
async function body(flags: InvokeFlags, stdinIsTTY: boolean): Promise<Buffer | null> {
  if (flags.data !== undefined) {
    if (flags.data === '@-') return readStdin();
    if (flags.data.startsWith('@')) {
      const file = flags.data.slice(1);
      try {
        return fs.readFileSync(file);
      } catch (e) {
        throw new ClientError('BadArgument', `-d @${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
      }
    }
    return Buffer.from(flags.data, 'utf8');
  }
  if (!stdinIsTTY) {
    const b = await readStdin();
    return b.length > 0 ? b : null;
  }
  return null;
}

function isJson(b: Buffer): boolean {
  try {
    JSON.parse(b.toString('utf8'));
    return true;
  } catch {
    return false;
  }
}

export function parseHeaders(list: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of list) {
    const i = h.indexOf(':');
    if (i <= 0) throw new ClientError('BadArgument', `-H ${JSON.stringify(h)}: expected 'Name: value'`);
    out[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  return out;
}

export async function invokeCommand(client: FaasClient, out: Output, name: string, flags: InvokeFlags, stdinIsTTY = Boolean(process.stdin.isTTY)): Promise<number> {
  const headers = parseHeaders(flags.header);
  const data = await body(flags, stdinIsTTY);
  if (data && headers['content-type'] === undefined) headers['content-type'] = isJson(data) ? 'application/json' : 'application/octet-stream';
  let sub = flags.path ?? '';
  if (sub && !sub.startsWith('/')) sub = `/${sub}`;
  // The query string of --path travels as it is.
  const method = (flags.method ?? 'POST').toUpperCase();
  const route = `${flags.async ? '/async' : '/invoke'}/${encodeURIComponent(name)}${sub}`;
  const t0 = performance.now();
  const res = await client.request(method, route, { headers, ...(data ? { body: data } : {}) });
  const bytes = Buffer.from(await res.arrayBuffer());
  const ms = performance.now() - t0;

  if (flags.verbose) {
    const h = (k: string) => res.headers.get(k);
    const parts = [`${res.status} ${res.statusText}`, `${ms.toFixed(1)}ms`];
    if (h('x-faas-duration-ms')) parts.push(`daemon ${h('x-faas-duration-ms')}ms`);
    if (h('x-faas-start')) parts.push(`start=${h('x-faas-start')}`);
    if (h('x-faas-instance-id')) parts.push(`instance=${h('x-faas-instance-id')}`);
    if (h('x-faas-request-id')) parts.push(`request=${h('x-faas-request-id')}`);
    out.note(`< ${parts.join('  ')}`, res.ok ? 'dim' : 'red');
  }

  // The daemon's own errors are JSON with error and message; a function's 4xx/5xx answer is its body.
  let daemonError: Record<string, unknown> | null = null;
  if (!res.ok && (res.headers.get('content-type') ?? '').includes('application/json')) {
    try {
      const v = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
      if (v && typeof v.error === 'string' && typeof v.message === 'string') daemonError = v;
    } catch {
      // the function's own body
    }
  }
  if (daemonError) {
    if (out.json) out.data(daemonError);
    out.note(`faasd: ${String(daemonError.error)}: ${String(daemonError.message)}`, 'red');
    if (flags.verbose && typeof daemonError.stack === 'string') out.note(daemonError.stack, 'dim');
    return 1;
  }
  if (flags.async && res.ok) {
    const job = JSON.parse(bytes.toString('utf8')) as { id: string; status_url?: string };
    if (out.json) out.data(job);
    else {
      out.line(job.id);
      out.note(`queued; its status: GET ${client.gateway}${job.status_url ?? `/invocations/${job.id}`}`, 'dim');
    }
    return 0;
  }
  process.stdout.write(bytes);
  // A terminal prompt after a body without a final newline lands on the same line.
  if (bytes.length > 0 && bytes[bytes.length - 1] !== 0x0a && process.stdout.isTTY) process.stdout.write('\n');
  if (!res.ok) {
    out.note(`faasd: HTTP${res.status}: the function answered ${res.status} ${res.statusText}`, 'red');
    return 1;
  }
  return 0;
}
