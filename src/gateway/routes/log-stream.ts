// GET /functions/:name/logs?follow=true: a function's log lines as server-sent events. The
// backlog first, then every new line as it is printed (InvocationLogs pushes it; nothing polls),
// a `: ping` comment every 15 s so proxies keep the connection, and `event: end` when the
// function is deleted or the daemon shuts down.
//
// A slow reader: lines are written only while the response's buffer (ours plus the socket's)
// holds less than 256 KiB; past that they are dropped and counted, and once the reader catches
// up it gets `event: dropped` with the count before the next line. Memory per follower stays
// bounded whatever the client does; a reader that keeps up never loses a line.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { InvocationLogs, LogLine, LogSubscriber } from '../../observability/invocation-logs.js';

export const PING_MS = 15_000;
export const BUFFER_LIMIT = 256 * 1024;

export type EndReason = 'deleted' | 'shutdown';

/** The open streams of one gateway, ended all at once when it closes. */
export class LogStreams {
  private readonly open = new Set<LogStream>();

  start(req: FastifyRequest, reply: FastifyReply, logs: InvocationLogs, fn: string, backlog: readonly LogLine[]): void {
    const s = new LogStream(req, reply, backlog);
    this.open.add(s);
    const unsubscribe = logs.subscribe(fn, s);
    s.onClose(() => {
      unsubscribe();
      this.open.delete(s);
    });
  }

  /** Ends every stream (daemon shutdown: an open stream would hold the server's close forever). */
  endAll(reason: EndReason): void {
    for (const s of [...this.open]) s.end(reason);
  }

  get size(): number {
    return this.open.size;
  }
}

class LogStream implements LogSubscriber {
  private readonly res: FastifyReply['raw'];
  private dropped = 0;
  private ended = false;
  private readonly ping: NodeJS.Timeout;

  constructor(req: FastifyRequest, reply: FastifyReply, backlog: readonly LogLine[]) {
    // Hijacked: the response is ours to write for as long as the stream lasts.
    reply.hijack();
    this.res = reply.raw;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      // nginx would otherwise buffer the stream
      'x-accel-buffering': 'no',
      'x-faas-request-id': req.id,
    });
    // Headers and the backlog at once: the client knows it is following from here on.
    let head = ': following\n\n';
    for (const l of backlog) head += frame('line', l);
    this.res.write(head);
    this.ping = setInterval(() => this.send(': ping\n\n'), PING_MS);
    this.ping.unref();
    this.res.on('drain', () => this.flushDropped());
  }

  onClose(cb: () => void): void {
    this.res.once('close', () => {
      this.ended = true;
      clearInterval(this.ping);
      cb();
    });
  }

  line(l: LogLine): void {
    this.send(frame('line', l), true);
  }

  end(reason: EndReason): void {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.ping);
    this.res.end(frame('end', { reason }));
  }

  private send(text: string, counted = false): void {
    if (this.ended) return;
    if (this.res.writableLength >= BUFFER_LIMIT) {
      if (counted) this.dropped += 1;
      return;
    }
    this.flushDropped();
    this.res.write(text);
  }

  private flushDropped(): void {
    if (this.dropped === 0 || this.ended) return;
    const count = this.dropped;
    this.dropped = 0;
    this.res.write(frame('dropped', { count }));
  }
}

function frame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}
