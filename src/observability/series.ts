// Metrics prom-client's own classes do not fit. The invoke hot path: prom-client validates
// and hashes the label object on every inc()/observe() (several µs per invocation across
// five series); FastCounter/FastHistogram keep plain numbers per series handle and build
// prom-client's exposition objects only when /metrics is scraped. And values read from
// elsewhere at scrape time (CollectedMetric): a prom-client Counter cannot be set, but a
// cgroup's CPU time is a counter the kernel keeps for us. The registry formats all of them
// like its own metrics.
import type client from 'prom-client';

type Labels = Record<string, string>;

export interface CounterHandle {
  inc(): void;
}

export interface HistogramHandle {
  observe(value: number): void;
}

interface MetricValue {
  value: number;
  labels: Labels;
  metricName?: string;
}

export interface Sample {
  labels: Labels;
  value: number;
}

type MetricType = 'counter' | 'gauge' | 'histogram';

/** What prom-client's Registry reads from a metric (name, help, type, get, reset). */
abstract class ScrapedMetric {
  readonly aggregator = 'sum';

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
  ) {}

  abstract get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }>;

  abstract reset(): void;

  registerIn(registry: client.Registry): this {
    // The registry only calls name/help/type/get/reset: a structural fit for its Metric type.
    registry.registerMetric(this as unknown as client.Metric);
    return this;
  }
}

/** A metric that keeps its own series, one per label set, handed out as handles. */
abstract class SeriesMetric<S extends { labels: Labels }> extends ScrapedMetric {
  protected readonly series = new Map<string, S>();

  constructor(
    name: string,
    help: string,
    type: MetricType,
    protected readonly labelNames: readonly string[],
  ) {
    super(name, help, type);
  }

  /** The map key of one label set (keep the handle: lookups build this string). */
  protected key(labels: Labels): string {
    let k = '';
    for (const n of this.labelNames) {
      const v = labels[n];
      if (v === undefined) throw new Error(`${this.name}: label "${n}" missing`);
      k += `${v}\0`;
    }
    return k;
  }

  /**
   * Drops every series whose `label` is `value` (a deleted function's), so it leaves /metrics
   * and memory. Other series, and the handles given out for them, are untouched; a handle of
   * a dropped series still counts, into nothing.
   */
  remove(label: string, value: string): void {
    for (const [k, s] of this.series) if (s.labels[label] === value) this.series.delete(k);
  }

  /** Zeroes every series in place: handles given out earlier keep counting into them. */
  abstract reset(): void;
}

export class FastCounter extends SeriesMetric<{ labels: Labels; value: number }> {
  constructor(name: string, help: string, labelNames: readonly string[]) {
    super(name, help, 'counter', labelNames);
  }

  handle(labels: Labels): CounterHandle {
    const k = this.key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels: { ...labels }, value: 0 }));
    const series = s;
    return {
      inc() {
        series.value += 1;
      },
    };
  }

  reset(): void {
    for (const s of this.series.values()) s.value = 0;
  }

  get() {
    const values = [...this.series.values()].map((s) => ({ value: s.value, labels: s.labels }));
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

export class FastHistogram extends SeriesMetric<{ labels: Labels; counts: Float64Array; sum: number; count: number }> {
  constructor(
    name: string,
    help: string,
    labelNames: readonly string[],
    private readonly buckets: readonly number[],
  ) {
    super(name, help, 'histogram', labelNames);
  }

  handle(labels: Labels): HistogramHandle {
    const k = this.key(labels);
    let s = this.series.get(k);
    if (!s) this.series.set(k, (s = { labels: { ...labels }, counts: new Float64Array(this.buckets.length), sum: 0, count: 0 }));
    const series = s;
    const bounds = this.buckets;
    return {
      observe(v: number) {
        series.sum += v;
        series.count += 1;
        // Per-bucket (non-cumulative) counts; get() accumulates them into `le` buckets.
        for (let i = 0; i < bounds.length; i++) {
          if (v <= bounds[i]!) {
            series.counts[i]! += 1;
            return;
          }
        }
      },
    };
  }

  reset(): void {
    for (const s of this.series.values()) {
      s.counts.fill(0);
      s.sum = 0;
      s.count = 0;
    }
  }

  get() {
    const values: MetricValue[] = [];
    for (const s of this.series.values()) {
      let acc = 0;
      this.buckets.forEach((le, i) => {
        acc += s.counts[i]!;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: String(le) }, value: acc });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...s.labels, le: '+Inf' }, value: s.count });
      values.push({ metricName: `${this.name}_sum`, labels: s.labels, value: s.sum });
      values.push({ metricName: `${this.name}_count`, labels: s.labels, value: s.count });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }
}

/**
 * A counter or gauge whose samples are read when /metrics is scraped and kept nowhere else:
 * e.g. an instance's cumulative CPU seconds from its cgroup, exposed as a counter. Nothing to
 * forget or reset; a series is gone as soon as `collect` stops returning it.
 */
export class CollectedMetric extends ScrapedMetric {
  constructor(
    name: string,
    help: string,
    type: 'counter' | 'gauge',
    private readonly collect: () => Promise<readonly Sample[]>,
  ) {
    super(name, help, type);
  }

  reset(): void {}

  async get() {
    const values = (await this.collect()).map((s) => ({ value: s.value, labels: s.labels }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

/**
 * `load`, called at most once at a time: the callers of one scrape (the registry asks every
 * metric at once) share one result, so e.g. CPU and memory come from the same cgroup read.
 */
export function shared<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | null = null;
  return () =>
    (pending ??= load().finally(() => {
      pending = null;
    }));
}
