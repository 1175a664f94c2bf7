// `node --import tsx bench/async.ts [--quick]`: the asynchronous path (POST /async, the job
// queue on SQLite, the dispatcher) measured against the synchronous one in the same run, on a
// real faasd in a child process (bench/lib/daemon.ts: temp config, registry and key, process
// mode, the driver's default isolation). Three figures, each the median of several runs with
// min and max, and paired per run with its sync baseline (the machine is shared and noisy, so
// ratios to a baseline measured a moment earlier are what carries over):
//   1. enqueue: 202 req/s, p50, p99 at 1 and 16 connections, next to POST /invoke;
//   2. end to end: N trivial jobs enqueued as fast as possible until the last one succeeded,
//      next to N sync calls at enough concurrency to saturate the sync path;
//   3. fairness: another function's sync calls (1 connection) with and without a 5,000-job
//      backlog being worked; reported against "a few ms at p95", never asserted.
// Writes <out>/results/<date>-<host>-async.json and <out>/ASYNC.md (default out: bench/).
import autocannon from 'autocannon';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CpuSampler } from './lib/cpu.js';
import { Faasd } from './lib/daemon.js';
import { ECHO_BODY, echoCode, sleepCode } from './lib/functions.js';
import { errorMessage } from './lib/http.js';
import { runLoad, type LoadRun } from './lib/load.js';
import { commitInfo, loadAverage, machineInfo, type CommitInfo, type MachineInfo } from './lib/machine.js';
import { BENCH_DIR, daemonEntryFlag, numberFlag, parseFlags, switchFlag, valueFlag } from './lib/options.js';
import type { Outcome } from './lib/results.js';
import { percentileSorted, round, sortedCopy, summarize, type Summary } from './lib/stats.js';
import { SqliteJobStore } from '../src/jobs/sqlite-job-store.js';
import { RegistryStore } from '../src/registry/store.js';

// ---------------------------------------------------------------------------------------------
// Options

interface AsyncBenchOptions {
  quick: boolean;
  outDir: string;
  runs: number;
  /** Seconds per measured enqueue / sync load run. */
  durationS: number;
  warmupS: number;
  enqueueConnections: number[];
  /** Jobs (and sync calls) per end-to-end run. */
  jobs: number;
  /** Runs of the end-to-end figure: more than the others in a full run, because its sync runs last well under a second. */
  e2eRuns: number;
  /** In-flight calls of the end-to-end runs: the sync callers, the enqueuers, and the raised async.concurrency. */
  e2eConnections: number;
  /** Jobs queued for function A when function B's fairness window starts. */
  backlog: number;
  /** Longest fairness window, seconds (it also ends when A's backlog is gone). */
  fairnessS: number;
  /** "A few ms at p95": the largest p95 increase counted as met. */
  fairnessThresholdMs: number;
  daemonEntry: 'auto' | 'src' | 'dist';
  /** Only write <out>/ASYNC.md again from this results JSON (after editing the report's text). */
  render: string | null;
}

const USAGE = `usage: node --import tsx bench/async.ts [options]
  --quick               short run: 1 s load runs, 300 jobs end to end, a 1,000-job backlog, 2 s fairness windows
  --runs N              measured runs per figure (default 3, end to end 5 (quick 3); the median is reported)
  --jobs N              jobs (and sync calls) per end-to-end run (default 2000, quick 300)
  --backlog N           function A's queued jobs during the fairness window (default 5000, quick 1000)
  --threshold MS        fairness: largest p95 increase counted as met (default 5)
  --out DIR             write DIR/ASYNC.md and DIR/results/<date>-<host>-async.json (default bench/)
  --daemon auto|src|dist  as for bench/run.ts
  --render FILE         measure nothing: write <out>/ASYNC.md again from a results JSON this script wrote`;

function parseOptions(argv: string[]): AsyncBenchOptions {
  const quick = argv.includes('--quick');
  const o: AsyncBenchOptions = {
    quick,
    outDir: BENCH_DIR,
    runs: 3,
    durationS: quick ? 1 : 3,
    warmupS: quick ? 0.5 : 1,
    enqueueConnections: [1, 16],
    jobs: quick ? 300 : 2000,
    e2eRuns: quick ? 3 : 5,
    e2eConnections: 32,
    backlog: quick ? 1000 : 5000,
    fairnessS: quick ? 2 : 5,
    fairnessThresholdMs: 5,
    daemonEntry: 'auto',
    render: null,
  };
  const num = (flag: string, v: string | undefined, min: number) => numberFlag(flag, v, min, USAGE);
  parseFlags(argv, USAGE, {
    '--quick': switchFlag(() => {}),
    '--runs': valueFlag((v) => {
      o.runs = Math.round(num('--runs', v, 1));
      o.e2eRuns = Math.max(o.runs, o.e2eRuns);
    }),
    '--jobs': valueFlag((v) => (o.jobs = Math.round(num('--jobs', v, 64)))),
    '--backlog': valueFlag((v) => (o.backlog = Math.round(num('--backlog', v, 16)))),
    '--threshold': valueFlag((v) => (o.fairnessThresholdMs = num('--threshold', v, 0))),
    '--out': valueFlag((v) => (o.outDir = path.resolve(v ?? '.'))),
    '--daemon': valueFlag((v) => (o.daemonEntry = daemonEntryFlag(v, USAGE))),
    '--render': valueFlag((v) => (o.render = path.resolve(v ?? ''))),
  });
  return o;
}

// ---------------------------------------------------------------------------------------------
// Results

/** The system-wide async defaults this run leaves in place (README "Asynchronous invocations"). */
const ASYNC_DEFAULTS = { concurrency: 4, max_running: 32 } as const;

interface LoadStats {
  rps: Summary;
  p50: Summary;
  p99: Summary;
  ok: number;
  non2xx: number;
  errors: number;
}

interface EnqueueFigure {
  connections: number;
  async: LoadStats;
  sync: LoadStats;
  /** Per run: async / sync (a run of each, back to back). */
  ratio_rps: Summary;
  ratio_p50: Summary;
  ratio_p99: Summary;
  /** Jobs still queued or running when the enqueue run ended (the dispatcher works while it runs), and how long they took to drain. */
  left_in_queue: Summary;
  drain_s: Summary;
}

interface CompletionStats {
  /** Jobs (or calls) completed per second, first request sent to last job finished. */
  per_s: Summary;
  total_s: Summary;
  /** Async only: the enqueue part (all N 202s received), as req/s. */
  enqueue_per_s?: Summary;
  /** faasd's own CPU (the daemon process, not the function instances) per job or call. */
  daemon_cpu_us: Summary;
  /** Async only: jobs that ended failed, and attempts beyond one per job, over all runs (both should be 0). */
  failed?: number;
  extra_attempts?: number;
}

interface CompletionFigure {
  n: number;
  connections: number;
  /** async.concurrency of the function: the default (4). */
  async_default: CompletionStats;
  /** async.concurrency raised to the sync path's concurrency (per function config; max_running stays 32). */
  async_raised: CompletionStats;
  sync: CompletionStats;
  ratio_default: Summary;
  ratio_raised: Summary;
}

interface ProbeStats {
  p50: Summary;
  p95: Summary;
  p99: Summary;
  calls: number;
  non2xx: number;
  errors: number;
  window_s: Summary;
}

