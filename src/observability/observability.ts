// The daemon's one observer: every invocation event feeds stats, metrics and the log rings.
import type { Logger } from 'pino';
import type { ExecutionObserver, InvocationEvent } from '../execution/events.js';
import { InvocationLog } from './invocation-log.js';
import { InvocationLogs } from './invocation-logs.js';
import type { MetricsSource } from '../execution/api.js';
import { Metrics } from './metrics.js';
import { StatsCollector } from './stats.js';

export class Observability implements ExecutionObserver {
  readonly stats = new StatsCollector();
  readonly logs = new InvocationLogs();
  readonly metrics: Metrics;
  /** The info line per invocation (none without a logger: tests that build this alone). */
  readonly #log: InvocationLog | null;

  constructor(source: MetricsSource, logger?: Logger) {
    this.metrics = new Metrics(source);
    this.#log = logger ? new InvocationLog(logger) : null;
  }

  invocation(e: InvocationEvent): void {
    this.stats.record(e);
    this.metrics.invocation(e);
    this.#log?.write(e);
  }

  functionLogs(fn: string, requestId: string, lines: readonly string[]): void {
    this.logs.add(fn, requestId, lines);
  }

  rateLimited(key: string): void {
    this.stats.rateLimited += 1;
    this.metrics.rateLimitedBy(key);
  }

  functionRemoved(fn: string): void {
    this.stats.forget(fn);
    this.logs.forget(fn);
    this.metrics.forget(fn);
  }
}
