// Closed-loop load with autocannon in the bench process. Latencies are taken from
// autocannon's per-response event (float ms from hrtime): its own histogram keeps whole
// milliseconds, too coarse for a 0.3 ms target.
import autocannon from 'autocannon';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CpuSampler, CpuSplit } from './cpu.js';
import { percentileSorted, sortedCopy, summarize, type Summary } from './stats.js';

export interface LoadSpec {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  connections: number;
  durationS: number;
}

export interface LoadRun {
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  ok: number;
  non2xx: number;
  errors: number;
}

export interface LoadFigure {
  connections: number;
  rps: Summary;
  p50: Summary;
  p95: Summary;
  p99: Summary;
  /** Totals over the measured runs. */
  ok: number;
  non2xx: number;
  errors: number;
  /** CPU per request during the measured runs, when a sampler was given. */
  cpu?: CpuSplit | null;
}

export async function runLoad(spec: LoadSpec): Promise<LoadRun> {
  const lat: number[] = [];
  let non2xx = 0;
  const t0 = performance.now();
  const instance = autocannon({
    url: spec.url,
    method: spec.method ?? 'POST',
    headers: spec.headers ?? {},
    ...(spec.body !== undefined ? { body: spec.body } : {}),
    connections: spec.connections,
    pipelining: 1,
    duration: spec.durationS,
    // autocannon checks for the end of a run when it samples: every 1 s by default, which
    // would round every run (and warm-up) up to whole seconds.
    sampleInt: 100,
    timeout: 30,
  });
  instance.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => {
    if (status >= 200 && status < 300) lat.push(ms);
    else non2xx += 1;
  });
  const result = await instance;
  // autocannon's duration (s) runs from its first request to its stop; ours includes connecting.
  const seconds = result.duration > 0 ? result.duration : (performance.now() - t0) / 1000;
  const s = sortedCopy(lat);
  return {
    rps: lat.length / seconds,
    p50: percentileSorted(s, 50),
    p95: percentileSorted(s, 95),
    p99: percentileSorted(s, 99),
    ok: lat.length,
    non2xx,
    errors: result.errors,
  };
}

/**
 * Closed loop like autocannon, but the clients start `staggerMs` apart instead of together.
 * With a slow function (0.5 s) clients that start together stay in lock-step: every call
 * arrives in a burst of N and finishes in a burst of N, so the tail measures how fast a burst
 * drains. Staggered, arrivals spread over the call time as independent clients' would.
 * Only calls started after the last client joined count.
 */
export async function runStaggered(spec: LoadSpec & { staggerMs: number }): Promise<LoadRun> {
  const url = new URL(spec.url);
  const body = spec.body ?? '';
  const headers = { ...(spec.headers ?? {}), 'content-length': String(Buffer.byteLength(body)) };
  const t0 = performance.now();
  const rampEnd = t0 + spec.connections * spec.staggerMs;
  const end = rampEnd + spec.durationS * 1000;
  const lat: number[] = [];
  let non2xx = 0;
  let errors = 0;
  const client = async (i: number) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await sleep(i * spec.staggerMs);
    try {
      while (performance.now() < end) {
        const start = performance.now();
        const status = await new Promise<number>((resolve) => {
          const req = http.request(url, { method: spec.method ?? 'POST', headers, agent, timeout: 30_000 }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          });
          req.on('timeout', () => req.destroy(new Error('timeout')));
          req.on('error', () => resolve(-1));
          req.end(body);
        });
        if (start < rampEnd) continue;
        if (status >= 200 && status < 300) lat.push(performance.now() - start);
        else if (status < 0) errors += 1;
        else non2xx += 1;
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: spec.connections }, (_, i) => client(i)));
  const s = sortedCopy(lat);
  return { rps: lat.length / ((performance.now() - rampEnd) / 1000), p50: percentileSorted(s, 50), p95: percentileSorted(s, 95), p99: percentileSorted(s, 99), ok: lat.length, non2xx, errors };
}

/** Warm-up, then `runs` measured runs; each metric is the median of the runs with min and max. */
export async function measureLoad(
  spec: Omit<LoadSpec, 'durationS'>,
  opts: { runs: number; durationS: number; warmupS: number; pauseMs?: number; cpu?: CpuSampler; run?: (spec: LoadSpec) => Promise<LoadRun> },
): Promise<LoadFigure> {
  const run = opts.run ?? runLoad;
  if (opts.warmupS > 0) await run({ ...spec, durationS: opts.warmupS });
  const runs: LoadRun[] = [];
  for (let i = 0; i < opts.runs; i++) {
    // A short pause lets sockets of the previous run close and the daemon's GC settle.
    await sleep(opts.pauseMs ?? 100);
    await opts.cpu?.before();
    runs.push(await run({ ...spec, durationS: opts.durationS }));
    opts.cpu?.after();
  }
  const ok = runs.reduce((a, r) => a + r.ok, 0);
  return {
    connections: spec.connections,
    rps: summarize(runs.map((r) => r.rps)),
    p50: summarize(runs.map((r) => r.p50)),
    p95: summarize(runs.map((r) => r.p95)),
    p99: summarize(runs.map((r) => r.p99)),
    ok,
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    ...(opts.cpu ? { cpu: opts.cpu.result(ok) } : {}),
  };
}
