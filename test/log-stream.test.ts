// GET /functions/:name/logs?follow=true: server-sent events from a real listening daemon.
import http from 'node:http';
import net from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Daemon } from '../src/daemon.js';
import { startTestDaemon } from './helpers/daemon.js';
import { deploy, isRoot } from './helpers/functions.js';

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads server-sent events from a fetch response (or any chunk reader), one at a time. */
function sseReader(res: Response | { getReader(): { read(): Promise<{ done: boolean; value?: Uint8Array }> } }) {
  const reader = 'getReader' in res ? res.getReader() : res.body!.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  const queued: SseEvent[] = [];
  return async function next(timeoutMs = 10_000): Promise<SseEvent | null> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (queued.length > 0) return queued.shift()!;
      const blocks = buf.split('\n\n');
      if (blocks.length > 1) {
        buf = blocks.pop()!;
        for (const b of blocks) {
          const ev = /^event: (.*)$/m.exec(b)?.[1];
          const data = /^data: (.*)$/m.exec(b)?.[1];
          if (ev) queued.push({ event: ev, data: data === undefined ? null : JSON.parse(data) });
        }
        continue;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no event in time');
      const r = await Promise.race([reader.read(), new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), left))]);
      if (r === 'timeout') throw new Error('no event in time');
      if (r.done || !r.value) return null;
      buf += decoder.decode(r.value, { stream: true });
    }
  };
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

const AUTH = { authorization: 'Bearer demo-key' };
const follow = (d: Daemon, name: string) => fetch(`${d.url}/functions/${name}/logs?follow=true`, { headers: AUTH });

/**
 * A follower that can go away: node:http, whose destroy() closes its one connection. (fetch's
 * abort makes undici open a spare connection that sends nothing, which the server then keeps
 * until its headers timeout, a minute, and daemon.close() waits for it.)
 */
async function followRaw(d: Daemon, name: string) {
  const req = http.get(`${d.url}/functions/${name}/logs?follow=true`, { headers: AUTH });
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => req.once('response', resolve).once('error', reject));
  const chunks: Uint8Array[] = [];
  let wake: (() => void) | null = null;
  let done = false;
  res.on('data', (c: Buffer) => {
    chunks.push(c);
    wake?.();
  });
  res.on('close', () => {
    done = true;
    wake?.();
  });
  const getReader = () => ({
    read: async (): Promise<{ done: boolean; value?: Uint8Array }> => {
      while (chunks.length === 0 && !done) await new Promise<void>((r) => (wake = r));
      return chunks.length > 0 ? { done: false, value: chunks.shift()! } : { done: true };
    },
  });
  return { res, next: sseReader({ getReader }), close: () => req.destroy() };
}
const call = (d: Daemon, name: string, body: unknown) => fetch(`${d.url}/invoke/${name}`, { method: 'POST', headers: { ...AUTH, 'content-type': 'application/json' }, body: JSON.stringify(body) });

if (!isRoot) console.warn('log streaming suite skipped: it runs functions in strict sandboxes, which need root');

describe.skipIf(!isRoot)('log streaming', () => {
  it('a follower gets the backlog, then each line as it is printed, and is unsubscribed when it goes away', async () => {
    const d = await startTestDaemon({ listen: true });
    await deploy(d, 'talker', 'def handle(r):\n    print("said", r.get_json()["n"])\n    return 1');
    expect((await call(d, 'talker', { n: 1 })).status).toBe(200);
    const { res, next, close } = await followRaw(d, 'talker');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/event-stream');
    expect(await next()).toMatchObject({ event: 'line', data: { line: 'said 1', request_id: expect.any(String), time: expect.any(String) } });
    expect(d.observability.logs.followerCount('talker')).toBe(1);
    const r2 = await call(d, 'talker', { n: 2 });
    expect(await next()).toMatchObject({ event: 'line', data: { line: 'said 2', request_id: r2.headers.get('x-faas-request-id') } });
    close();
    await until(() => d.observability.logs.followerCount('talker') === 0);
  });

  it('the stream ends with event end when the function is deleted', async () => {
    const d = await startTestDaemon({ listen: true });
    await deploy(d, 'doomed', 'def handle(r):\n    return 1');
    const next = sseReader(await follow(d, 'doomed'));
    await until(() => d.observability.logs.followerCount('doomed') === 1);
    expect((await fetch(`${d.url}/functions/doomed`, { method: 'DELETE', headers: AUTH })).status).toBe(204);
    expect(await next()).toEqual({ event: 'end', data: { reason: 'deleted' } });
    expect(await next()).toBeNull();
  });

  it('following an unknown function is a 404 and a bad follow value a 400, as JSON', async () => {
    const d = await startTestDaemon({ listen: true });
    const res = await follow(d, 'nobody');
    expect(res.status).toBe(404);
    expect(await res.json()).toMatchObject({ error: 'FunctionNotFound' });
    await deploy(d, 'somebody', 'def handle(r):\n    return 1');
    const bad = await fetch(`${d.url}/functions/somebody/logs?follow=maybe`, { headers: AUTH });
    expect(bad.status).toBe(400);
    expect((await fetch(`${d.url}/functions/somebody/logs?follow=true`)).status).toBe(401);
  });

  it('the daemon shuts down promptly with streams open, ending them with event end', async () => {
    const d = await startTestDaemon({ listen: true, config: { system: { shutdown_timeout: 20 } } });
    await deploy(d, 'watched', 'def handle(r):\n    return 1');
    const a = sseReader(await follow(d, 'watched'));
    const b = sseReader(await follow(d, 'watched'));
    await until(() => d.observability.logs.followerCount('watched') === 2);
    const t0 = Date.now();
    await d.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await a()).toEqual({ event: 'end', data: { reason: 'shutdown' } });
    expect(await b()).toEqual({ event: 'end', data: { reason: 'shutdown' } });
  });

  it('a client that stops reading costs bounded memory: lines past the buffer are dropped and counted, then delivery resumes', async () => {
    const d = await startTestDaemon({ listen: true });
    await deploy(d, 'firehose', 'def handle(r):\n    return 1');
    const { port } = new URL(d.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    sock.write('GET /functions/firehose/logs?follow=true HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer demo-key\r\n\r\n');
    await until(() => d.observability.logs.followerCount('firehose') === 1);
    sock.pause(); // reads nothing: the kernel buffers fill, then the response's own buffer
    const line = 'x'.repeat(1000);
    const pushed = 40_000; // 40 MB of events: far more than socket buffers and the 256 KiB limit
    for (let i = 0; i < pushed; i++) d.observability.logs.add('firehose', 'r', [line]);
    // a reader that catches up gets the count of what it missed, then new lines again
    let text = '';
    sock.on('data', (c: Buffer) => {
      text += c.toString('latin1');
    });
    sock.resume();
    await until(() => text.includes('event: dropped'), 10_000);
    d.observability.logs.add('firehose', 'r', ['after the flood']);
    await until(() => text.includes('after the flood'), 10_000);
    const dropped = Number(/event: dropped\ndata: \{"count":(\d+)\}/.exec(text)![1]);
    const delivered = text.split('event: line\n').length - 1;
    expect(dropped).toBeGreaterThan(0);
    expect(delivered + dropped).toBe(pushed + 1);
    expect(delivered).toBeLessThan(pushed / 2);
    sock.destroy();
    await until(() => d.observability.logs.followerCount('firehose') === 0);
  });
});
