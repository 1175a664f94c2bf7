// Prometheus metrics (prom-client), one registry per daemon so two daemons can share a
// process (tests). faasd's own names, plus the OpenFaaS gateway names so existing OpenFaaS
// dashboards and alerts work unchanged.
import client from 'prom-client';
import type { MetricsSource } from '../execution/api.js';
import type { InstanceUsage } from '../execution/driver.js';
import type { InvocationEvent } from '../execution/events.js';
import { CollectedMetric, FastCounter, FastHistogram, shared, type CounterHandle, type HistogramHandle } from './series.js';

interface InvocationSeries {
  invocations: CounterHandle;
  duration: HistogramHandle;
  queueWait: HistogramHandle;
  ofInvocations: CounterHandle;
  ofSeconds: HistogramHandle;
}

/**
 * prom-client's default metrics include these gauges, whose `_total` suffix Prometheus keeps
 * for counters (promtool check metrics flags them). The same counts, split by handle /
 * request / resource type, stay as faasd_nodejs_active_handles (etc.) without the suffix:
 * `sum without (type) (...)` is the total.
 */
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The async queue as metrics see it (jobs/ reports it; structural, so no import upward). */
export interface AsyncQueueSample {
  function: string;
  queued: number;
  running: number;
  /** ms since the epoch of the oldest queued job. */
  oldestQueuedAt: number | null;
}

export class Metrics {
  readonly registry = new client.Registry();
  private readonly invocations: FastCounter;
  private readonly duration: FastHistogram;
  private readonly coldStarts: FastCounter;
  private readonly queueWait: FastHistogram;
  private readonly rateLimited;
  private readonly ofInvocations: FastCounter;
  private readonly ofSeconds: FastHistogram;
  private readonly series = new Map<string, InvocationSeries>();

