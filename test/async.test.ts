// Asynchronous invocations through the real daemon, its SQLite registry and real sandboxes.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import type { Daemon } from '../src/daemon.js';
import { ADMIN, DEMO, startTestDaemon, tempDir, writeConfig } from './helpers/daemon.js';
import { deploy, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('async suite skipped: it runs functions in strict sandboxes, which need root');

/** Fast retries: the backoff is what is tested, not its length. */
const FAST = { async: { initial_backoff: '20ms', max_backoff: '100ms' } };

async function enqueue(d: Daemon, name: string, payload: unknown = {}, headers: Record<string, string> = {}) {
  return d.app.inject({ method: 'POST', url: `/async/${name}`, headers: { ...DEMO, 'content-type': 'application/json', ...headers }, payload: JSON.stringify(payload) });
}

async function job(d: Daemon, id: string) {
  return (await d.app.inject({ method: 'GET', url: `/invocations/${id}`, headers: DEMO })).json();
}

async function settled(d: Daemon, id: string, timeout = 20_000) {
  return vi.waitFor(
    async () => {
      const j = await job(d, id);
      expect(['succeeded', 'failed', 'cancelled']).toContain(j.status);
      return j;
    },
    { timeout, interval: 50 },
  );
}

describe.skipIf(!isRoot)('asynchronous invocations', () => {
  it('POST /async answers 202 with an unguessable id, Location and status_url, and the job runs to its result', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'echo-async', 'def handle(r):\n    return {"got": r.get_json(), "attempt": r.get_header("x-faas-attempt"), "path": r.path}');
    const res = await d.app.inject({ method: 'POST', url: '/async/echo-async/sub?x=1', headers: { ...DEMO, 'content-type': 'application/json' }, payload: '{"n": 7}' });
    expect(res.statusCode, res.body).toBe(202);
    const body = res.json();
    expect(body).toEqual({ id: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/), status: 'queued', status_url: `/invocations/${body.id}` });
    expect(res.headers.location).toBe(`/invocations/${body.id}`);
    expect(res.headers['x-faas-request-id']).toBe(body.id);
    const done = await settled(d, body.id);
    expect(done).toMatchObject({ status: 'succeeded', function: 'echo-async', attempts: 1, trigger: 'api', error: null });
    expect(done.result).toMatchObject({ status_code: 200, body_encoding: 'utf8', truncated: false });
    expect(JSON.parse(done.result.body)).toEqual({ got: { n: 7 }, attempt: '1', path: '/sub' });
    // Counted like a synchronous call.
    expect((await d.app.inject({ method: 'GET', url: '/metrics' })).body).toMatch(/gateway_function_invocation_total\{function_name="echo-async",code="200"\} 1/);
  });

  it('a function that crashes twice and then succeeds shows 3 attempts', async () => {
    const d = await startTestDaemon({ config: FAST });
    await deploy(d, 'flaky', 'import os\ndef handle(r):\n    if int(r.get_header("x-faas-attempt")) < 3:\n        os._exit(3)\n    return "third time"');
    const id = (await enqueue(d, 'flaky')).json().id;
    const done = await settled(d, id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 3 });
    expect(done.result.body).toBe('"third time"');
  });

  it('a job that keeps failing ends failed with its last error, and POST /invocations/:id/retry queues it again', async () => {
    const d = await startTestDaemon({ config: FAST });
    await deploy(d, 'always-down', 'import os\ndef handle(r):\n    os._exit(3)', { config: { async: { max_attempts: 2 } } });
    const id = (await enqueue(d, 'always-down')).json().id;
    const failed = await settled(d, id);
    expect(failed).toMatchObject({ status: 'failed', attempts: 2, result: null, error: { error: 'InstanceCrashed', status: 502 } });
    const listed = (await d.app.inject({ method: 'GET', url: '/invocations?status=failed&function=always-down', headers: DEMO })).json();
    expect(listed.invocations.map((j: { id: string }) => j.id)).toEqual([id]);
    // Re-queued: a fresh set of attempts, and it fails the same way again.
    const again = await d.app.inject({ method: 'POST', url: `/invocations/${id}/retry`, headers: DEMO });
    expect(again.statusCode, again.body).toBe(200);
    expect(again.json().status).toBe('queued');
    expect(await settled(d, id)).toMatchObject({ status: 'failed', attempts: 2 });
    // Only a failed job can be re-queued.
    await deploy(d, 'fine', 'def handle(r):\n    return 1');
    const ok = (await enqueue(d, 'fine')).json().id;
    await settled(d, ok);
    expect((await d.app.inject({ method: 'POST', url: `/invocations/${ok}/retry`, headers: DEMO })).json()).toMatchObject({ error: 'InvocationConflict' });
  });

  it('a function error (500) is not retried unless retry_on_error', async () => {
    const d = await startTestDaemon({ config: FAST });
    const code = 'def handle(r):\n    raise ValueError("bad input " + r.get_header("x-faas-attempt"))';
    await deploy(d, 'raises', code);
    await deploy(d, 'raises-retried', code, { config: { async: { retry_on_error: true, max_attempts: 3 } } });
    const once = await settled(d, (await enqueue(d, 'raises')).json().id);
    expect(once).toMatchObject({ status: 'failed', attempts: 1, error: { error: 'FunctionError', message: expect.stringContaining('bad input 1') } });
    const thrice = await settled(d, (await enqueue(d, 'raises-retried')).json().id);
    expect(thrice).toMatchObject({ status: 'failed', attempts: 3, error: { message: expect.stringContaining('bad input 3') } });
  });

  it('the same Idempotency-Key for the same function returns the first job and queues nothing more', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'once-only', 'def handle(r):\n    print("ran")\n    return 1');
    const first = await enqueue(d, 'once-only', {}, { 'idempotency-key': 'order-42' });
    const second = await enqueue(d, 'once-only', {}, { 'idempotency-key': 'order-42' });
    expect(second.statusCode).toBe(202);
    expect(second.json().id).toBe(first.json().id);
    await settled(d, first.json().id);
    const all = (await d.app.inject({ method: 'GET', url: '/invocations?function=once-only', headers: DEMO })).json();
    expect(all.count).toBe(1);
    expect((await enqueue(d, 'once-only', {}, { 'idempotency-key': 'bad key with spaces' })).json()).toMatchObject({ error: 'BadRequest', field: 'Idempotency-Key' });
  });

  it('DELETE cancels a queued job, which never runs; over max_queue an enqueue is 429', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'one-at-a-time', 'import time\ndef handle(r):\n    print("ran", r.get_json()["n"])\n    time.sleep(r.get_json().get("sleep", 0))\n    return 1', {
      config: { async: { concurrency: 1, max_queue: 2 } },
    });
    const running = (await enqueue(d, 'one-at-a-time', { n: 1, sleep: 1.5 })).json().id;
    await vi.waitFor(async () => expect((await job(d, running)).status).toBe('running'), { timeout: 10_000 });
    const queued = (await enqueue(d, 'one-at-a-time', { n: 2 })).json().id;
    const third = (await enqueue(d, 'one-at-a-time', { n: 3 })).json().id;
    const over = await enqueue(d, 'one-at-a-time', { n: 4 });
    expect(over.statusCode).toBe(429);
    expect(over.json()).toMatchObject({ error: 'AsyncQueueFull', limit: 'async.max_queue', max_queue: 2 });
    expect(Number(over.headers['retry-after'])).toBeGreaterThanOrEqual(1);

    const cancelled = await d.app.inject({ method: 'DELETE', url: `/invocations/${queued}`, headers: DEMO });
    expect(cancelled.json()).toMatchObject({ status: 'cancelled' });
    expect((await d.app.inject({ method: 'DELETE', url: `/invocations/${running}`, headers: DEMO })).json()).toMatchObject({ error: 'InvocationConflict', status: 'running' });
    await settled(d, running);
    await settled(d, third);
    const lines = (await d.app.inject({ method: 'GET', url: '/functions/one-at-a-time/logs', headers: DEMO })).json().lines.map((l: { line: string }) => l.line);
    expect(lines).toEqual(['ran 1', 'ran 3']);
    expect((await job(d, queued)).status).toBe('cancelled');
  });

  it('answers 404 for an unknown function or job, 400 naming a bad filter, and lists with a cursor', async () => {
    const d = await startTestDaemon();
    expect((await enqueue(d, 'ghost')).json()).toMatchObject({ error: 'FunctionNotFound' });
    expect((await d.app.inject({ method: 'GET', url: '/invocations/AAAAAAAAAAAAAAAAAAAAAA', headers: DEMO })).json()).toMatchObject({ error: 'InvocationNotFound' });
    expect((await d.app.inject({ method: 'GET', url: '/invocations?status=lost', headers: DEMO })).json()).toMatchObject({ error: 'BadRequest', field: 'status' });
    await deploy(d, 'paged', 'def handle(r):\n    return 1');
    const ids = [];
    for (let i = 0; i < 5; i++) ids.push((await enqueue(d, 'paged', { i })).json().id);
    const page1 = (await d.app.inject({ method: 'GET', url: '/invocations?function=paged&limit=3', headers: ADMIN })).json();
    const page2 = (await d.app.inject({ method: 'GET', url: `/invocations?function=paged&limit=3&cursor=${page1.next_cursor}`, headers: ADMIN })).json();
    expect(page1.count).toBe(3);
    expect(page2.next_cursor).toBeNull();
    expect([...page1.invocations, ...page2.invocations].map((j: { id: string }) => j.id).sort()).toEqual([...ids].sort());
  });
});

