// The hot-path metric series (observability/series.ts) must read like prom-client's own in
// /metrics: cumulative `le` buckets, +Inf, _sum and _count, one line per label set.
import client from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { InvocationEvent } from '../src/execution/events.js';
import { Observability } from '../src/observability/observability.js';
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

  it('drop the series of one label value and leave the others and their handles counting', async () => {
    const registry = new client.Registry();
    const calls = new FastCounter('t_calls_total', 'calls', ['fn', 'code']).registerIn(registry);
    const seconds = new FastHistogram('t_seconds', 'seconds', ['fn'], [1]).registerIn(registry);
    const keptCall = calls.handle({ fn: 'kept', code: '200' });
    const keptTime = seconds.handle({ fn: 'kept' });
    calls.handle({ fn: 'gone', code: '200' }).inc();
    calls.handle({ fn: 'gone', code: '500' }).inc();
    seconds.handle({ fn: 'gone' }).observe(0.5);
    keptCall.inc();
    keptTime.observe(0.5);

    calls.remove('fn', 'gone');
    seconds.remove('fn', 'gone');
    keptCall.inc();
    keptTime.observe(2);
    const text = await registry.metrics();
    expect(text).not.toContain('"gone"');
    expect(text).toContain('t_calls_total{fn="kept",code="200"} 2');
    expect(text).toContain('t_seconds_count{fn="kept"} 2');
    expect(text).toContain('t_seconds_bucket{fn="kept",le="1"} 1');
  });
});

describe('Observability.forget', () => {
  const noInstances = { instanceStates: () => [], queueDepths: () => [], instanceUsage: () => Promise.resolve([]) };
  const call = (fn: string, over: Partial<InvocationEvent> = {}): InvocationEvent => ({
    function: fn,
    mode: 'process',
    status: 200,
    durationMs: 12,
    coldStart: false,
    start: 'warm',
    waitMs: 1,
    ...over,
  });
  const seriesOf = (text: string, fn: string) => text.split('\n').filter((l) => l.includes(`function="${fn}"`) || l.includes(`function_name="${fn}"`));

  it("removes every metric series of a deleted function from /metrics, and other functions' series keep counting", async () => {
    const obs = new Observability(noInstances);
    for (const fn of ['gone', 'kept']) {
      obs.invocation(call(fn, { coldStart: true, start: 'cold' }));
      obs.invocation(call(fn, { status: 500, errorCode: 'FunctionError' }));
      obs.invocation(call(fn, { mode: 'container', coldStart: true, start: 'prewarmed' }));
    }
    const before = await obs.metrics.text();
    // invocations (3 label sets), cold starts (2), duration + queue wait histograms, OpenFaaS counter and histogram.
    expect(seriesOf(before, 'gone').length).toBeGreaterThan(20);

    obs.functionRemoved('gone');
    obs.invocation(call('kept'));
    const after = await obs.metrics.text();
    expect(seriesOf(after, 'gone')).toEqual([]);
    expect(after).toContain('faasd_invocations_total{function="kept",mode="process",code="200"} 2');
    expect(after).toContain('faasd_cold_starts_total{function="kept",mode="container",kind="prewarmed"} 1');
    expect(after).toContain('gateway_function_invocation_total{function_name="kept",code="200"} 3');
    expect(after).toContain('faasd_queue_wait_seconds_count{function="kept"} 4');
    expect(seriesOf(after, 'kept')).toHaveLength(seriesOf(before, 'kept').length);
    expect(obs.stats.of('gone')).toBeNull();
  });

  it('a function deployed again under a deleted name starts its series from zero', async () => {
    const obs = new Observability(noInstances);
    obs.invocation(call('again'));
    obs.invocation(call('again'));
    obs.functionRemoved('again');
    obs.invocation(call('again'));
    const text = await obs.metrics.text();
    expect(text).toContain('faasd_invocations_total{function="again",mode="process",code="200"} 1');
    expect(text).toContain('gateway_functions_seconds_count{function_name="again",code="200"} 1');
  });

  it('creating and deleting many functions leaves /metrics as it was', async () => {
    const obs = new Observability(noInstances);
    obs.invocation(call('kept'));
    const lines = (await obs.metrics.text()).split('\n').filter((l) => l.includes('function')).length;
    for (let i = 0; i < 2000; i++) {
      obs.invocation(call(`f-${i}`, { coldStart: true, start: 'cold' }));
      obs.functionRemoved(`f-${i}`);
    }
    expect((await obs.metrics.text()).split('\n').filter((l) => l.includes('function')).length).toBe(lines);
  });
});