  private readonly asyncJobs: FastCounter;
  private readonly asyncAttempts: FastCounter;
  private asyncQueue: () => readonly AsyncQueueSample[] = () => [];

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'faasd_' });
    for (const name of MISNAMED_DEFAULT_GAUGES) this.registry.removeSingleMetric(`faasd_${name}`);

    // Updated on every invocation: FastCounter/FastHistogram (series.ts), read at scrape time.
    this.invocations = new FastCounter('faasd_invocations_total', 'Invocations by function, mode and HTTP status code', ['function', 'mode', 'code']).registerIn(this.registry);
    this.duration = new FastHistogram('faasd_invocation_duration_seconds', 'Invocation duration at the gateway, by function and mode', ['function', 'mode'], DURATION_BUCKETS).registerIn(
      this.registry,
    );
    this.coldStarts = new FastCounter('faasd_cold_starts_total', 'Invocations that waited for a new instance, by how it started (cold or prewarmed)', ['function', 'mode', 'kind']).registerIn(
      this.registry,
    );
    this.queueWait = new FastHistogram('faasd_queue_wait_seconds', 'Time an invocation waited for an instance', ['function'], DURATION_BUCKETS).registerIn(this.registry);
    this.rateLimited = new client.Counter({ name: 'faasd_rate_limited_total', help: 'Requests refused with 429, by API key name', labelNames: ['key'], registers });

    new client.Gauge({
      name: 'faasd_instances',
      help: 'Instances by function, mode and state',
      labelNames: ['function', 'mode', 'state'],
      registers,
      collect() {
        this.reset();
        const counts = new Map<string, { labels: { function: string; mode: string; state: string }; n: number }>();
        for (const i of source.instanceStates()) {
          const k = `${i.function}\0${i.mode}\0${i.state}`;
          const e = counts.get(k);
          if (e) e.n += 1;
          else counts.set(k, { labels: { function: i.function, mode: i.mode, state: i.state }, n: 1 });
        }
        for (const { labels, n } of counts.values()) this.set(labels, n);
      },
    });
    new client.Gauge({
      name: 'faasd_queue_depth',
      help: 'Invocations waiting for an instance, by function',
      labelNames: ['function'],
      registers,
      collect() {
        this.reset();
        for (const q of source.queueDepths()) this.set({ function: q.function }, q.depth);
      },
    });
    // `instance_id`, not `instance`: Prometheus sets `instance` on every series to the scrape
    // target and would rename ours `exported_instance`. CPU and memory come from one read of
    // the instances' cgroups per scrape; CPU time is cumulative, hence a counter.
    const usage = shared(async () => {
      const out: { labels: { function: string; mode: string; instance_id: string }; usage: InstanceUsage }[] = [];
      for (const u of await source.instanceUsage()) if (u.usage) out.push({ labels: { function: u.function, mode: u.mode, instance_id: u.instance }, usage: u.usage });
      return out;
    });
    new CollectedMetric('faasd_instance_cpu_seconds_total', 'CPU time used by an instance (cgroup), by function, mode and instance id', 'counter', async () =>
      (await usage()).map((u) => ({ labels: u.labels, value: u.usage.cpuSeconds })),
    ).registerIn(this.registry);
    new CollectedMetric('faasd_instance_memory_bytes', 'Memory used by an instance (cgroup), by function, mode and instance id', 'gauge', async () =>
      (await usage()).map((u) => ({ labels: u.labels, value: u.usage.memoryBytes })),
    ).registerIn(this.registry);

    // The async queue: read from the job store at scrape time; finished jobs counted as they end.
    this.asyncJobs = new FastCounter('faasd_async_jobs_total', 'Asynchronous invocations ended, by function and final status (succeeded, failed)', ['function', 'status']).registerIn(this.registry);
    this.asyncAttempts = new FastCounter('faasd_async_attempts_total', 'Runs of ended asynchronous invocations (first runs and retries), by function', ['function']).registerIn(this.registry);
    const queueGauge = (name: string, help: string, value: (q: AsyncQueueSample, now: number) => number | null) =>
      new CollectedMetric(name, help, 'gauge', async () => {
        const now = Date.now();
        return this.asyncQueue().flatMap((q) => {
          const v = value(q, now);
          return v === null ? [] : [{ labels: { function: q.function }, value: v }];
        });
      }).registerIn(this.registry);
    queueGauge('faasd_async_queue_depth', 'Asynchronous invocations queued, by function', (q) => q.queued);
    queueGauge('faasd_async_running', 'Asynchronous invocations running, by function', (q) => q.running);
    queueGauge('faasd_async_oldest_job_age_seconds', 'Age of the queued asynchronous invocation next in line (the oldest, but for retries waiting out a backoff), by function', (q, now) =>
      q.oldestQueuedAt === null ? null : (now - q.oldestQueuedAt) / 1000,
    );

    // OpenFaaS gateway compatibility: the names exactly as the OpenFaaS gateway spells them,
    // so its dashboards and alerts work unchanged. promtool warns that gateway_service_count,
    // a gauge, ends in `_count` (a histogram/summary suffix); expected, and kept.
    this.ofInvocations = new FastCounter('gateway_function_invocation_total', 'Function invocations (OpenFaaS-compatible)', ['function_name', 'code']).registerIn(this.registry);
    this.ofSeconds = new FastHistogram('gateway_functions_seconds', 'Function time taken (OpenFaaS-compatible)', ['function_name', 'code'], DURATION_BUCKETS).registerIn(this.registry);
    new client.Gauge({
      name: 'gateway_service_count',
      help: 'Instances per function (OpenFaaS-compatible replica count)',
      labelNames: ['function_name'],
      registers,
      collect() {
        this.reset();
        const n = new Map<string, number>();
        for (const i of source.instanceStates()) if (i.state !== 'stopping') n.set(i.function, (n.get(i.function) ?? 0) + 1);
        for (const [fn, c] of n) this.set({ function_name: fn }, c);
      },
    });
  }

  invocation(e: InvocationEvent): void {
    const seconds = e.durationMs / 1000;
    const s = this.seriesFor(e.function, e.mode, e.status);
    s.invocations.inc();
    s.duration.observe(seconds);
    s.queueWait.observe(e.waitMs / 1000);
    s.ofInvocations.inc();
    s.ofSeconds.observe(seconds);
    // Rare (one per instance start): a handle lookup each time costs nothing worth caching.
    if (e.coldStart) this.coldStarts.handle({ function: e.function, mode: e.mode, kind: e.start }).inc();
  }

  /**
   * The labelled series one invocation updates, looked up once per (function, mode, status):
   * prom-client hashes the label object on every inc/observe otherwise.
   */
  private seriesFor(fn: string, mode: string, status: number): InvocationSeries {
    const k = `${fn}\0${mode}\0${status}`;
    let s = this.series.get(k);
    if (!s) {
      const code = String(status);
      s = {
        invocations: this.invocations.handle({ function: fn, mode, code }),
        duration: this.duration.handle({ function: fn, mode }),
        queueWait: this.queueWait.handle({ function: fn }),
        ofInvocations: this.ofInvocations.handle({ function_name: fn, code }),
        ofSeconds: this.ofSeconds.handle({ function_name: fn, code }),
      };
      // Bounded by functions x modes x status codes; a deleted function's entries go in forget().
      this.series.set(k, s);
    }
    return s;
  }

  /**
   * Drops every series of a deleted function, from /metrics and from memory, and the cached
   * handles onto them; other functions' handles keep counting. (Gauges of instances and queues
   * are rebuilt at each scrape from what is running, so they need nothing here.) A function
   * created again under the same name starts from zero, as Prometheus expects of a new series.
   */
  forget(fn: string): void {
    const prefix = `${fn}\0`;
    for (const k of this.series.keys()) if (k.startsWith(prefix)) this.series.delete(k);
    for (const m of [this.invocations, this.duration, this.coldStarts, this.queueWait, this.asyncJobs, this.asyncAttempts]) m.remove('function', fn);
    for (const m of [this.ofInvocations, this.ofSeconds]) m.remove('function_name', fn);
  }

  /** Where the async queue's state is read at scrape time. */
  watchAsyncQueue(read: () => readonly AsyncQueueSample[]): void {
    this.asyncQueue = read;
  }

  asyncJobEnded(fn: string, status: 'succeeded' | 'failed', attempts: number): void {
    this.asyncJobs.handle({ function: fn, status }).inc();
    const a = this.asyncAttempts.handle({ function: fn });
    for (let i = 0; i < attempts; i++) a.inc();
  }

  rateLimitedBy(key: string): void {
    this.rateLimited.inc({ key });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