/** B's calls while A has work queued, paired per run with the baseline of the same run. */
interface LoadedFairness {
  /** What A's jobs are. */
  a_function: string;
  /** Jobs enqueued for A per run before B's window (the dispatcher drains while they go in). */
  enqueued: Summary;
  enqueue_per_s: Summary;
  /** A's queued jobs when B's window started and when it ended. */
  queued_at_start: Summary;
  queued_at_end: Summary;
  /** A's jobs worked off per second during B's window (the queued drop over the window). */
  a_drain_per_s: Summary;
  probe: ProbeStats;
  p50_diff_ms: Summary;
  p95_diff_ms: Summary;
  p95_ratio: Summary;
  verdict: 'met' | 'missed';
}

interface FairnessFigure {
  backlog_target: number;
  threshold_ms: number;
  window_max_s: number;
  baseline: ProbeStats;
  /**
   * A's jobs take 20 ms each (a Python sleep), so the dispatcher cannot work the backlog off
   * while it is queued: B's window starts with at least `backlog_target` queued and keeps
   * most of them. The figure the target is about.
   */
  backlog: LoadedFairness;
  /**
   * A's jobs are the trivial echo: the dispatcher works them off nearly as fast as they are
   * queued (so fewer than `backlog_target` are queued when the window starts, and it ends when
   * the queue is empty). The most dispatcher work per second: the worst case for the event loop.
   */
  churn: LoadedFairness;
}

/** The queue's statements at a given backlog, timed in-process on a registry like the daemon's (no HTTP, no daemon). */
interface QueueCostRow {
  /** Jobs queued for one function. */
  queued: number;
  /** Median µs of one call. */
  enqueue_same_fn_us: number;
  enqueue_other_fn_us: number;
  /** One dispatcher pass's listing of the functions with due jobs. */
  due_functions_us: number;
  /** Claim the oldest job, then finish it (the two other transactions of a job). */
  claim_finish_us: number;
  /** The queue part of GET /stats and of every /metrics scrape. */
  stats_us: number;
}

interface Verdict {
  target: string;
  value: string;
  status: 'met' | 'missed' | 'not measured';
  note?: string;
}

interface AsyncBenchResults {
  schema: 1;
  kind: 'async';
  quick: boolean;
  started_at: string;
  finished_at: string;
  duration_s: number;
  options: Omit<AsyncBenchOptions, 'outDir' | 'quick' | 'render'>;
  machine: MachineInfo;
  commit: CommitInfo;
  load_average: { start: number[]; end: number[] };
  daemon: {
    entry: string;
    isolation: string;
    log_level: string;
    async_defaults: typeof ASYNC_DEFAULTS;
    functions: Record<string, { role: string; config: Record<string, unknown> }>;
  };
  enqueue: Outcome<EnqueueFigure[]>;
  completion: Outcome<CompletionFigure>;
  fairness: Outcome<FairnessFigure>;
  queue_cost: Outcome<QueueCostRow[]>;
  verdicts: Verdict[];
}

// ---------------------------------------------------------------------------------------------
// Helpers

