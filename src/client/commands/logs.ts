// faasd logs NAME [--since 10m] [--limit N] [--follow]: what the function printed. --follow
// keeps the connection open (server-sent events from GET /functions/:name/logs?follow=true) and
// prints each line as the function prints it, until Ctrl-C or the function is deleted.
import { durationMs } from '../duration.js';
import { ClientError, type FaasClient } from '../http.js';
import type { Output } from '../output.js';

export interface LogsFlags {
  since?: string;
  limit?: number;
  follow?: boolean;
}

interface LogLine {
  time: string;
  request_id: string;
  line: string;
}

/** "10m", "2h", "30s", a number of seconds, or an ISO time -> ISO time. */
export function sinceTime(value: string, now = Date.now()): string {
  const ms = durationMs(value);
  if (ms !== null) return new Date(now - ms).toISOString();
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new ClientError('BadArgument', `--since ${JSON.stringify(value)}: expected a duration such as 10m, 2h, 30s, or an ISO time`);
  return new Date(t).toISOString();
}

function printer(out: Output) {
  return (l: LogLine) => {
    if (out.json) out.line(JSON.stringify(l));
    else out.line(`${out.style(l.time.slice(11, 23), 'dim')} ${out.style(l.request_id.slice(0, 8), 'cyan')} ${l.line}`);
  };
}

/** Server-sent events from a response body: (event, data) for each event; comments skipped. */
async function* events(body: ReadableStream<Uint8Array>): AsyncGenerator<{ event: string; data: string }> {
  const decoder = new TextDecoder();
  let buf = '';
  for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(chunk, { stream: true });
    let i: number;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const block = buf.slice(0, i);
      buf = buf.slice(i + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue;
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) yield { event, data: data.join('\n') };
    }
  }
}

export async function logsCommand(client: FaasClient, out: Output, name: string, flags: LogsFlags): Promise<number> {
  const query = {
    ...(flags.since !== undefined ? { since: sinceTime(flags.since) } : {}),
    ...(flags.limit !== undefined ? { limit: String(flags.limit) } : {}),
  };
  const path = `/functions/${encodeURIComponent(name)}/logs`;
  const print = printer(out);
  if (!flags.follow) {
    const r = await client.call<{ lines: LogLine[] }>('GET', path, { query });
    for (const l of r.lines) print(l);
    if (r.lines.length === 0 && !out.json) out.note(`No log lines from ${name}${flags.since ? ` since ${flags.since}` : ''}.`);
    return 0;
  }
  const res = await client.request('GET', path, { query: { ...query, follow: 'true' }, headers: { accept: 'text/event-stream' } });
  if (!res.ok) throw await client.errorFrom(res);
  if (!res.body) throw new ClientError('BadResponse', 'the daemon answered without a stream');
  if (out.interactive) out.note(`following ${name} (Ctrl-C to stop)`, 'dim');
  try {
    for await (const ev of events(res.body)) {
      const data = JSON.parse(ev.data) as Record<string, unknown>;
      if (ev.event === 'line') print(data as unknown as LogLine);
      else if (ev.event === 'dropped') out.note(`faasd: ${String(data.count)} lines dropped: this client read too slowly`, 'yellow');
      else if (ev.event === 'end') {
        if (data.reason === 'deleted') {
          out.note(`${name} was deleted; no more lines will come`, 'dim');
          return 0;
        }
        throw new ClientError('StreamEnded', `the daemon at ${client.gateway} ended the stream (${String(data.reason)})`);
      }
    }
  } catch (e) {
    if (e instanceof ClientError) throw e;
    throw new ClientError('StreamEnded', `the log stream from ${client.gateway} was cut: ${(e as Error).message}`);
  }
  throw new ClientError('StreamEnded', `the log stream from ${client.gateway} ended unexpectedly`);
}
