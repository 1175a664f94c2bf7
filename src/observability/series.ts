// Counters and histograms for the invoke hot path. prom-client validates and hashes the label
// object on every inc()/observe() (several µs per invocation across five series); these keep
// plain numbers per series handle and build prom-client's exposition objects only when
// /metrics is scraped. The registry formats them like its own metrics.
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

/** What prom-client's Registry reads from a metric (name, help, type, get, reset). */
abstract class ScrapedMetric<S extends { labels: Labels }> {
  readonly aggregator = 'sum';
  protected readonly series = new Map<string, S>();

  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    protected readonly labelNames: readonly string[],
  ) {}

  /** The handle for one label set, created on first use (keep it: lookups hash the labels). */
  protected key(labels: Labels): string {
    let k = '';
    for (const n of this.labelNames) {
      const v = labels[n];
      if (v === undefined) throw new Error(`${this.name}: label "${n}" missing`);
      k += `${v}\0`;
    }
    return k;
  }

  abstract get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: MetricValue[] }>;

  /** Zeroes every series in place: handles given out earlier keep counting into them. */
  abstract reset(): void;

  registerIn(registry: client.Registry): this {
    // The registry only calls name/help/type/get/reset: a structural fit for its Metric type.
    registry.registerMetric(this as unknown as client.Metric);
    return this;
  }
}

export class FastCounter extends ScrapedMetric<{ labels: Labels; value: number }> {
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

export class FastHistogram extends ScrapedMetric<{ labels: Labels; counts: Float64Array; sum: number; count: number }> {
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