const t0 = Date.now();
function log(msg: string): void {
  process.stderr.write(`[async ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
}

const JSON_HEADERS = { 'content-type': 'application/json' };

function loadStats(runs: LoadRun[]): LoadStats {
  return {
    rps: summarize(runs.map((r) => r.rps)),
    p50: summarize(runs.map((r) => r.p50)),
    p99: summarize(runs.map((r) => r.p99)),
    ok: runs.reduce((a, r) => a + r.ok, 0),
    non2xx: runs.reduce((a, r) => a + r.non2xx, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
  };
}

function ratios(a: number[], b: number[]): Summary {
  return summarize(a.map((v, i) => v / b[i]!));
}

/** The async queue of each function with work, from GET /stats (one SQL aggregate in the daemon). */
async function queueOf(faasd: Faasd): Promise<Map<string, { queued: number; running: number }>> {
  const res = await faasd.client.request('GET', '/stats');
  if (res.status !== 200) throw new Error(`GET /stats: ${res.status} ${errorMessage(res)}`);
  const j = JSON.parse(res.body) as { async?: { functions: { function: string; queued: number; running: number }[] } };
  return new Map((j.async?.functions ?? []).map((f) => [f.function, { queued: f.queued, running: f.running }]));
}

/** Waits until no function has queued or running jobs; returns the seconds it took. */
async function waitDrained(faasd: Faasd, timeoutMs = 300_000, pollMs = 50): Promise<number> {
  const start = performance.now();
  const end = Date.now() + timeoutMs;
  for (;;) {
    const q = await queueOf(faasd);
    if (q.size === 0) return (performance.now() - start) / 1000;
    if (Date.now() > end) throw new Error(`async queue not drained after ${timeoutMs / 1000} s: ${JSON.stringify(Object.fromEntries(q))}`);
    await sleep(pollMs);
  }
}

/** faasd_async_jobs_total by status and faasd_async_attempts_total of one function, from /metrics. */
async function jobCounters(faasd: Faasd, fn: string): Promise<{ succeeded: number; failed: number; attempts: number }> {
  const res = await faasd.client.request('GET', '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  const out = { succeeded: 0, failed: 0, attempts: 0 };
  for (const line of res.body.split('\n')) {
    if (!line.includes(`function="${fn}"`)) continue;
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (line.startsWith('faasd_async_jobs_total{')) {
      if (line.includes('status="succeeded"')) out.succeeded += value;
      else if (line.includes('status="failed"')) out.failed += value;
    } else if (line.startsWith('faasd_async_attempts_total{')) out.attempts += value;
  }
  return out;
}

/** The latest finished_at (epoch ms) among a function's newest jobs: jobs are claimed FIFO, so the last to finish is among the last queued. */
async function lastFinishedAt(faasd: Faasd, fn: string): Promise<number> {
  const res = await faasd.client.request('GET', `/invocations?function=${fn}&limit=200`);
  if (res.status !== 200) throw new Error(`GET /invocations: ${res.status} ${errorMessage(res)}`);
  const list = (JSON.parse(res.body) as { invocations: { finished_at: string | null }[] }).invocations;
  return Math.max(...list.map((j) => (j.finished_at ? Date.parse(j.finished_at) : 0)));
}

interface Burst {
  /** Wall ms from the start to the last response. */
  ms: number;
  ok: number;
  /** Non-2xx answers by status. */
  bad: Record<string, number>;
  errors: number;
}

/** Exactly `amount` POSTs over `connections` keep-alive connections, as fast as they are answered (autocannon). */
async function burst(url: string, headers: Record<string, string>, body: string, connections: number, amount: number): Promise<Burst> {
  let ok = 0;
  const bad: Record<string, number> = {};
  let last = 0;
  const start = performance.now();
  // `amount` is autocannon's, missing from bench/types/autocannon.d.ts (a non-literal skips the excess-property check).
  const opts = { url, method: 'POST', headers, body, connections: Math.min(connections, amount), pipelining: 1, amount, timeout: 60, sampleInt: 100 };
  const instance = autocannon(opts);
  instance.on('response', (_c: unknown, status: number) => {
    last = performance.now();
    if (status >= 200 && status < 300) ok += 1;
    else bad[status] = (bad[status] ?? 0) + 1;
  });
  const result = await instance;
  return { ms: last - start, ok, bad, errors: result.errors };
}

function describeBad(b: Burst): string {
  const parts = Object.entries(b.bad).map(([s, n]) => `${n}x ${s}`);
  if (b.errors) parts.push(`${b.errors} errors`);
  return parts.join(', ');
}

interface Probe {
  lat: Float64Array;
  windowS: number;
  non2xx: number;
  errors: number;
}

/**
 * One client calling `url` back to back over one keep-alive connection for up to `durationS`,
 * or until `stop()` says so (checked between calls). The first calls (connect, JIT) are not
 * counted. Latency: request written to response end, float ms.
 */
async function probe(url: string, headers: Record<string, string>, body: string, durationS: number, stop: () => boolean): Promise<Probe> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const u = new URL(url);
  const h = { ...headers, 'content-length': String(Buffer.byteLength(body)) };
  const call = () =>
    new Promise<number>((resolve) => {
      const req = http.request(u, { method: 'POST', headers: h, agent, timeout: 30_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(-1));
      req.end(body);
    });
  try {
    for (let i = 0; i < 5; i++) await call();
    const lat: number[] = [];
    let non2xx = 0;
    let errors = 0;
    const start = performance.now();
    const end = start + durationS * 1000;
    while (performance.now() < end && !stop()) {
      const s = performance.now();
      const status = await call();
      if (status >= 200 && status < 300) lat.push(performance.now() - s);
      else if (status < 0) errors += 1;
      else non2xx += 1;
    }
    return { lat: sortedCopy(lat), windowS: (performance.now() - start) / 1000, non2xx, errors };
  } finally {
    agent.destroy();
  }
}

/** Polls A's queue every `everyMs` while `fn` runs (the same polling with and without a backlog, so both windows pay for it). */
async function withQueuePoll<T>(faasd: Faasd, fnName: string, everyMs: number, body: (latest: () => { queued: number; running: number } | null) => Promise<T>) {
  let latest: { queued: number; running: number } | null = null;
  let stopped = false;
  const poller = (async () => {
    while (!stopped) {
      const q = await queueOf(faasd);
      latest = q.get(fnName) ?? { queued: 0, running: 0 };
      await sleep(everyMs);
    }
  })();
  try {
    return await body(() => latest);
  } finally {
    stopped = true;
    await poller;
  }
}

async function section<T>(what: string, errors: string[], fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    return { status: 'ok', data: await fn() };
  } catch (e) {
    const msg = (e as Error).message;
    errors.push(`${what}: ${msg}`);
    log(`${what}: error: ${(e as Error).stack ?? msg}`);
    return { status: 'error', reason: msg };
  }
}

// ---------------------------------------------------------------------------------------------
// Figures

interface Names {
  a: string;
  b: string;
  e: string;
}

/** Figure 1: POST /async/A vs POST /invoke/A, autocannon, per connection count; the queue drained before every run. */
async function enqueueFigure(faasd: Faasd, opts: AsyncBenchOptions, fn: string): Promise<EnqueueFigure[]> {
  const headers = { ...JSON_HEADERS, ...faasd.authHeader };
  const asyncUrl = `${faasd.url}/async/${fn}`;
  const syncUrl = `${faasd.url}/invoke/${fn}`;
  const out: EnqueueFigure[] = [];
  for (const c of opts.enqueueConnections) {
    // Warm-up of both paths at this concurrency (V8, SQLite page cache, instances).
    await runLoad({ url: asyncUrl, headers, body: ECHO_BODY, connections: c, durationS: opts.warmupS });
    await waitDrained(faasd);
    await runLoad({ url: syncUrl, headers, body: ECHO_BODY, connections: c, durationS: opts.warmupS });
    const a: LoadRun[] = [];
    const s: LoadRun[] = [];
    const left: number[] = [];
    const drain: number[] = [];
    for (let i = 0; i < opts.runs; i++) {
      const runAsync = async () => {
        await waitDrained(faasd);
        await sleep(200);
        const r = await runLoad({ url: asyncUrl, headers, body: ECHO_BODY, connections: c, durationS: opts.durationS });
        const q = (await queueOf(faasd)).get(fn);
        left.push((q?.queued ?? 0) + (q?.running ?? 0));
        drain.push(await waitDrained(faasd));
        a.push(r);
      };
      const runSync = async () => {
        await sleep(200);
        s.push(await runLoad({ url: syncUrl, headers, body: ECHO_BODY, connections: c, durationS: opts.durationS }));
      };
      // Alternate which path goes first, so a drift of the machine does not favour one.
      if (i % 2 === 0) {
        await runAsync();
        await runSync();
      } else {
        await runSync();
        await runAsync();
      }
      log(
        `enqueue c${c} run ${i + 1}: async ${Math.round(a[i]!.rps)} req/s p50 ${a[i]!.p50.toFixed(2)} p99 ${a[i]!.p99.toFixed(2)} ms (${left[i]} left, drained in ${drain[i]!.toFixed(1)} s); ` +
          `sync ${Math.round(s[i]!.rps)} req/s p50 ${s[i]!.p50.toFixed(2)} p99 ${s[i]!.p99.toFixed(2)} ms`,
      );
    }
    const fig: EnqueueFigure = {
      connections: c,
      async: loadStats(a),
      sync: loadStats(s),
      ratio_rps: ratios(
        a.map((r) => r.rps),
        s.map((r) => r.rps),
      ),
      ratio_p50: ratios(
        a.map((r) => r.p50),
        s.map((r) => r.p50),
      ),
      ratio_p99: ratios(
        a.map((r) => r.p99),
        s.map((r) => r.p99),
      ),
      left_in_queue: summarize(left),
      drain_s: summarize(drain),
    };
    if (fig.async.non2xx + fig.async.errors + fig.sync.non2xx + fig.sync.errors > 0) {
      log(`enqueue c${c}: async ${fig.async.non2xx} non-2xx / ${fig.async.errors} errors, sync ${fig.sync.non2xx} non-2xx / ${fig.sync.errors} errors`);
    }
    out.push(fig);
  }
  return out;
}

interface CompletionRun {
  perS: number;
  totalS: number;
  enqueuePerS?: number;
  cpuUs: number;
  failed?: number;
  extraAttempts?: number;
}

/** N jobs enqueued at `connections` as fast as they are accepted; done when the last one has finished (its finished_at). */
async function completionAsync(faasd: Faasd, fn: string, n: number, connections: number): Promise<CompletionRun> {
  await waitDrained(faasd);
  await sleep(200);
  const before = await jobCounters(faasd, fn);
  const cpu = new CpuSampler(faasd.pid, null);
  await cpu.before();
  const wallStart = Date.now();
  const start = performance.now();
  const b = await burst(`${faasd.url}/async/${fn}`, { ...JSON_HEADERS, ...faasd.authHeader }, ECHO_BODY, connections, n);
  if (b.ok !== n) throw new Error(`enqueue of ${n} jobs to ${fn}: ${b.ok} accepted (${describeBad(b)})`);
  // Poll until nothing of fn is queued or running (a 20 ms tick); the end time is the last job's finished_at.
  for (;;) {
    const q = (await queueOf(faasd)).get(fn);
    if (!q) break;
    if (performance.now() - start > 300_000) throw new Error(`${fn}: ${q.queued} queued and ${q.running} running after 300 s`);
    await sleep(20);
  }
  const seenDone = performance.now();
  cpu.after();
  const lastMs = (await lastFinishedAt(faasd, fn)) - wallStart;
  const totalMs = Math.min(lastMs, seenDone - start);
  const after = await jobCounters(faasd, fn);
  const succeeded = after.succeeded - before.succeeded;
  const failed = after.failed - before.failed;
  const extraAttempts = after.attempts - before.attempts - (succeeded + failed);
  if (succeeded + failed !== n) throw new Error(`${fn}: ${succeeded} succeeded and ${failed} failed of ${n}`);
  return {
    perS: n / (totalMs / 1000),
    totalS: totalMs / 1000,
    enqueuePerS: n / (b.ms / 1000),
    cpuUs: cpu.result(n)?.server_us_per_req ?? Number.NaN,
    failed,
    extraAttempts,
  };
}

/** N sync calls at `connections`. */
async function completionSync(faasd: Faasd, fn: string, n: number, connections: number): Promise<CompletionRun> {
  await waitDrained(faasd);
  await sleep(200);
  const cpu = new CpuSampler(faasd.pid, null);
  await cpu.before();
  const b = await burst(`${faasd.url}/invoke/${fn}`, { ...JSON_HEADERS, ...faasd.authHeader }, ECHO_BODY, connections, n);
  cpu.after();
  if (b.ok !== n) throw new Error(`${n} sync calls to ${fn}: ${b.ok} ok (${describeBad(b)})`);
  return { perS: n / (b.ms / 1000), totalS: b.ms / 1000, cpuUs: cpu.result(n)?.server_us_per_req ?? Number.NaN };
}

function completionStats(runs: CompletionRun[]): CompletionStats {
  const out: CompletionStats = {
    per_s: summarize(runs.map((r) => r.perS)),
    total_s: summarize(runs.map((r) => r.totalS)),
    daemon_cpu_us: summarize(runs.map((r) => r.cpuUs)),
  };
  if (runs[0]?.enqueuePerS !== undefined) {
    out.enqueue_per_s = summarize(runs.map((r) => r.enqueuePerS!));
    out.failed = runs.reduce((a, r) => a + (r.failed ?? 0), 0);
    out.extra_attempts = runs.reduce((a, r) => a + (r.extraAttempts ?? 0), 0);
  }
  return out;
}

/** Figure 2: N jobs end to end at the default async.concurrency and at a raised one, next to N sync calls; the order rotates per run. */
async function completionFigure(faasd: Faasd, opts: AsyncBenchOptions, names: Names): Promise<CompletionFigure> {
  const n = opts.jobs;
  const c = opts.e2eConnections;
  // Warm-up: a short pass of each (instances up to max_instances, V8).
  const warm = Math.max(64, Math.round(n / 5));
  await completionSync(faasd, names.e, warm, c);
  await completionAsync(faasd, names.a, warm, c);
  await completionAsync(faasd, names.e, warm, c);
  const runs = { def: [] as CompletionRun[], raised: [] as CompletionRun[], sync: [] as CompletionRun[] };
  const steps: [keyof typeof runs, () => Promise<CompletionRun>][] = [
    ['def', () => completionAsync(faasd, names.a, n, c)],
    ['raised', () => completionAsync(faasd, names.e, n, c)],
    ['sync', () => completionSync(faasd, names.e, n, c)],
  ];
  for (let i = 0; i < opts.e2eRuns; i++) {
    for (let k = 0; k < steps.length; k++) {
      const [key, step] = steps[(i + k) % steps.length]!;
      runs[key].push(await step());
    }
    const f = (r: CompletionRun) => `${Math.round(r.perS)}/s in ${r.totalS.toFixed(2)} s${r.enqueuePerS ? ` (enqueue ${Math.round(r.enqueuePerS)}/s)` : ''}, daemon ${Math.round(r.cpuUs)} µs CPU each`;
    log(`completion run ${i + 1}, ${n} each: async c${ASYNC_DEFAULTS.concurrency} ${f(runs.def[i]!)}; async c${c} ${f(runs.raised[i]!)}; sync c${c} ${f(runs.sync[i]!)}`);
  }
  return {
    n,
    connections: c,
    async_default: completionStats(runs.def),
    async_raised: completionStats(runs.raised),
    sync: completionStats(runs.sync),
    ratio_default: ratios(
      runs.def.map((r) => r.perS),
      runs.sync.map((r) => r.perS),
    ),
    ratio_raised: ratios(
      runs.raised.map((r) => r.perS),
      runs.sync.map((r) => r.perS),
    ),
  };
}

interface LoadedRun {
  probe: Probe;
  enqueued: number;
  enqueuePerS: number;
  queuedStart: number;
  queuedEnd: number;
  drainPerS: number;
}

/**
 * Enqueues jobs for `fn` over 16 connections (`topUp`: again, until at least `backlog` are
 * queued, at most 6 rounds), then runs B's window while they are worked off; the window ends
 * after `fairnessS` or when fn's queue is empty.
 */
async function loadedRun(faasd: Faasd, opts: AsyncBenchOptions, fn: string, bUrl: string, topUp: boolean): Promise<LoadedRun> {
  const headers = { ...JSON_HEADERS, ...faasd.authHeader };
  let sent = 0;
  let sentMs = 0;
  let queued = 0;
  for (let round = 0; round < (topUp ? 6 : 1); round++) {
    const want = round === 0 ? opts.backlog : opts.backlog - queued + Math.ceil(opts.backlog * 0.02);
    const b = await burst(`${faasd.url}/async/${fn}`, headers, ECHO_BODY, 16, want);
    if (b.ok !== want) throw new Error(`backlog enqueue to ${fn}: ${b.ok} of ${want} accepted (${describeBad(b)})`);
    sent += want;
    sentMs += b.ms;
    queued = (await queueOf(faasd)).get(fn)?.queued ?? 0;
    if (queued >= opts.backlog) break;
  }
  const windowStart = performance.now();
  const probeRun = await withQueuePoll(faasd, fn, 200, (latest) => probe(bUrl, headers, ECHO_BODY, opts.fairnessS, () => latest()?.queued === 0));
  const queuedEnd = (await queueOf(faasd)).get(fn)?.queued ?? 0;
  const windowS = (performance.now() - windowStart) / 1000;
  return { probe: probeRun, enqueued: sent, enqueuePerS: sent / (sentMs / 1000), queuedStart: queued, queuedEnd, drainPerS: (queued - queuedEnd) / windowS };
}

const p50 = (x: Probe) => percentileSorted(x.lat, 50);
const p95 = (x: Probe) => percentileSorted(x.lat, 95);

function probeStats(ps: Probe[]): ProbeStats {
  return {
    p50: summarize(ps.map(p50)),
    p95: summarize(ps.map(p95)),
    p99: summarize(ps.map((x) => percentileSorted(x.lat, 99))),
    calls: ps.reduce((a, x) => a + x.lat.length, 0),
    non2xx: ps.reduce((a, x) => a + x.non2xx, 0),
    errors: ps.reduce((a, x) => a + x.errors, 0),
    window_s: summarize(ps.map((x) => x.windowS)),
  };
}

function loadedStats(aFunction: string, runs: LoadedRun[], base: Probe[], thresholdMs: number): LoadedFairness {
  const diff = summarize(runs.map((r, i) => p95(r.probe) - p95(base[i]!)));
  return {
    a_function: aFunction,
    enqueued: summarize(runs.map((r) => r.enqueued)),
    enqueue_per_s: summarize(runs.map((r) => r.enqueuePerS)),
    queued_at_start: summarize(runs.map((r) => r.queuedStart)),
    queued_at_end: summarize(runs.map((r) => r.queuedEnd)),
    a_drain_per_s: summarize(runs.map((r) => r.drainPerS)),
    probe: probeStats(runs.map((r) => r.probe)),
    p50_diff_ms: summarize(runs.map((r, i) => p50(r.probe) - p50(base[i]!))),
    p95_diff_ms: diff,
    p95_ratio: summarize(runs.map((r, i) => p95(r.probe) / p95(base[i]!))),
    verdict: diff.median <= thresholdMs ? 'met' : 'missed',
  };
}

/** A's function for the backlog variant: each job takes 20 ms, so a queue of thousands lasts. */
const SLOW_A_CODE = sleepCode('python', 0.02);
const SLOW_A_DESC = 'Python, time.sleep(0.02) per job, async.concurrency 4 (default): at most ~200 jobs/s, so the backlog outlasts the window';

/**
 * Figure 3: B's sync calls (1 connection) with no async work, then while A has a backlog
 * being worked, in two variants (see FairnessFigure); paired per run. A's slow function is
 * deleted after each run (its queued jobs are cancelled in one statement) and deployed anew.
 */
async function fairnessFigure(faasd: Faasd, opts: AsyncBenchOptions, names: Names, slowName: (run: number) => string): Promise<FairnessFigure> {
  const headers = { ...JSON_HEADERS, ...faasd.authHeader };
  const bUrl = `${faasd.url}/invoke/${names.b}`;
  const base: Probe[] = [];
  const slow: LoadedRun[] = [];
  const churn: LoadedRun[] = [];
  const f = (x: Probe) => `p50 ${p50(x).toFixed(2)} p95 ${p95(x).toFixed(2)} ms (${x.lat.length} calls, ${x.windowS.toFixed(1)} s)`;
  const a = (r: LoadedRun) => `A queued ${r.queuedStart} -> ${r.queuedEnd} (${r.enqueued} enqueued at ${Math.round(r.enqueuePerS)}/s, ${Math.round(r.drainPerS)}/s worked off in the window)`;
  // Warm-up of B on its own.
  await probe(bUrl, headers, ECHO_BODY, opts.warmupS, () => false);
  for (let i = 0; i < opts.runs; i++) {
    const slowFn = slowName(i);
    await deployOrThrow(faasd, slowFn, {}, SLOW_A_CODE);
    await waitDrained(faasd);
    await sleep(300);
    base.push(await withQueuePoll(faasd, names.a, 200, () => probe(bUrl, headers, ECHO_BODY, opts.fairnessS, () => false)));
    log(`fairness run ${i + 1}: B alone ${f(base[i]!)}`);

    slow.push(await loadedRun(faasd, opts, slowFn, bUrl, true));
    log(`fairness run ${i + 1}: B with A's 20 ms jobs backlog ${f(slow[i]!.probe)}; ${a(slow[i]!)}`);
    await faasd.remove(slowFn);
    await waitDrained(faasd);
    await sleep(300);

    churn.push(await loadedRun(faasd, opts, names.a, bUrl, false));
    log(`fairness run ${i + 1}: B with A's trivial jobs being worked off ${f(churn[i]!.probe)}; ${a(churn[i]!)}`);
    await waitDrained(faasd);
  }
  return {
    backlog_target: opts.backlog,
    threshold_ms: opts.fairnessThresholdMs,
    window_max_s: opts.fairnessS,
    baseline: probeStats(base),
    backlog: loadedStats(SLOW_A_DESC, slow, base, opts.fairnessThresholdMs),
    churn: loadedStats('the trivial Python echo, async.concurrency 4 (default)', churn, base, opts.fairnessThresholdMs),
  };
}

