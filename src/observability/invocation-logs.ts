// What functions printed, per function, in a bounded ring (GET /functions/:name/logs), and the
// live feed of new lines for followers (GET /functions/:name/logs?follow=true).
export interface LogLine {
  time: string;
  request_id: string;
  line: string;
}

/** A follower of one function's lines. `end` is called once, when the function is deleted. */
export interface LogSubscriber {
  line(l: LogLine): void;
  end(reason: 'deleted'): void;
}

export class InvocationLogs {
  private readonly rings = new Map<string, LogLine[]>();
  private readonly followers = new Map<string, Set<LogSubscriber>>();

  constructor(private readonly perFunction = 1000) {}

  add(fn: string, requestId: string, lines: readonly string[]): void {
    if (lines.length === 0) return;
    let ring = this.rings.get(fn);
    if (!ring) this.rings.set(fn, (ring = []));
    const time = new Date().toISOString();
    const subs = this.followers.get(fn);
    for (const line of lines) {
      const l = { time, request_id: requestId, line };
      ring.push(l);
      if (subs) for (const s of subs) s.line(l);
    }
    if (ring.length > this.perFunction) ring.splice(0, ring.length - this.perFunction);
  }

  /** The last `limit` lines, optionally only those at or after `since`. */
  read(fn: string, limit: number, since?: Date): LogLine[] {
    let ring = this.rings.get(fn) ?? [];
    if (since) {
      const iso = since.toISOString();
      ring = ring.filter((l) => l.time >= iso);
    }
    return ring.slice(-limit);
  }

  /**
   * Every line `fn` prints from now on goes to `sub` (synchronously, from add(): a subscriber
   * must not block). Returns the unsubscribe function; calling it twice is harmless.
   */
  subscribe(fn: string, sub: LogSubscriber): () => void {
    let subs = this.followers.get(fn);
    if (!subs) this.followers.set(fn, (subs = new Set()));
    subs.add(sub);
    return () => {
      const cur = this.followers.get(fn);
      if (!cur) return;
      cur.delete(sub);
      if (cur.size === 0) this.followers.delete(fn);
    };
  }

  /** Followers of `fn` right now (tests, and a leak check after clients go away). */
  followerCount(fn?: string): number {
    if (fn !== undefined) return this.followers.get(fn)?.size ?? 0;
    let n = 0;
    for (const s of this.followers.values()) n += s.size;
    return n;
  }

  /** The function was deleted: its lines go, and its followers are told the stream is over. */
  forget(fn: string): void {
    this.rings.delete(fn);
    const subs = this.followers.get(fn);
    this.followers.delete(fn);
    if (subs) for (const s of subs) s.end('deleted');
  }
}