describe.skipIf(!isRoot)('async durability', () => {
  it('a job acknowledged with 202 runs to the end after the daemon is killed with SIGKILL and started again', async () => {
    const dir = tempDir();
    const file = writeConfig(dir, { ...FAST, api_keys: [{ name: 'k', key: 'durable-key-1234', scopes: ['invoke', 'manage'] }] });
    const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root' };
    const bin = path.resolve(__dirname, '..', 'bin', 'faasd.js');
    const start = async () => {
      const child = spawn(process.execPath, [bin, '-c', file, '--port', '0'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      onTestFinished(() => void child.kill('SIGKILL'));
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /"url":"(http:\/\/[^"]+)"/.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (c) => reject(new Error(`faasd exited ${c}: ${out}`)));
      });
      return { child, url };
    };
    const auth = { authorization: 'Bearer durable-key-1234' };
    const first = await start();
    const made = await fetch(`${first.url}/functions`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'slow-job', code: 'import time\ndef handle(r):\n    time.sleep(1)\n    return {"attempt": r.get_header("x-faas-attempt")}', config: { async: { concurrency: 1 } } }),
    });
    expect(made.status).toBe(201);
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) ids.push(((await (await fetch(`${first.url}/async/slow-job`, { method: 'POST', headers: auth })).json()) as { id: string }).id);
    // One running, one queued: kill -9 while the first one runs.
    await vi.waitFor(async () => expect(((await (await fetch(`${first.url}/invocations/${ids[0]}`, { headers: auth })).json()) as { status: string }).status).toBe('running'), { timeout: 10_000 });
    const dead = new Promise((r) => first.child.once('exit', r));
    first.child.kill('SIGKILL');
    await dead;

    const second = await start();
    const results = await vi.waitFor(
      async () => {
        const all = await Promise.all(ids.map(async (id) => (await (await fetch(`${second.url}/invocations/${id}`, { headers: auth })).json()) as { status: string; attempts: number }));
        for (const j of all) expect(j.status).toBe('succeeded');
        return all;
      },
      { timeout: 20_000, interval: 100 },
    );
    // The one that was running when the daemon died ran again (its first attempt counted).
    expect(results.map((j) => j.attempts)).toEqual([2, 1]);
    const stopped = new Promise((r) => second.child.once('exit', r));
    second.child.kill('SIGTERM');
    expect(await stopped).toBe(0);
  }, 60_000);
});