/** Median µs of `fn`, called up to `max` times or for about 300 ms (at least 5 calls). */
function medianUs(fn: () => void, max = 200): number {
  const lat: number[] = [];
  const end = performance.now() + 300;
  while (lat.length < max && (lat.length < 5 || performance.now() < end)) {
    const t = performance.now();
    fn();
    lat.push((performance.now() - t) * 1000);
  }
  return summarize(lat).median;
}

/**
 * Figure 4: what the queue's statements cost as one function's backlog grows, on a temp
 * registry opened as the daemon opens it (RegistryStore: WAL, synchronous NORMAL) with the
 * daemon's SqliteJobStore. The backlog is grown by copying queued rows in SQL (enqueueing
 * 100,000 jobs one by one would itself pay the growing count).
 */
async function queueCostFigure(): Promise<QueueCostRow[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasd-bench-async-sql-'));
  const registry = new RegistryStore(path.join(dir, 'registry.db'));
  try {
    const db = registry.database;
    const store = new SqliteJobStore(db);
    const job = (fn: string) => ({
      function: fn,
      trigger: 'api' as const,
      request: { method: 'POST', path: '/', query: {}, headers: { 'content-type': 'application/json' } },
      body: Buffer.from(ECHO_BODY),
      idempotencyKey: null,
      maxAttempts: 3,
      callbackUrl: null,
    });
    // Copies get distinct times (up to ~3 h older), as jobs enqueued one by one would: the
    // claim orders by (next_run_at, created_at, id), and equal times would make it sort them all.
    const grow = db.prepare(
      `INSERT INTO jobs (id, function, status, request, body, trigger, attempts, max_attempts, next_run_at, created_at)
       SELECT lower(hex(randomblob(16))), function, status, request, body, trigger, attempts, max_attempts, t, t
       FROM (SELECT *, created_at - 1 - abs(random() % 10000000) AS t FROM jobs WHERE function = 'a' AND status = 'queued' LIMIT ?)`,
    );
    const queued = () => store.stats().find((q) => q.function === 'a')?.queued ?? 0;
    store.enqueue(job('a'), Date.now(), Number.MAX_SAFE_INTEGER);
    const rows: QueueCostRow[] = [];
    for (const size of [100, 1000, 5000, 20_000, 100_000]) {
      for (let q = queued(); q < size; q = queued()) grow.run(size - q);
      const row: QueueCostRow = {
        queued: size,
        enqueue_same_fn_us: medianUs(() => store.enqueue(job('a'), Date.now(), Number.MAX_SAFE_INTEGER), 100),
        enqueue_other_fn_us: medianUs(() => store.enqueue(job('b'), Date.now(), Number.MAX_SAFE_INTEGER), 100),
        due_functions_us: medianUs(() => store.dueFunctions(Date.now())),
        claim_finish_us: medianUs(() => {
          const j = store.claim('a', Date.now());
          if (j) store.finish(j.id, 'succeeded', Date.now(), { result: { status: 200, headers: {}, body: Buffer.from(ECHO_BODY), truncated: false } });
        }, 100),
        stats_us: medianUs(() => store.stats(), 50),
      };
      // Function b stands for another function with little work: its jobs go again.
      db.prepare(`DELETE FROM jobs WHERE function = 'b'`).run();
      rows.push(row);
      log(
        `queue statements at ${size.toLocaleString('en-US')} queued: enqueue ${Math.round(row.enqueue_same_fn_us)} µs (same function) / ${Math.round(row.enqueue_other_fn_us)} µs (other), ` +
          `dispatcher listing ${Math.round(row.due_functions_us)} µs, claim+finish ${Math.round(row.claim_finish_us)} µs, stats ${Math.round(row.stats_us)} µs`,
      );
      await sleep(0);
    }
    return rows;
  } finally {
    registry.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Report

const fx = (v: number, d = 2) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const fi = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-');
const spread = (s: Summary, f: (v: number) => string) => `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;
const ms = (s: Summary) => spread(s, (v) => fx(v));
const rate = (s: Summary) => spread(s, fi);
const ratio = (s: Summary) => spread(s, (v) => fx(v));

function verdicts(r: AsyncBenchResults): Verdict[] {
  const t = r.options.fairnessThresholdMs;
  const n = r.options.backlog.toLocaleString('en-US');
  const targets = {
    backlog: `fairness: B's sync p95 rises by <= ${t} ms ("a few ms") while A has a ${n}-job backlog (A's jobs 20 ms each)`,
    churn: `fairness, worst case: B's sync p95 rises by <= ${t} ms while ${n} trivial jobs of A are worked off as fast as they go`,
  };
  if (r.fairness.status !== 'ok') return Object.values(targets).map((target) => ({ target, value: '-', status: 'not measured', note: r.fairness.status === 'ok' ? '' : r.fairness.reason }));
  const f = r.fairness.data;
  const one = (target: string, v: LoadedFairness): Verdict => ({
    target,
    value: `${v.p95_diff_ms.median >= 0 ? '+' : ''}${fx(v.p95_diff_ms.median)} ms (${fx(f.baseline.p95.median)} -> ${fx(v.probe.p95.median)} ms, x${fx(v.p95_ratio.median)})`,
    status: v.verdict,
    note: `per run ${v.p95_diff_ms.runs.map((x) => `${x >= 0 ? '+' : ''}${fx(x)}`).join(', ')} ms; A had ${fi(v.queued_at_start.median)} jobs queued when the window started, ${fi(v.queued_at_end.median)} when it ended (${fx(v.probe.window_s.median, 1)} s)`,
  });
  return [one(targets.backlog, f.backlog), one(targets.churn, f.churn)];
}

