// Process mode end to end: real daemon, real shims in strict sandboxes and cgroups.
import http from 'node:http';
import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { ADMIN, DEMO, startTestDaemon } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('process-mode suite skipped: strict isolation needs root (CI runs it as root)');

describe.skipIf(!isRoot)('process mode: running functions', () => {
  it('runs the quick-start Python function and echoes the JSON body', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'hello-world', 'def handle(request):\n    return {"message": "Hello, World!", "data": request.get_json()}', {
      config: { execution_mode: 'process', timeout: 30, memory: '128Mi' },
    });
    const res = await invoke(d, 'hello-world', { name: 'AITest', test: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ message: 'Hello, World!', data: { name: 'AITest', test: true } });
    expect(res.headers['content-type']).toContain('application/json');
    expect(res.headers['x-faas-request-id']).toBeTruthy();
    expect(Number(res.headers['x-faas-duration-ms'])).toBeGreaterThan(0);
    expect(res.headers['x-faas-cold-start']).toBe('true');
    expect(res.headers['x-faas-instance-id']).toMatch(/^hello-world-/);
    const again = await invoke(d, 'hello-world', { n: 2 });
    expect(again.headers['x-faas-cold-start']).toBe('false');
    expect(again.headers['x-faas-instance-id']).toBe(res.headers['x-faas-instance-id']);
  });

  it('runs a JavaScript handler with method, subpath, query and headers passed through', async () => {
    const d = await startTestDaemon();
    await deploy(
      d,
      'js-echo',
      'exports.handler = async (event, context) => ({ method: event.method, path: event.path, query: event.query, hdr: event.header("X-Thing"), body: event.json(), fn: context.functionName })',
      { runtime: 'node' },
    );
    const res = await invoke(d, 'js-echo', { a: 1 }, { method: 'PUT', path: '/users/42?q=x&q=y&z=1', headers: { 'x-thing': 'yes' } });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ method: 'PUT', path: '/users/42', query: { q: ['x', 'y'], z: '1' }, hdr: 'yes', body: { a: 1 }, fn: 'js-echo' });
  });

  it('takes a Lambda-style return as the HTTP response, status and headers included', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'py-lambda', 'def handle(request):\n    return {"statusCode": 201, "headers": {"X-Custom": "v1", "Content-Type": "text/csv"}, "body": "a,b\\n1,2"}');
    await deploy(d, 'js-lambda', "exports.handler = async () => ({ statusCode: 418, headers: { 'x-teapot': 'short' }, body: 'I am a teapot' })", { runtime: 'nodejs' });
    const py = await invoke(d, 'py-lambda', {});
    expect(py.statusCode).toBe(201);
    expect(py.headers['x-custom']).toBe('v1');
    expect(py.headers['content-type']).toBe('text/csv');
    expect(py.body).toBe('a,b\n1,2');
    const js = await invoke(d, 'js-lambda');
    expect(js.statusCode).toBe(418);
    expect(js.headers['x-teapot']).toBe('short');
    expect(js.body).toBe('I am a teapot');
  });

  it('a function that raises gets 500 FunctionError with its message and traceback; the instance keeps serving', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'py-raise', 'def handle(request):\n    if request.get_json().get("fail"):\n        raise ValueError("bad input here")\n    return "fine"');
    const res = await invoke(d, 'py-raise', { fail: true });
    expect(res.statusCode).toBe(500);
    expect(res.json()).toMatchObject({ error: 'FunctionError', message: expect.stringContaining('bad input here') });
    expect(JSON.stringify(res.json())).toContain('Traceback');
    const ok = await invoke(d, 'py-raise', { fail: false });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toBe('fine');
    expect(ok.headers['x-faas-instance-id']).toBe(res.headers['x-faas-instance-id']);

    await deploy(d, 'js-throw', "exports.handler = async () => { throw new TypeError('nope from js') }", { runtime: 'node' });
    const js = await invoke(d, 'js-throw');
    expect(js.statusCode).toBe(500);
    expect(js.json()).toMatchObject({ error: 'FunctionError', message: expect.stringContaining('nope from js') });
    expect(JSON.stringify(js.json())).toContain('at ');
  });

  it('code that fails when it is loaded (not a syntax error) gives 500 FunctionError saying so', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'py-broken', 'import no_such_module_anywhere\ndef handle(request):\n    return 1');
    const res = await invoke(d, 'py-broken', {});
    expect(res.statusCode).toBe(500);
    expect(res.json().error).toBe('FunctionError');
    expect(res.json().message).toMatch(/ModuleNotFoundError/);
  });

  it('an unknown function is 404 on invoke', async () => {
    const d = await startTestDaemon();
    const res = await invoke(d, 'ghost', {});
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('FunctionNotFound');
  });

  it('16 parallel calls with 0.3 s of work and max_instances 4 are all answered by 2 to 4 instances', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'slow', 'import time\ndef handle(request):\n    time.sleep(0.3)\n    return {"ok": True}', { config: { max_instances: 4 } });
    const results = await Promise.all(Array.from({ length: 16 }, () => invoke(d, 'slow', {})));
    expect(results.map((r) => r.statusCode)).toEqual(Array(16).fill(200));
    const ids = new Set(results.map((r) => r.headers['x-faas-instance-id']));
    expect(ids.size).toBeGreaterThan(1);
    expect(ids.size).toBeLessThanOrEqual(4);
    expect(d.manager.instancesOf('slow').length).toBeLessThanOrEqual(4);
  });

  it('idle instances above min_instances are stopped after warm_instance_ttl', async () => {
    const d = await startTestDaemon({ config: { system: { warm_instance_ttl: 1 } } });
    await deploy(d, 'ephemeral', 'def handle(r):\n    return 1');
    expect((await invoke(d, 'ephemeral', {})).statusCode).toBe(200);
    expect(d.manager.instancesOf('ephemeral')).toHaveLength(1);
    await expect.poll(() => d.manager.instancesOf('ephemeral'), { message: 'the idle instance is reaped', timeout: 5000 }).toHaveLength(0);
  });

  it('min_instances are started at deploy, so the first call is warm', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'prewarmed', 'def handle(r):\n    return 1', { config: { min_instances: 2 } });
    await expect.poll(() => d.manager.instancesOf('prewarmed').filter((i) => i.state === 'idle'), { message: 'two idle instances', timeout: 10_000 }).toHaveLength(2);
    const res = await invoke(d, 'prewarmed', {});
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-faas-cold-start']).toBe('false');
  });

  it('an update while a call runs: that call finishes on the old version, the next runs the new one', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'rolling', 'import time\ndef handle(r):\n    time.sleep(0.8)\n    return "v1"');
    expect((await invoke(d, 'rolling', {})).json()).toBe('v1');
    const inflight = invoke(d, 'rolling', {});
    await vi.waitFor(() => expect(d.manager.instancesOf('rolling').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    const put = await d.app.inject({ method: 'PUT', url: '/functions/rolling', headers: DEMO, payload: { code: 'def handle(r):\n    return "v2"' } });
    expect(put.statusCode).toBe(200);
    const old = await inflight;
    expect(old.statusCode).toBe(200);
    expect(old.json()).toBe('v1');
    const next = await invoke(d, 'rolling', {});
    expect(next.json()).toBe('v2');
    await vi.waitFor(
      () =>
        expect(
          d.manager.instancesOf('rolling').map((i) => i.version),
          'old instances stop',
        ).not.toContain(1),
      { timeout: 10_000 },
    );
  });

  it('a delete while a call runs lets it finish, then the function is gone and its instances stopped', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'doomed', 'import time\ndef handle(r):\n    time.sleep(0.6)\n    return "done"');
    const inflight = invoke(d, 'doomed', {});
    await vi.waitFor(() => expect(d.manager.instancesOf('doomed').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    const del = await d.app.inject({ method: 'DELETE', url: '/functions/doomed', headers: DEMO });
    expect(del.statusCode).toBe(204);
    const res = await inflight;
    expect(res.statusCode).toBe(200);
    expect(res.json()).toBe('done');
    expect((await invoke(d, 'doomed', {})).statusCode).toBe(404);
    await expect.poll(() => d.manager.listInstances(), { message: 'instances stop', timeout: 10_000 }).toHaveLength(0);
  });

  it('the caller Authorization header never reaches the function', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'peek', 'def handle(request):\n    return {"auth": request.get_header("Authorization"), "keys": sorted(request.headers.keys())}');
    const res = await invoke(d, 'peek', {}, { headers: { 'x-extra': '1' } });
    expect(res.json().auth).toBeNull();
    expect(res.json().keys).toContain('x-extra');
    expect(res.json().keys).not.toContain('authorization');
  });

  it('/instances lists running instances and DELETE /instances/:id needs admin', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'listed', 'def handle(r):\n    return 1');
    const first = await invoke(d, 'listed', {});
    const list = await d.app.inject({ method: 'GET', url: '/instances', headers: DEMO });
    expect(list.statusCode).toBe(200);
    const inst = list.json().instances[0];
    expect(inst).toMatchObject({ id: first.headers['x-faas-instance-id'], function: 'listed', mode: 'process', state: 'idle', invocations: 1 });
    expect(inst.pid).toBeGreaterThan(0);
    expect((await d.app.inject({ method: 'DELETE', url: `/instances/${inst.id}`, headers: DEMO })).statusCode).toBe(403);
    expect((await d.app.inject({ method: 'DELETE', url: `/instances/${inst.id}`, headers: ADMIN })).statusCode).toBe(204);
    await expect.poll(() => d.manager.listInstances(), { message: 'the instance stops', timeout: 10_000 }).toHaveLength(0);
    expect((await d.app.inject({ method: 'DELETE', url: `/instances/${inst.id}`, headers: ADMIN })).statusCode).toBe(404);
    const next = await invoke(d, 'listed', {});
    expect(next.statusCode).toBe(200);
    expect(next.headers['x-faas-instance-id']).not.toBe(inst.id);
  });
});

