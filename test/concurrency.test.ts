// `concurrency: N` (issue 17): an async handler's instance runs up to N calls at once; the
// default (1) keeps one call at a time per instance. Real daemon, real shims.
import { describe, expect, it } from 'vitest';
import type { Daemon } from '../src/daemon.js';
import { DEMO, startTestDaemon } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('concurrency suite skipped: strict isolation needs root (CI runs it as root)');

const PY_ASYNC_SLEEP = `import asyncio

async def handle(request):
    n = request.get_json()["n"]
    print("start", n)
    await asyncio.sleep(0.4)
    print("end", n)
    return {"n": n}
`;

const PY_SYNC_SLEEP = `import time

def handle(request):
    time.sleep(0.25)
    return {"n": request.get_json()["n"]}
`;

const JS_ASYNC_SLEEP = `exports.handler = async (event) => {
  const { n } = event.json();
  console.log('start', n);
  await new Promise((r) => setTimeout(r, 400));
  process.stdout.write('end ' + n + '\\n');
  return { n };
};
`;

/** n calls at once; their responses and the wall time they took together. */
async function together(d: Daemon, name: string, n: number) {
  const t0 = performance.now();
  const res = await Promise.all(Array.from({ length: n }, (_, i) => invoke(d, name, { n: i })));
  return { res, ms: performance.now() - t0 };
}

async function logsOf(d: Daemon, name: string): Promise<Map<string, string[]>> {
  const body = (await d.app.inject({ method: 'GET', url: `/functions/${name}/logs?limit=1000`, headers: DEMO })).json() as { lines: { request_id: string; line: string }[] };
  const byRequest = new Map<string, string[]>();
  for (const l of body.lines) byRequest.set(l.request_id, [...(byRequest.get(l.request_id) ?? []), l.line]);
  return byRequest;
}

describe.skipIf(!isRoot)('concurrency: calls in flight per instance', () => {
  for (const [runtime, code] of [
    ['python', PY_ASYNC_SLEEP],
    ['node', JS_ASYNC_SLEEP],
  ] as const) {
    it(`a ${runtime} async handler with concurrency 8 runs 8 calls at once on one instance, each with its own logs`, async () => {
      const d = await startTestDaemon();
      await deploy(d, `conc-${runtime}`, code, { runtime, config: { concurrency: 8, max_instances: 1 } });
      await invoke(d, `conc-${runtime}`, { n: -1 }); // the start is not part of the figure
      const { res, ms } = await together(d, `conc-${runtime}`, 8);
      for (const [i, r] of res.entries()) {
        expect(r.statusCode, r.body).toBe(200);
        expect(r.json()).toEqual({ n: i });
      }
      expect(new Set(res.map((r) => r.headers['x-faas-instance-id'])).size).toBe(1);
      // Eight 0.4 s sleeps one after another would take 3.2 s (the margin is for a busy CI machine).
      expect(ms).toBeLessThan(2400);
      const logs = await logsOf(d, `conc-${runtime}`);
      for (const [i, r] of res.entries()) expect(logs.get(String(r.headers['x-faas-request-id']))).toEqual([`start ${i}`, `end ${i}`]);
    });
  }

  it('without concurrency an async handler still runs one call at a time per instance', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'conc-default', PY_ASYNC_SLEEP, { config: { max_instances: 1 } });
    await invoke(d, 'conc-default', { n: -1 });
    const { res, ms } = await together(d, 'conc-default', 3);
    for (const r of res) expect(r.statusCode, r.body).toBe(200);
    expect(ms).toBeGreaterThanOrEqual(3 * 400 - 50);
  });

  it('a plain (not async) Python handler takes one call at a time even with concurrency set', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'conc-sync', PY_SYNC_SLEEP, { config: { concurrency: 4, max_instances: 1 } });
    await invoke(d, 'conc-sync', { n: -1 });
    const { res, ms } = await together(d, 'conc-sync', 3);
    for (const [i, r] of res.entries()) expect(r.json()).toEqual({ n: i });
    expect(ms).toBeGreaterThanOrEqual(3 * 250 - 50);
  });

  it('max_concurrency still caps the calls in flight across the function', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'conc-capped', PY_ASYNC_SLEEP, { config: { concurrency: 10, max_concurrency: 2, max_instances: 3 } });
    await invoke(d, 'conc-capped', { n: -1 });
    const { res, ms } = await together(d, 'conc-capped', 4);
    for (const r of res) expect(r.statusCode, r.body).toBe(200);
    // Two at a time: two rounds of 0.4 s, on the one instance max_concurrency / concurrency allows.
    expect(ms).toBeGreaterThanOrEqual(2 * 400 - 50);
    expect(new Set(res.map((r) => r.headers['x-faas-instance-id'])).size).toBe(1);
  });

  it("calls beyond one instance's concurrency go to a second instance", async () => {
    const d = await startTestDaemon();
    await deploy(d, 'conc-two', JS_ASYNC_SLEEP, { runtime: 'node', config: { concurrency: 3, max_instances: 2 } });
    await invoke(d, 'conc-two', { n: -1 });
    const { res, ms } = await together(d, 'conc-two', 6);
    for (const r of res) expect(r.statusCode, r.body).toBe(200);
    expect(new Set(res.map((r) => r.headers['x-faas-instance-id'])).size).toBe(2);
    expect(ms).toBeLessThan(2 * 400 + 1000);
  });

  it('a call over its timeout gets 504 and the function keeps serving', async () => {
    const d = await startTestDaemon();
    const code = 'import asyncio\n\nasync def handle(request):\n    await asyncio.sleep(request.get_json()["s"])\n    return "ok"\n';
    await deploy(d, 'conc-timeout', code, { config: { concurrency: 4, timeout: 1 } });
    const slow = await invoke(d, 'conc-timeout', { s: 5 });
    expect(slow.statusCode).toBe(504);
    const fast = await invoke(d, 'conc-timeout', { s: 0 });
    expect(fast.statusCode, fast.body).toBe(200);
  });

  it('concurrency must be an integer from 1 to 1000', async () => {
    const d = await startTestDaemon();
    for (const bad of [0, 1001, 2.5, '4']) {
      const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'conc-bad', code: 'def handle(r):\n    return 1', config: { concurrency: bad } } });
      expect(res.statusCode, res.body).toBe(400);
      expect(res.body).toContain('concurrency');
    }
  });
});