describe.skipIf(!isRoot)('async queue observability', () => {
  it('/metrics and /stats show the queue depth, the oldest job age, and jobs by final status and attempts', async () => {
    const d = await startTestDaemon({ config: FAST });
    await deploy(d, 'backlog', 'import time\ndef handle(r):\n    time.sleep(r.get_json().get("sleep", 0))\n    return 1', { config: { async: { concurrency: 1 } } });
    const first = (await enqueue(d, 'backlog', { sleep: 1 })).json().id;
    await vi.waitFor(async () => expect((await job(d, first)).status).toBe('running'), { timeout: 10_000 });
    const rest = [];
    for (let i = 0; i < 3; i++) rest.push((await enqueue(d, 'backlog')).json().id);
    const metrics = (await d.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toMatch(/faasd_async_queue_depth\{function="backlog"\} 3/);
    expect(metrics).toMatch(/faasd_async_running\{function="backlog"\} 1/);
    expect(metrics).toMatch(/faasd_async_oldest_job_age_seconds\{function="backlog"\} [0-9.]+/);
    const stats = (await d.app.inject({ method: 'GET', url: '/stats', headers: DEMO })).json();
    expect(stats.async).toMatchObject({ queued: 3, running: 1, functions: [{ function: 'backlog', queued: 3, running: 1 }] });
    for (const id of [first, ...rest]) await settled(d, id);
    const after = (await d.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(after).toMatch(/faasd_async_jobs_total\{function="backlog",status="succeeded"\} 4/);
    expect(after).toMatch(/faasd_async_attempts_total\{function="backlog"\} 4/);
    expect(after).not.toMatch(/faasd_async_queue_depth\{function="backlog"\}/);
  });
});

describe.skipIf(!isRoot)('async jobs across a graceful restart', () => {
  it('SIGTERM-style close lets the running job finish and leaves the queued one for the next start, which runs it', async () => {
    const dir = tempDir();
    const first = await startTestDaemon({ dir, config: FAST });
    await deploy(first, 'patient', 'import time\ndef handle(r):\n    time.sleep(r.get_json().get("sleep", 0))\n    return r.get_json()["n"]', { config: { async: { concurrency: 1 } } });
    const running = (await enqueue(first, 'patient', { n: 1, sleep: 1 })).json().id;
    await vi.waitFor(async () => expect((await job(first, running)).status).toBe('running'), { timeout: 10_000 });
    const waiting = (await enqueue(first, 'patient', { n: 2 })).json().id;
    await first.close();

    const second = await startTestDaemon({ dir, config: FAST });
    // Finished before the first daemon stopped: attempt 1, not run again.
    expect(await job(second, running)).toMatchObject({ status: 'succeeded', attempts: 1, result: { body: '1' } });
    expect(await settled(second, waiting)).toMatchObject({ status: 'succeeded', attempts: 1, result: { body: '2' } });
  });

  it('finished jobs older than async.retention are pruned at start', async () => {
    const dir = tempDir();
    const first = await startTestDaemon({ dir, config: { async: { retention: '1s' } } });
    await deploy(first, 'short-lived', 'def handle(r):\n    return 1');
    const id = (await enqueue(first, 'short-lived')).json().id;
    await settled(first, id);
    await first.close();
    await new Promise((r) => setTimeout(r, 1100));
    const second = await startTestDaemon({ dir, config: { async: { retention: '1s' } } });
    expect((await second.app.inject({ method: 'GET', url: `/invocations/${id}`, headers: DEMO })).json()).toMatchObject({ error: 'InvocationNotFound' });
  });
});