function renderMarkdown(r: AsyncBenchResults, jsonRel: string): string {
  const m = r.machine;
  const L: string[] = [];
  const cmd = `node --import tsx bench/async.ts${r.quick ? ' --quick' : ''}`;
  L.push('# faasd asynchronous invocations: benchmark');
  L.push('');
  L.push(
    `Written by \`${cmd}\` on ${r.started_at.slice(0, 16).replace('T', ' ')} UTC in ${r.duration_s} s; the raw figures are in [${jsonRel}](${jsonRel}). ` +
      `Every figure is the median of ${r.options.runs} runs with [min–max]; each async run is paired with a sync run made right before or after it ` +
      'and the ratios are the medians of those per-run ratios (the machine is shared: absolute figures move between runs, ratios much less). ' +
      'Latencies are client-side, closed loop, keep-alive, in ms. The fairness target is reported, never asserted.',
  );
  L.push('');
  L.push('## Machine');
  L.push('');
  L.push('| | |');
  L.push('|---|---|');
  L.push(`| host | ${m.host} |`);
  L.push(`| CPU | ${m.cores} cores, ${m.cpu_model} |`);
  L.push(`| memory | ${(m.memory_bytes / 2 ** 30).toFixed(1)} GiB |`);
  L.push(`| kernel / OS | ${m.kernel} / ${m.os} |`);
  L.push(`| Node / Python | ${m.node} / ${m.python ?? '-'} |`);
  L.push(`| commit | \`${r.commit.hash}\`${r.commit.uncommitted_files ? ` (+${r.commit.uncommitted_files} uncommitted files in src/ and runtimes/: others edit the tree concurrently)` : ''} |`);
  L.push(`| load average (1/5/15 min) at start / end | ${r.load_average.start.map((v) => v.toFixed(2)).join(' / ')} — ${r.load_average.end.map((v) => v.toFixed(2)).join(' / ')} |`);
  L.push(
    `| faasd | child process (${r.daemon.entry === 'dist' ? '`node bin/faasd.js`' : 'src/ through tsx'}), process mode, isolation ${r.daemon.isolation}, log level ${r.daemon.log_level} to a file, one key with no rate limit |`,
  );
  L.push(
    `| async settings | system defaults left as they are (concurrency ${ASYNC_DEFAULTS.concurrency}, max_running ${ASYNC_DEFAULTS.max_running}); the "raised" function sets \`async.concurrency: ${r.options.e2eConnections}\` in its own config |`,
  );
  L.push('| functions | trivial Python echo (`return request.get_json()`), default config (max_instances 10), one JSON body of 42 bytes |');
  L.push('| load generator | autocannon (figures 1, 2) and one Node http client (figure 3) in the bench process, on the same 2 cores as faasd and its instances |');
  L.push('');
  L.push('## Verdicts');
  L.push('');
  L.push('| target | value | result |');
  L.push('|---|---|---|');
  for (const v of r.verdicts) L.push(`| ${v.target} | ${v.value} | **${v.status}**${v.note ? ` (${v.note})` : ''} |`);
  L.push('');
  L.push('## Figures');
  L.push('');
  L.push('### 1. Enqueue: `POST /async/<fn>` (202) next to `POST /invoke/<fn>` (200)');
  L.push('');
  if (r.enqueue.status === 'ok') {
    L.push(
      `${r.options.durationS} s per run after a ${r.options.warmupS} s warm-up; the queue is empty when each async run starts and the dispatcher works it off meanwhile (at async.concurrency ${ASYNC_DEFAULTS.concurrency}).`,
    );
    L.push('');
    L.push('| connections | path | req/s | p50 ms | p99 ms | async / sync req/s | async / sync p50 | async / sync p99 | jobs left at the end (drained in s) |');
    L.push('|---:|---|---:|---:|---:|---:|---:|---:|---:|');
    for (const f of r.enqueue.data) {
      L.push(
        `| ${f.connections} | async (202) | ${rate(f.async.rps)} | ${ms(f.async.p50)} | ${ms(f.async.p99)} | ${ratio(f.ratio_rps)} | ${ratio(f.ratio_p50)} | ${ratio(f.ratio_p99)} | ${fi(f.left_in_queue.median)} (${fx(f.drain_s.median, 1)}) |`,
      );
      L.push(`| ${f.connections} | sync (200) | ${rate(f.sync.rps)} | ${ms(f.sync.p50)} | ${ms(f.sync.p99)} | | | | |`);
    }
  } else L.push(`Not measured: ${r.enqueue.reason}`);
  L.push('');
  L.push('### 2. End to end: N trivial jobs until the last one succeeded, next to N sync calls');
  L.push('');
  if (r.completion.status === 'ok') {
    const c = r.completion.data;
    L.push(
      `N = ${c.n.toLocaleString('en-US')} per run, ${r.options.e2eRuns} runs (a sync run lasts well under a second, so its spread is the widest here). Async: enqueued over ${c.connections} connections as fast as they are accepted; the time runs from the first request to the last job's \`finished_at\`. ` +
        `Sync: ${c.connections} connections (the sync path is saturated from 16 on, bench/RESULTS.md). Daemon CPU: the faasd process only (its instances not counted), per job or call.`,
    );
    L.push('');
    L.push('| path | completed / s | x sync | time for N, s | enqueue part, req/s | daemon CPU per job, µs |');
    L.push('|---|---:|---:|---:|---:|---:|');
    const row = (label: string, s: CompletionStats, rt: Summary | null) =>
      `| ${label} | ${rate(s.per_s)} | ${rt ? ratio(rt) : '1'} | ${ms(s.total_s)} | ${s.enqueue_per_s ? rate(s.enqueue_per_s) : '-'} | ${rate(s.daemon_cpu_us)} |`;
    L.push(row(`async, async.concurrency ${ASYNC_DEFAULTS.concurrency} (default)`, c.async_default, c.ratio_default));
    L.push(row(`async, async.concurrency ${c.connections} (raised)`, c.async_raised, c.ratio_raised));
    L.push(row(`sync, ${c.connections} connections`, c.sync, null));
    const failed = (c.async_default.failed ?? 0) + (c.async_raised.failed ?? 0);
    const extra = (c.async_default.extra_attempts ?? 0) + (c.async_raised.extra_attempts ?? 0);
    L.push('');
    L.push(`Every job succeeded on its first attempt: ${failed === 0 && extra === 0 ? 'yes' : `no (${failed} failed, ${extra} extra attempts)`}.`);
  } else L.push(`Not measured: ${r.completion.reason}`);
  L.push('');
  L.push(`### 3. Fairness: function B's sync calls while function A has a ${r.options.backlog.toLocaleString('en-US')}-job backlog`);
  L.push('');
  if (r.fairness.status === 'ok') {
    const f = r.fairness.data;
    L.push(
      `B (the trivial echo): 1 connection, back to back, for up to ${f.window_max_s} s; both windows of a run poll GET /stats every 200 ms. ` +
        `Baseline: no async work. Backlog: A's jobs sleep 20 ms each, so at A's default async.concurrency (${ASYNC_DEFAULTS.concurrency}) fewer than 200 a second are worked off; ` +
        `they are enqueued (and topped up) until at least ${f.backlog_target.toLocaleString('en-US')} are queued, then B's window runs while the backlog is worked. ` +
        `Worst case (churn): ${f.backlog_target.toLocaleString('en-US')} trivial echo jobs of A enqueued at once; the dispatcher works them off nearly as fast as they come, ` +
        "so fewer are queued when B's window starts, and the window ends when A's queue is empty. Differences and ratios are per run against that run's baseline.",
    );
    L.push('');
    L.push('| B sync, 1 connection | p50 ms | p95 ms | p99 ms | p95 - baseline, ms | p95 / baseline | calls | window s | A queued at start → end | A worked off, jobs/s |');
    L.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    L.push(`| baseline (no async work) | ${ms(f.baseline.p50)} | ${ms(f.baseline.p95)} | ${ms(f.baseline.p99)} | | | ${fi(f.baseline.calls)} | ${ms(f.baseline.window_s)} | 0 | 0 |`);
    const row = (label: string, v: LoadedFairness) =>
      `| ${label} | ${ms(v.probe.p50)} | ${ms(v.probe.p95)} | ${ms(v.probe.p99)} | ${ms(v.p95_diff_ms)} | ${ratio(v.p95_ratio)} | ${fi(v.probe.calls)} | ${ms(v.probe.window_s)} | ${fi(v.queued_at_start.median)} → ${fi(v.queued_at_end.median)} | ${rate(v.a_drain_per_s)} |`;
    L.push(row("A's backlog (20 ms jobs)", f.backlog));
    L.push(row("A's trivial jobs being worked off (churn)", f.churn));
    L.push('');
    L.push(
      `Enqueueing A's jobs (16 connections, before B's window): ${rate(f.backlog.enqueued)} jobs at ${rate(f.backlog.enqueue_per_s)} req/s for the backlog, ${rate(f.churn.enqueued)} at ${rate(f.churn.enqueue_per_s)} req/s for the churn.`,
    );
  } else L.push(`Not measured: ${r.fairness.reason}`);
  L.push('');
  L.push("### 4. The queue's statements as one function's backlog grows");
  L.push('');
  if (r.queue_cost.status === 'ok') {
    L.push(
      "Timed in the bench process after the daemon stopped, on a temp registry opened as faasd opens it (RegistryStore: WAL, `synchronous = NORMAL`) with faasd's own SqliteJobStore; median µs of one call. " +
        "These run synchronously on the daemon's event loop: while one runs, nothing else (no sync call of any function) makes progress.",
    );
    L.push('');
    L.push('| jobs queued for function A | enqueue to A | enqueue to B | dispatcher pass: list functions with due jobs | claim + finish a job of A | queue stats (GET /stats, each /metrics scrape) |');
    L.push('|---:|---:|---:|---:|---:|---:|');
    for (const q of r.queue_cost.data)
      L.push(`| ${fi(q.queued)} | ${fi(q.enqueue_same_fn_us)} | ${fi(q.enqueue_other_fn_us)} | ${fi(q.due_functions_us)} | ${fi(q.claim_finish_us)} | ${fi(q.stats_us)} |`);
  } else L.push(`Not measured: ${r.queue_cost.reason}`);
  L.push('');
  L.push('## What bounds each figure');
  L.push('');
  for (const p of boundsText(r)) {
    L.push(p);
    L.push('');
  }
  return `${L.join('\n').trimEnd()}\n`;
}