describe.skipIf(!isRoot)('process mode: limits and queueing', () => {
  it('when every instance is busy and max_instances is reached, a request that waits past cold_start_timeout gets 503 with Retry-After', async () => {
    const d = await startTestDaemon({ config: { system: { cold_start_timeout: 0.5 } } });
    await deploy(d, 'single', 'import time\ndef handle(r):\n    time.sleep(1.5)\n    return "done"', { config: { max_instances: 1 } });
    const first = invoke(d, 'single', {});
    await vi.waitFor(() => expect(d.manager.instancesOf('single').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    const second = await invoke(d, 'single', {});
    expect(second.statusCode).toBe(503);
    expect(second.json().error).toBe('Overloaded');
    expect(Number(second.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((await first).statusCode).toBe(200);
  });

  it('max_concurrent_functions caps instances across all functions: an idle one makes room, busy ones mean 503 NoCapacity at once, logged once', async () => {
    const lines: { msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    // The default cold_start_timeout (30 s): a refused call must not wait for it.
    const d = await startTestDaemon({ config: { system: { max_concurrent_functions: 1 } }, start: { logger } });
    await deploy(d, 'one', 'import time\ndef handle(r):\n    time.sleep(r.get_json().get("sleep", 0))\n    return 1');
    await deploy(d, 'two', 'def handle(r):\n    return 2');
    expect((await invoke(d, 'one', {})).statusCode).toBe(200);
    // one's instance is idle: it is stopped to make room for two.
    const two = await invoke(d, 'two', {});
    expect(two.statusCode, two.body).toBe(200);
    expect(
      d.manager
        .listInstances()
        .filter((i) => i.state !== 'stopping')
        .map((i) => i.function),
    ).toEqual(['two']);
    // one takes the only slot back (two is idle) and stays busy; two has no instance left.
    const order: string[] = [];
    const busy = invoke(d, 'one', { sleep: 2 }).then((r) => {
      order.push('one');
      return r;
    });
    await vi.waitFor(() => expect(d.manager.instancesOf('one').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    for (let i = 0; i < 3; i++) {
      const refused = await invoke(d, 'two', {});
      order.push('refused');
      expect(refused.statusCode).toBe(503);
      expect(refused.json()).toMatchObject({ error: 'NoCapacity', limit: 'max_concurrent_functions', max_concurrent_functions: 1 });
      expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    }
    expect((await busy).statusCode).toBe(200);
    expect(order).toEqual(['refused', 'refused', 'refused', 'one']);
    expect(lines.filter((l) => l.msg.startsWith('max_concurrent_functions reached'))).toHaveLength(1);
  });

  it('a full queue is 503 QueueFull naming the limit, distinct from the wait timeout', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'narrow', 'import time\ndef handle(r):\n    time.sleep(r.get_json().get("sleep", 0))\n    return 1', { config: { max_instances: 1 } });
    const first = invoke(d, 'narrow', { sleep: 1.5 });
    await vi.waitFor(() => expect(d.manager.instancesOf('narrow').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    // The queue holds 64 calls per allowed instance; the rest are refused at once.
    const results = await Promise.all(Array.from({ length: 70 }, () => invoke(d, 'narrow', {})));
    const refused = results.filter((r) => r.statusCode === 503);
    expect(refused).toHaveLength(6);
    for (const r of refused) expect(r.json()).toMatchObject({ error: 'QueueFull', limit: 'queue', queue_limit: 64 });
    expect(results.filter((r) => r.statusCode === 200)).toHaveLength(64);
    expect((await first).statusCode).toBe(200);
  });

  it('a client that disconnects while its call is queued takes the call out of the queue: it never runs', async () => {
    const d = await startTestDaemon({ listen: true });
    await deploy(d, 'once', 'import time\ndef handle(r):\n    print("ran", r.get_json()["who"])\n    time.sleep(r.get_json().get("sleep", 0))\n    return 1', { config: { max_instances: 1 } });
    const url = new URL(d.url);
    const running = fetch(`${d.url}/invoke/once`, { method: 'POST', headers: { ...DEMO, 'content-type': 'application/json' }, body: JSON.stringify({ who: 'first', sleep: 1.5 }) });
    await vi.waitFor(() => expect(d.manager.instancesOf('once').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    const body = JSON.stringify({ who: 'gone' });
    const queued = http.request({
      host: url.hostname,
      port: url.port,
      method: 'POST',
      path: '/invoke/once',
      headers: { ...DEMO, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    queued.on('error', () => undefined);
    queued.end(body);
    await vi.waitFor(() => expect(d.manager.queueDepths().find((q) => q.function === 'once')?.depth).toBe(1), { timeout: 5000 });
    queued.destroy();
    // Out of the queue at once, while the first call is still running.
    await vi.waitFor(() => expect(d.manager.queueDepths().find((q) => q.function === 'once')?.depth).toBe(0), { timeout: 5000 });
    expect(d.manager.instancesOf('once').some((i) => i.state === 'busy')).toBe(true);
    expect((await running).status).toBe(200);
    await new Promise((r) => setTimeout(r, 500));
    const logs = (await d.app.inject({ method: 'GET', url: '/functions/once/logs', headers: DEMO })).json().lines.map((l: { line: string }) => l.line);
    expect(logs).toEqual(['ran first']);
    expect(d.manager.listInstances().find((i) => i.function === 'once')?.invocations).toBe(1);
  });

  it('max_concurrency bounds in-flight calls of a function; the rest queue and are all answered', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'bounded', 'import time\ndef handle(r):\n    time.sleep(0.3)\n    return 1', { config: { max_instances: 10, max_concurrency: 2 } });
    let peak = 0;
    const watcher = setInterval(() => (peak = Math.max(peak, d.manager.instancesOf('bounded').filter((i) => i.state === 'busy').length)), 10);
    const results = await Promise.all(Array.from({ length: 8 }, () => invoke(d, 'bounded', {})));
    clearInterval(watcher);
    expect(results.map((r) => r.statusCode)).toEqual(Array(8).fill(200));
    expect(peak).toBe(2);
    expect(d.manager.instancesOf('bounded').length).toBeLessThanOrEqual(2);
  });

  it('queued requests are served in order by instances as they free up', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'serial', 'import time\ndef handle(r):\n    time.sleep(0.2)\n    return r.get_json()["i"]', { config: { max_instances: 1 } });
    const results = await Promise.all([0, 1, 2, 3, 4].map((i) => invoke(d, 'serial', { i })));
    expect(results.map((r) => r.json())).toEqual([0, 1, 2, 3, 4]);
    expect(new Set(results.map((r) => r.headers['x-faas-instance-id'])).size).toBe(1);
  });
});

describe.skipIf(!isRoot)('process mode: faults end one instance only', () => {
  it('a call over its timeout gets 504 within the timeout plus a margin, and the next call works', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'sleepy', 'import time\ndef handle(r):\n    if r.get_json().get("sleep"):\n        time.sleep(30)\n    return "awake"', { config: { timeout: 1 } });
    const t0 = Date.now();
    const res = await invoke(d, 'sleepy', { sleep: true });
    const took = Date.now() - t0;
    expect(res.statusCode).toBe(504);
    expect(res.json().error).toBe('Timeout');
    expect(took).toBeLessThan(1000 + 2500);
    const next = await invoke(d, 'sleepy', { sleep: false });
    expect(next.statusCode).toBe(200);
    expect(next.json()).toBe('awake');
  });

  it('allocating 400 MB under memory 64Mi gets 502 OutOfMemory, and the next call works', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'hog', 'def handle(r):\n    if r.get_json().get("hog"):\n        x = bytearray(400 * 1024 * 1024)\n        return len(x)\n    return "small"', { config: { memory: '64Mi' } });
    const res = await invoke(d, 'hog', { hog: true });
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('OutOfMemory');
    const next = await invoke(d, 'hog', { hog: false });
    expect(next.statusCode).toBe(200);
    expect(next.json()).toBe('small');
  });

  it('a function that kills its own process gets 502 InstanceCrashed, then the pool recovers', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'suicidal', "exports.handler = async (e) => { if (e.json().die) process.kill(process.pid, 'SIGKILL'); return 'alive' }", { runtime: 'node' });
    const res = await invoke(d, 'suicidal', { die: true });
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('InstanceCrashed');
    const next = await invoke(d, 'suicidal', { die: false });
    expect(next.statusCode).toBe(200);
    expect(next.json()).toBe('alive');
  });

  it('a crash in one function does not disturb another function running at the same time', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'steady', 'import time\ndef handle(r):\n    time.sleep(0.5)\n    return "steady"');
    await deploy(d, 'crasher', 'import os\ndef handle(r):\n    os._exit(3)');
    const steady = invoke(d, 'steady', {});
    const crash = await invoke(d, 'crasher', {});
    expect(crash.statusCode).toBe(502);
    expect((await steady).statusCode).toBe(200);
  });
});
