// Counters and recent-latency windows behind GET /stats. Percentiles come from a bounded
// ring of the most recent samples (sorted on demand when /stats is read, never on the
// invoke path).
import type { InvocationEvent } from '../execution/events.js';

export class LatencyWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private filled = 0;

  constructor(size = 4096) {
    this.samples = new Float64Array(size);
  }

  add(v: number): void {
    this.samples[this.next] = v;
    this.next = (this.next + 1) % this.samples.length;
    if (this.filled < this.samples.length) this.filled += 1;
  }

  get count(): number {
    return this.filled;
  }

  /** Nearest-rank percentiles, rounded to 0.01 ms; null when empty. */
  percentiles(ps: readonly number[]): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    const sorted = this.samples.slice(0, this.filled).sort();
    for (const p of ps) {
      const key = `p${p}`;
      if (sorted.length === 0) out[key] = null;
      else out[key] = Math.round(sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! * 100) / 100;
    }
    return out;
  }
}

export interface FunctionCounters {
  invocations: number;
  errors: number;
  coldStarts: number;
  /** Cold starts served by a pre-warmed generic instance. */
  prewarmedStarts: number;
  latency: LatencyWindow;
  coldStartLatency: LatencyWindow;
}

export class StatsCollector {
  readonly startedAt = Date.now();
  private readonly perFunction = new Map<string, FunctionCounters>();
  private readonly all: FunctionCounters = StatsCollector.counters(8192);
  rateLimited = 0;

  private static counters(size = 2048): FunctionCounters {
    return { invocations: 0, errors: 0, coldStarts: 0, prewarmedStarts: 0, latency: new LatencyWindow(size), coldStartLatency: new LatencyWindow(512) };
  }

  record(e: InvocationEvent): void {
    let c = this.perFunction.get(e.function);
    if (!c) this.perFunction.set(e.function, (c = StatsCollector.counters()));
    for (const t of [c, this.all]) {
      t.invocations += 1;
      if (e.errorCode) t.errors += 1;
      t.latency.add(e.durationMs);
      if (e.coldStart) {
        t.coldStarts += 1;
        if (e.start === 'prewarmed') t.prewarmedStarts += 1;
        t.coldStartLatency.add(e.durationMs);
      }
    }
  }

  forget(fn: string): void {
    this.perFunction.delete(fn);
  }

  totals(): FunctionCounters {
    return this.all;
  }

  of(fn: string): FunctionCounters | null {
    return this.perFunction.get(fn) ?? null;
  }
}