/** The paragraphs on bounds, with this run's numbers where they say something. */
function boundsText(r: AsyncBenchResults): string[] {
  const out: string[] = [];
  const e = r.enqueue.status === 'ok' ? r.enqueue.data : null;
  const c = r.completion.status === 'ok' ? r.completion.data : null;
  const f = r.fairness.status === 'ok' ? r.fairness.data : null;
  const q = r.queue_cost.status === 'ok' ? r.queue_cost.data : null;
  /** Figure 4's row nearest to `n` queued jobs. */
  const near = (n: number) => q?.reduce((best, row) => (Math.abs(row.queued - n) < Math.abs(best.queued - n) ? row : best));
  const lo = e?.[0];
  const hi = e?.[e.length - 1];
  const q5k = near(5000);
  const qMax = q?.[q.length - 1];
  out.push(
    "**Enqueue.** A 202 is one SQLite write transaction on the registry database: a read of the function's queued count (for `max_queue`: one row of job_counts, kept by triggers), the insert, a read-back of the row. " +
      'With WAL and `synchronous = NORMAL` the commit appends to the WAL without an fsync (only checkpoints sync), so it costs CPU on the event loop, not disk latency. ' +
      'Then it kicks the dispatcher: one pass per event-loop turn, which lists the functions with due jobs (one index seek per function with queued jobs; none at all when async.max_running is reached). ' +
      'Neither the count nor the listing grows with the backlog' +
      (q5k && qMax
        ? ` (figure 4: ${fi(q5k.enqueue_same_fn_us)} and ${fi(q5k.due_functions_us)} µs at ${fi(q5k.queued)} queued, ${fi(qMax.enqueue_same_fn_us)} and ${fi(qMax.due_functions_us)} µs at ${fi(qMax.queued)}, the default max_queue)`
        : '') +
      '. ' +
      (lo && hi
        ? `At ${lo.connections} connection the dispatcher keeps up (${fi(lo.left_in_queue.median)} left in the queue when a run ends), so every 202 is followed by its job's claim, call and finish on the same loop: enqueueing runs at ${fx(lo.ratio_rps.median)} x the sync rate. ` +
          `At ${hi.connections} connections the queue grows (${fi(hi.left_in_queue.median)} jobs left after ${r.options.durationS} s, worked off in ${fx(hi.drain_s.median, 1)} s) and the dispatcher shares the loop with the 202s: ${fx(hi.ratio_rps.median)} x the sync rate.`
        : ''),
  );
  out.push(
    "**End to end.** A job costs the daemon three write transactions (enqueue; claim: select the function's oldest due job, mark it running, read it back; finish: store the result), " +
      'the same pool call as a sync invoke, and a dispatcher pass after each finish (the listing, then one claim per function per round). ' +
      `The dispatcher is woken by every enqueue and every finish (coalesced to one pass per event-loop turn), otherwise every 250 ms; at most async.concurrency (default ${ASYNC_DEFAULTS.concurrency}) jobs of a function and async.max_running (${ASYNC_DEFAULTS.max_running}) of all run at once. ` +
      (c
        ? `Here the daemon spent ${fi(c.async_default.daemon_cpu_us.median)} µs of CPU per job at the default concurrency and ${fi(c.async_raised.daemon_cpu_us.median)} µs at ${c.connections} (consistent with more finishes sharing a pass), against ${fi(c.sync.daemon_cpu_us.median)} µs per sync call: ` +
          `a single function's trivial jobs complete at ${fx(c.ratio_default.median)} x the sync rate at the default concurrency and ${fx(c.ratio_raised.median)} x raised. The daemon's CPU per job, on its one event loop, is the bound, not the function or the pool: the completion rates move with the machine, the CPU per job much less.`
        : ''),
  );
  const cpuPerJob = c?.async_default.daemon_cpu_us.median ?? Number.NaN;
  out.push(
    "**Fairness.** B's sync calls never wait in a queue behind A's jobs: A's jobs take at most async.concurrency of A's instances, and B has its own pool. " +
      "What B shares with them is the daemon's one event loop (A's claims, finishes and dispatcher passes run there between B's requests, each synchronous) and the two cores (A's instances run the jobs). " +
      "So the cost to B follows the rate at which A's jobs are worked off times the daemon's CPU per job. " +
      (f
        ? `With ${fi(f.backlog.queued_at_start.median)} of A's 20 ms jobs queued, ${fi(f.backlog.a_drain_per_s.median)} a second were worked off, each finish followed by a dispatcher pass ` +
          `(its listing ${fi(near(f.backlog.queued_at_start.median)?.due_functions_us ?? Number.NaN)} µs at that backlog, figure 4), and B's p95 moved by ${fx(f.backlog.p95_diff_ms.median)} ms (x${fx(f.backlog.p95_ratio.median)}). ` +
          `A's trivial jobs were worked off at ${fi(f.churn.a_drain_per_s.median)} a second: at figure 2's ${fi(cpuPerJob)} µs of daemon CPU per job that is ${fx((f.churn.a_drain_per_s.median * cpuPerJob) / 1e6)} s of daemon CPU per second ` +
          `(figure 2's CPU includes the daemon's helper threads; its event loop gives at most 1), ${(f.churn.a_drain_per_s.median * cpuPerJob) / 1e6 >= 0.6 ? 'most of what the loop can do' : 'a large share of the loop'}, ` +
          `so B's calls mostly wait for it: B's p50 went from ${fx(f.baseline.p50.median)} to ${fx(f.churn.probe.p50.median)} ms and its p95 by ${fx(f.churn.p95_diff_ms.median)} ms (x${fx(f.churn.p95_ratio.median)}). ` +
          "async.concurrency bounds how many of A's jobs run at once, not how much of the daemon's loop their bookkeeping takes; with trivial jobs, 4 at once are enough to fill it."
        : ''),
  );
  return out;
}

