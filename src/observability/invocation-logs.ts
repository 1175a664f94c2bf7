// What functions printed, per function, in a bounded ring (GET /functions/:name/logs).
export interface LogLine {
  time: string;
  request_id: string;
  line: string;
}

export class InvocationLogs {
  private readonly rings = new Map<string, LogLine[]>();

  constructor(private readonly perFunction = 1000) {}

  add(fn: string, requestId: string, lines: readonly string[]): void {
    if (lines.length === 0) return;
    let ring = this.rings.get(fn);
    if (!ring) this.rings.set(fn, (ring = []));
    const time = new Date().toISOString();
    for (const line of lines) ring.push({ time, request_id: requestId, line });
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

  forget(fn: string): void {
    this.rings.delete(fn);
  }
}
