// What the overview shows, polled from the public API every 2 s while the console is open:
// GET /stats, /functions, /instances and /stats/functions/:name. Rates come from the
// difference between two polls; the history (5 minutes) survives moving between screens.
import { useEffect, useState } from 'preact/hooks';
import type { Api, ApiError, FunctionSummary, Stats, Traffic } from './api';

export const POLL_MS = 2000;
const HISTORY_MS = 5 * 60_000;
/** Per-function stats are read for this many functions at most per poll. */
const MAX_FUNCTION_POLLS = 40;

export interface Sample {
  t: number;
  stats: Stats;
  instancesByMode: Record<string, number>;
}

interface FnSample {
  t: number;
  invocations: number;
  errors: number;
}

export interface FunctionRow extends Omit<FunctionSummary, 'stats'> {
  stats: Traffic | null;
  /** Errors / invocations over the last 5 minutes (or since the console opened); null: no calls. */
  errorRate: number | null;
  /** Calls per second over the last two polls. */
  rps: number;
}

export class Telemetry {
  samples: Sample[] = [];
  functions: FunctionSummary[] = [];
  modes: string[] = [];
  error: ApiError | null = null;
  loaded = false;
  private readonly fnHistory = new Map<string, FnSample[]>();
  private readonly fnStats = new Map<string, Traffic>();
  /** GET /functions?stats=true answers with each function's traffic (older daemons: one request per function). */
  private listHasStats = true;
  private readonly listeners = new Set<() => void>();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private running = false;

  constructor(private readonly api: Api) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Poll now (after a deploy, an invoke burst) rather than at the next tick. */
  refresh(): void {
    if (!this.running) return;
    if (this.timer) clearTimeout(this.timer);
    void this.tick();
  }

  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  rows(): FunctionRow[] {
    return this.functions.map((f) => {
      const h = this.fnHistory.get(f.name) ?? [];
      const last = h[h.length - 1];
      const first = h[0];
      const prev = h[h.length - 2];
      const calls = last && first ? last.invocations - first.invocations : 0;
      const errorRate = calls > 0 ? (last!.errors - first!.errors) / calls : null;
      const rps = last && prev && last.t > prev.t ? ((last.invocations - prev.invocations) * 1000) / (last.t - prev.t) : 0;
      return { ...f, stats: this.fnStats.get(f.name) ?? null, errorRate, rps };
    });
  }

  private async tick(): Promise<void> {
    this.timer = null;
    if (document.visibilityState === 'hidden') return this.schedule();
    try {
      const [stats, functions, instances] = await Promise.all([this.api.stats(), this.api.functions(this.listHasStats), this.api.instances()]);
      const t = Date.now();
      const instancesByMode: Record<string, number> = Object.fromEntries(Object.keys(stats.functions.by_mode).map((m) => [m, 0]));
      for (const i of instances) instancesByMode[i.mode] = (instancesByMode[i.mode] ?? 0) + 1;
      this.modes = Object.keys(instancesByMode);
      this.samples.push({ t, stats, instancesByMode });
      while (this.samples.length > 2 && this.samples[0]!.t < t - HISTORY_MS) this.samples.shift();
      this.functions = functions;
      const names = new Set(functions.map((f) => f.name));
      for (const n of this.fnHistory.keys()) if (!names.has(n)) this.fnHistory.delete(n);
      if (functions.some((f) => !f.stats)) this.listHasStats = false;
      const traffic = new Map<string, Traffic>();
      if (this.listHasStats) {
        for (const f of functions) traffic.set(f.name, f.stats!);
      } else {
        const polled = functions.slice(0, MAX_FUNCTION_POLLS);
        const results = await Promise.allSettled(polled.map((f) => this.api.fnStats(f.name)));
        results.forEach((r, i) => {
          if (r.status === 'fulfilled') traffic.set(polled[i]!.name, r.value);
        });
      }
      for (const [name, s] of traffic) {
        this.fnStats.set(name, s);
        const h = this.fnHistory.get(name) ?? [];
        h.push({ t, invocations: s.invocations.total, errors: s.invocations.errors });
        while (h.length > 2 && h[0]!.t < t - HISTORY_MS) h.shift();
        this.fnHistory.set(name, h);
      }
      this.error = null;
    } catch (err) {
      this.error = err as ApiError;
    }
    this.loaded = true;
    for (const l of this.listeners) l();
    this.schedule();
  }

  private schedule(): void {
    if (this.running && !this.timer) this.timer = setTimeout(() => void this.tick(), POLL_MS);
  }
}

/** Re-renders the caller after every poll. */
export function useTelemetry(t: Telemetry): Telemetry {
  const [, setN] = useState(0);
  useEffect(() => t.subscribe(() => setN((n) => n + 1)), [t]);
  return t;
}

/** Series for the charts, one point per pair of polls. */
export function chartData(samples: Sample[], modes: string[]) {
  const t: number[] = [];
  const rps: number[] = [];
  const errs: number[] = [];
  const p50: number[] = [];
  const p95: number[] = [];
  const warm: number[] = [];
  const cold: number[] = [];
  const prewarmed: number[] = [];
  const queued: number[] = [];
  const running: number[] = [];
  const byMode: number[][] = modes.map(() => []);
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!;
    const b = samples[i]!;
    const dt = Math.max(0.001, (b.t - a.t) / 1000);
    const calls = Math.max(0, b.stats.invocations.total - a.stats.invocations.total);
    const c = Math.max(0, b.stats.invocations.cold_starts - a.stats.invocations.cold_starts);
    const p = Math.max(0, b.stats.invocations.prewarmed_starts - a.stats.invocations.prewarmed_starts);
    t.push(b.t / 1000);
    rps.push(calls / dt);
    errs.push(Math.max(0, b.stats.invocations.errors - a.stats.invocations.errors) / dt);
    p50.push(b.stats.latency_ms.p50 ?? 0);
    p95.push(b.stats.latency_ms.p95 ?? 0);
    // Cold starts counted by /stats include those served by a pre-warmed instance.
    cold.push(Math.max(0, c - p));
    prewarmed.push(p);
    warm.push(Math.max(0, calls - c));
    queued.push(b.stats.async.queued);
    running.push(b.stats.async.running);
    for (const [j, m] of modes.entries()) byMode[j]!.push(b.instancesByMode[m] ?? 0);
  }
  return { t, rps, errs, p50, p95, warm, cold, prewarmed, queued, running, byMode };
}
