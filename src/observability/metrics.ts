// Prometheus metrics (prom-client), one registry per daemon so two daemons can share a
// process (tests). faasd's own names, plus the OpenFaaS gateway names so existing OpenFaaS
// dashboards and alerts work unchanged.
import client from 'prom-client';
import type { ExecutionMode, InstanceUsage } from '../execution/driver.js';
import type { InvocationEvent } from './events.js';

export interface MetricsSource {
  /** Instances by function, mode and state. */
  instanceStates(): { function: string; mode: ExecutionMode; state: string }[];
  queueDepths(): { function: string; depth: number }[];
  instanceUsage(): Promise<{ function: string; mode: ExecutionMode; instance: string; usage: InstanceUsage | null }[]>;
}

const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class Metrics {
  readonly registry = new client.Registry();
  private readonly invocations;
  private readonly duration;
  private readonly coldStarts;
  private readonly queueWait;
  private readonly rateLimited;
  private readonly ofInvocations;
  private readonly ofSeconds;

  constructor(source: MetricsSource) {
    const registers = [this.registry];
    client.collectDefaultMetrics({ register: this.registry, prefix: 'faasd_' });

    this.invocations = new client.Counter({ name: 'faasd_invocations_total', help: 'Invocations by function, mode and HTTP status code', labelNames: ['function', 'mode', 'code'], registers });
    this.duration = new client.Histogram({ name: 'faasd_invocation_duration_seconds', help: 'Invocation duration at the gateway, by function and mode', labelNames: ['function', 'mode'], buckets: DURATION_BUCKETS, registers });
    this.coldStarts = new client.Counter({ name: 'faasd_cold_starts_total', help: 'Invocations that waited for a new instance, by how it started (cold or prewarmed)', labelNames: ['function', 'mode', 'kind'], registers });
    this.queueWait = new client.Histogram({ name: 'faasd_queue_wait_seconds', help: 'Time an invocation waited for an instance', labelNames: ['function'], buckets: DURATION_BUCKETS, registers });
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
    const cpu = new client.Gauge({ name: 'faasd_instance_cpu_seconds', help: 'CPU time used by an instance (cumulative)', labelNames: ['function', 'mode', 'instance'], registers });
    new client.Gauge({
      name: 'faasd_instance_memory_bytes',
      help: 'Memory used by an instance (cgroup)',
      labelNames: ['function', 'mode', 'instance'],
      registers,
      async collect() {
        this.reset();
        cpu.reset();
        for (const u of await source.instanceUsage()) {
          if (!u.usage) continue;
          const labels = { function: u.function, mode: u.mode, instance: u.instance };
          this.set(labels, u.usage.memoryBytes);
          cpu.set(labels, u.usage.cpuSeconds);
        }
      },
    });

    // OpenFaaS gateway compatibility.
    this.ofInvocations = new client.Counter({ name: 'gateway_function_invocation_total', help: 'Function invocations (OpenFaaS-compatible)', labelNames: ['function_name', 'code'], registers });
    this.ofSeconds = new client.Histogram({ name: 'gateway_functions_seconds', help: 'Function time taken (OpenFaaS-compatible)', labelNames: ['function_name', 'code'], buckets: DURATION_BUCKETS, registers });
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
    const code = String(e.status);
    const seconds = e.durationMs / 1000;
    this.invocations.inc({ function: e.function, mode: e.mode, code });
    this.duration.observe({ function: e.function, mode: e.mode }, seconds);
    if (e.coldStart) this.coldStarts.inc({ function: e.function, mode: e.mode, kind: e.start });
    this.queueWait.observe({ function: e.function }, e.waitMs / 1000);
    this.ofInvocations.inc({ function_name: e.function, code });
    this.ofSeconds.observe({ function_name: e.function, code }, seconds);
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
