// A function's logs, followed live. GET /functions/:name/logs?follow=true answers
// text/event-stream: read with fetch + a ReadableStream (EventSource cannot send the bearer
// header). A daemon without the streaming endpoint answers something else (JSON, or a 400
// for the unknown parameter): then poll GET /functions/:name/logs every 2 s.
import type { Api, LogLine } from './api';
import { errorFrom } from './api';

export type FollowMode = 'connecting' | 'live' | 'polling' | 'ended' | 'error';

export interface FollowHandlers {
  onLines: (lines: LogLine[]) => void;
  onMode: (mode: FollowMode, detail?: string) => void;
}

const POLL_MS = 2000;
const RECONNECT_MS = 2000;

export function followLogs(api: Api, name: string, h: FollowHandlers): () => void {
  const ctl = new AbortController();
  let stopped = false;
  let lastTime: string | undefined;
  const seen = new Set<string>();
  const base = `/functions/${encodeURIComponent(name)}/logs`;

  // Lines from a reconnect or a poll overlap the ones shown: keep each once.
  const deliver = (lines: LogLine[]) => {
    const fresh: LogLine[] = [];
    for (const l of lines) {
      const k = `${l.time}\u0000${l.request_id}\u0000${l.line}`;
      if (seen.has(k)) continue;
      seen.add(k);
      fresh.push(l);
      if (!lastTime || l.time > lastTime) lastTime = l.time;
    }
    if (seen.size > 5000) seen.clear();
    if (fresh.length) h.onLines(fresh);
  };

  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

  const poll = async () => {
    h.onMode('polling');
    while (!stopped) {
      try {
        deliver(await api.logs(name, lastTime));
        h.onMode('polling');
      } catch (err) {
        if (stopped) return;
        h.onMode('error', (err as Error).message);
      }
      await sleep(POLL_MS);
    }
  };

  const stream = async (): Promise<void> => {
    while (!stopped) {
      h.onMode('connecting');
      let res: Response;
      try {
        res = await api.fetch(`${base}?follow=true&limit=500${lastTime ? `&since=${encodeURIComponent(lastTime)}` : ''}`, {
          headers: { accept: 'text/event-stream' },
          signal: ctl.signal,
        });
      } catch (err) {
        if (stopped) return;
        h.onMode('error', (err as Error).message);
        await sleep(RECONNECT_MS);
        continue;
      }
      const type = res.headers.get('content-type') ?? '';
      if (!res.ok && res.status !== 400) {
        // 403, 404 (function gone), 401: polling would not do better.
        h.onMode('error', (await errorFrom(res)).message);
        return;
      }
      if (!type.startsWith('text/event-stream') || !res.body) {
        void res.body?.cancel();
        return poll();
      }
      h.onMode('live');
      const ended = await readEvents(res.body, (event, data) => {
        try {
          if (event === 'line') deliver([JSON.parse(data) as LogLine]);
          // The reader fell behind and faasd skipped lines rather than buffer them: say so in place.
          else if (event === 'dropped')
            h.onLines([{ time: new Date().toISOString(), request_id: null, line: `… ${(JSON.parse(data) as { count: number }).count} lines skipped (the console fell behind)` }]);
        } catch {
          // a malformed event: skip it
        }
      }).catch(() => null);
      if (stopped) return;
      if (ended === 'deleted') {
        h.onMode('ended', 'the function was deleted');
        return;
      }
      // ended === 'shutdown': faasd is stopping; reconnect when it is back, as after a dropped connection.
      if (ended === 'shutdown') h.onMode('error', 'faasd stopped; reconnecting');
      // The connection dropped (daemon restarted, proxy timeout): reconnect from the last line.
      await sleep(RECONNECT_MS);
    }
  };

  void stream();
  return () => {
    stopped = true;
    ctl.abort();
  };
}

/** Reads server-sent events until the stream closes: the reason of an `event: end`, else null. */
async function readEvents(body: ReadableStream<Uint8Array>, onEvent: (event: string, data: string) => void): Promise<string | null> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return null;
    buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
    let cut = buf.indexOf('\n\n');
    while (cut >= 0) {
      const block = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      cut = buf.indexOf('\n\n');
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue; // a comment: the server's keep-alive ping
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const val = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = val;
        else if (field === 'data') data.push(val);
      }
      if (event === 'end') {
        await reader.cancel().catch(() => {});
        try {
          return String((JSON.parse(data.join('\n')) as { reason?: unknown }).reason ?? 'deleted');
        } catch {
          return 'deleted';
        }
      }
      if (data.length) onEvent(event, data.join('\n'));
    }
  }
}
