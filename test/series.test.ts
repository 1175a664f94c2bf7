// The hot-path metric series (observability/series.ts) must read like prom-client's own in
// /metrics: cumulative `le` buckets, +Inf, _sum and _count, one line per label set.
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FastCounter, FastHistogram } from '../src/observability/series.js';

describe('FastCounter / FastHistogram in a prom-client registry', () => {
  it('expose counters and cumulative histogram buckets as Prometheus text, and reset in place', async () => {
    const registry = new client.Registry();
    const calls = new FastCounter('t_calls_total', 'calls', ['fn', 'code']).registerIn(registry);
    const seconds = new FastHistogram('t_seconds', 'seconds', ['fn'], [0.01, 0.1, 1]).registerIn(registry);
    const ok = calls.handle({ fn: 'a', code: '200' });
    const h = seconds.handle({ fn: 'a' });
    ok.inc();
    ok.inc();
    calls.handle({ fn: 'a', code: '500' }).inc();
    for (const v of [0.005, 0.01, 0.05, 0.5, 3]) h.observe(v);

    const text = await registry.metrics();
    expect(text).toContain('# TYPE t_calls_total counter');
    expect(text).toContain('t_calls_total{fn="a",code="200"} 2');
    expect(text).toContain('t_calls_total{fn="a",code="500"} 1');
    expect(text).toContain('# TYPE t_seconds histogram');
    expect(text).toContain('t_seconds_bucket{fn="a",le="0.01"} 2'); // 0.005 and 0.01 (le is inclusive)
    expect(text).toContain('t_seconds_bucket{fn="a",le="0.1"} 3');
    expect(text).toContain('t_seconds_bucket{fn="a",le="1"} 4');
    expect(text).toContain('t_seconds_bucket{fn="a",le="+Inf"} 5');
    expect(text).toContain('t_seconds_sum{fn="a"} 3.565');
    expect(text).toContain('t_seconds_count{fn="a"} 5');

    // A registry reset zeroes the series; handles given out before keep counting into them.
    registry.resetMetrics();
    ok.inc();
    h.observe(0.2);
    const after = await registry.metrics();
    expect(after).toContain('t_calls_total{fn="a",code="200"} 1');
    expect(after).toContain('t_seconds_bucket{fn="a",le="0.1"} 0');
    expect(after).toContain('t_seconds_bucket{fn="a",le="1"} 1');
    expect(after).toContain('t_seconds_count{fn="a"} 1');
  });

  it('refuses a label set that misses a declared label', () => {
    const c = new FastCounter('t_x_total', 'x', ['fn', 'code']);
    expect(() => c.handle({ fn: 'a' })).toThrow(/label "code" missing/);
  });
});