function writeOutputs(opts: AsyncBenchOptions, results: AsyncBenchResults): { md: string; json: string } {
  const host = results.machine.host.replace(/[^A-Za-z0-9_.-]/g, '_');
  const json = path.join(opts.outDir, 'results', `${results.started_at.slice(0, 10)}-${host}-async.json`);
  const md = path.join(opts.outDir, 'ASYNC.md');
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, `${JSON.stringify(results, roundReplacer, 2)}\n`);
  fs.writeFileSync(md, renderMarkdown(results, path.relative(opts.outDir, json)));
  return { md, json };
}

/** Four decimals are plenty for ms, ratios and rates. */
function roundReplacer(_k: string, v: unknown): unknown {
  return typeof v === 'number' && !Number.isInteger(v) ? round(v, 4) : v;
}

// ---------------------------------------------------------------------------------------------
// Main

async function deployOrThrow(faasd: Faasd, name: string, config: Record<string, unknown>, code = echoCode('python')): Promise<void> {
  const r = await faasd.deploy(name, 'python', code, { execution_mode: 'process', ...config });
  if (!r.ok) throw new Error(`deploying ${name}: ${r.message}`);
  const first = await faasd.invoke(name, JSON.parse(ECHO_BODY));
  if (first.status !== 200) throw new Error(`first invoke of ${name}: ${first.status} ${first.body.slice(0, 300)}`);
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  if (opts.render) {
    const saved = JSON.parse(fs.readFileSync(opts.render, 'utf8')) as AsyncBenchResults;
    const md = path.join(opts.outDir, 'ASYNC.md');
    fs.writeFileSync(md, renderMarkdown(saved, path.relative(opts.outDir, opts.render)));
    log(`wrote ${md} from ${opts.render}`);
    return 0;
  }
  const startedAt = new Date(t0).toISOString();
  const loadStart = loadAverage();
  log(`${opts.quick ? 'quick' : 'full'} run, load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}`);
  const faasd = await Faasd.start({ entry: opts.daemonEntry, maxConcurrentFunctions: 1000, cpuProfDir: null });
  log(`faasd (pid ${faasd.pid}, ${faasd.entry}) listening at ${faasd.url}`);
  const stopOnSignal = (sig: NodeJS.Signals) => {
    log(`${sig}: stopping faasd`);
    void Promise.allSettled([...Faasd.running].map((d) => d.stop())).finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const suffix = Date.now().toString(36).slice(-4);
  const names: Names = { a: `async-a-${suffix}`, b: `async-b-${suffix}`, e: `async-e-${suffix}` };
  const fnConfigs: Record<string, { role: string; config: Record<string, unknown> }> = {
    [names.a]: { role: 'enqueue figure; end to end at the default async.concurrency; the fairness figure, churn variant (trivial jobs worked off as they come)', config: {} },
    [`async-s-${suffix}-<run>`]: { role: `the fairness figure, backlog variant, one per run (deleted after it): ${SLOW_A_DESC}`, config: {} },
    [names.b]: { role: "the fairness figure: sync calls measured with and without A's backlog", config: {} },
    [names.e]: { role: 'end to end: sync calls, and async at a raised async.concurrency', config: { async: { concurrency: opts.e2eConnections } } },
  };
  const { outDir: _o, quick: _q, render: _r, ...shownOptions } = opts;
  const results: AsyncBenchResults = {
    schema: 1,
    kind: 'async',
    quick: opts.quick,
    started_at: startedAt,
    finished_at: '',
    duration_s: 0,
    options: shownOptions,
    machine: machineInfo(),
    commit: commitInfo(),
    load_average: { start: loadStart, end: [] },
    daemon: { entry: faasd.entry, isolation: 'unknown', log_level: faasd.logLevel, async_defaults: ASYNC_DEFAULTS, functions: fnConfigs },
    enqueue: { status: 'skipped', reason: 'not run' },
    completion: { status: 'skipped', reason: 'not run' },
    fairness: { status: 'skipped', reason: 'not run' },
    queue_cost: { status: 'skipped', reason: 'not run' },
    verdicts: [],
  };
  const errors: string[] = [];
  try {
    const health = await faasd.health();
    const isolation = /isolation (\w+)/.exec(health.drivers.process?.detail ?? '');
    if (isolation) results.daemon.isolation = isolation[1]!;
    for (const name of [names.a, names.b, names.e]) await deployOrThrow(faasd, name, fnConfigs[name]!.config);
    log(`deployed ${names.a}, ${names.b}, ${names.e} (process/python echo)`);
    results.enqueue = await section('enqueue', errors, () => enqueueFigure(faasd, opts, names.a));
    results.completion = await section('completion', errors, () => completionFigure(faasd, opts, names));
    results.fairness = await section('fairness', errors, () => fairnessFigure(faasd, opts, names, (i) => `async-s-${suffix}-${i + 1}`));
  } finally {
    log('stopping faasd');
    const keepLog = errors.length > 0 ? path.join(os.tmpdir(), `faasd-bench-async-${startedAt.replace(/[:.]/g, '-')}.log`) : undefined;
    await faasd.stop(keepLog).catch((e: Error) => log(`faasd stop: ${e.message}`));
    if (keepLog) log(`${errors.length} figure(s) failed: the daemon's log is kept at ${keepLog}`);
  }
  // In-process, after the daemon has stopped: it has the cores to itself (and the machine's other users).
  results.queue_cost = await section('queue statements', errors, () => queueCostFigure());
  results.load_average.end = loadAverage();
  results.finished_at = new Date().toISOString();
  results.duration_s = Math.round((Date.now() - t0) / 1000);
  results.verdicts = verdicts(results);
  const out = writeOutputs(opts, results);
  log(`wrote ${out.md} and ${out.json}`);
  for (const v of results.verdicts) process.stderr.write(`  ${v.status.padEnd(12)} ${v.target}: ${v.value}${v.note ? ` (${v.note})` : ''}\n`);
  return errors.length > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench/async.ts failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
