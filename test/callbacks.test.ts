// Result callbacks (X-Callback-Url) through the real daemon, its SQLite registry and real
// sandboxes, delivered to a receiver on loopback that the config allows deliberately.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Database from 'better-sqlite3';
import pino from 'pino';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import type { Daemon } from '../src/daemon.js';
import { CallbackPolicy, CallbackSender } from '../src/jobs/callbacks.js';
import { SqliteJobStore } from '../src/jobs/sqlite-job-store.js';
import { migrate } from '../src/registry/migrations.js';
import { DEMO, startTestDaemon, tempDir, writeConfig } from './helpers/daemon.js';
import { deploy, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('callbacks suite skipped: it runs functions in strict sandboxes, which need root');

/** Loopback opened for the receiver, and fast retries: the backoff is what is tested, not its length. */
const ALLOWED = { async: { callback_allowed_hosts: ['127.0.0.1'], callback_initial_backoff: '20ms', callback_max_backoff: '100ms' } };

interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  path: string;
}

/** An HTTP receiver on 127.0.0.1 answering each POST with the next of `answers` (then 200; null: never). */
async function receiver(answers: (number | null)[] = []) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      got.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), path: req.url ?? '' });
      const status = answers[got.length - 1];
      if (status !== null) res.writeHead(status ?? 200).end('thanks');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const { port } = server.address() as AddressInfo;
  return { got, port, url: `http://127.0.0.1:${port}/hook?token=abc` };
}

async function enqueue(d: Daemon, name: string, callbackUrl: string, payload: unknown = {}) {
  return d.app.inject({
    method: 'POST',
    url: `/async/${name}`,
    headers: { ...DEMO, 'content-type': 'application/json', 'x-callback-url': callbackUrl },
    payload: JSON.stringify(payload),
  });
}

async function job(d: Daemon, id: string) {
  return (await d.app.inject({ method: 'GET', url: `/invocations/${id}`, headers: DEMO })).json();
}

/** The job once its callback is no longer pending. */
async function callbackSettled(d: Daemon, id: string, timeout = 20_000) {
  return vi.waitFor(
    async () => {
      const j = await job(d, id);
      expect(['delivered', 'failed']).toContain(j.callback?.status);
      return j;
    },
    { timeout, interval: 50 },
  );
}

describe('callback settings', () => {
  it('a bad async.callback_allowed_hosts entry is refused at load, naming its index and line', () => {
    const dir = tempDir();
    const file = writeConfig(dir, { async: { callback_allowed_hosts: ['127.0.0.1', '10.0.0.0/8', 'hooks.example.com', 'not a host!'] } });
    expect(() => loadConfig({ file, env: {} })).toThrow(/faas_config\.yaml:\d+: async\.callback_allowed_hosts\[3\]: got "not a host!", expected a host name, an IP address or a CIDR/);
    const bad = writeConfig(dir, { async: { callback_allowed_hosts: ['10.0.0.0/33'] } });
    expect(() => loadConfig({ file: bad, env: {} })).toThrow(/async\.callback_allowed_hosts\[0\]/);
  });

  it('entries are normalised: lower case, IPv6 without brackets; the defaults are 10 attempts from 1 s to 5 min, 10 s each', () => {
    const c = loadConfig({ file: writeConfig(tempDir(), { async: { callback_allowed_hosts: ['Hooks.Example.COM', '[::1]', 'FD00::/8'] } }), env: {} });
    expect(c.async.callback_allowed_hosts).toEqual(['hooks.example.com', '::1', 'fd00::/8']);
    expect(c.async).toMatchObject({ callback_max_attempts: 10, callback_initial_backoff: 1000, callback_max_backoff: 300_000, callback_timeout: 10_000 });
  });
});

describe('callback delivery', () => {
  /** A sender on an in-memory registry with one finished job whose callback is pending. */
  async function pendingCallback(url: string, resolve: (host: string) => string[]) {
    const db = new Database(':memory:');
    onTestFinished(() => void db.close());
    migrate(db);
    const store = new SqliteJobStore(db);
    const request = { method: 'POST', path: '/', query: {}, headers: {} };
    const { job } = store.enqueue({ function: 'f', trigger: 'api', request, body: Buffer.alloc(0), idempotencyKey: null, maxAttempts: 1, callbackUrl: url }, Date.now(), 10)!;
    store.claim('f', Date.now());
    store.finish(job.id, 'succeeded', Date.now(), { result: { status: 201, headers: { 'Content-Type': 'text/plain' }, body: Buffer.from('made'), truncated: false } });
    const lookups: string[] = [];
    const fakeDns = async (host: string) => {
      lookups.push(host);
      return resolve(host).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    };
    const defaults = loadConfig({ file: writeConfig(tempDir(), { async: { callback_allowed_hosts: ['127.0.0.0/8'] } }), env: {} }).async;
    const sender = new CallbackSender({ store, policy: new CallbackPolicy(defaults.callback_allowed_hosts), defaults, logger: pino({ level: 'silent' }), resolve: fakeDns });
    sender.start();
    onTestFinished(() => sender.stop());
    return { store, id: job.id, lookups };
  }

  it('connects to the address that passed the check, resolving the name once: a name that rebinds gets nowhere else', async () => {
    const r = await receiver();
    // hooks.invalid resolves nowhere on this machine: the POST can only arrive through the checked address.
    let calls = 0;
    const { store, id, lookups } = await pendingCallback(`http://hooks.invalid:${r.port}/pinned`, () => (calls++ === 0 ? ['10.1.2.3', '127.0.0.1'] : ['169.254.169.254']));
    await vi.waitFor(() => expect(store.get(id)!.callback.status).toBe('delivered'), { timeout: 5000, interval: 20 });
    expect(lookups).toEqual(['hooks.invalid']);
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.path).toBe('/pinned');
    expect(r.got[0]!.headers).toMatchObject({ host: `hooks.invalid:${r.port}`, 'content-type': 'text/plain', 'x-faas-function-status': '201' });
  });

  it('a name whose every address is refused is given up at once, without a connection', async () => {
    const r = await receiver();
    const { store, id } = await pendingCallback(`http://metadata.invalid:${r.port}/`, () => ['169.254.169.254', '::ffff:10.0.0.1']);
    await vi.waitFor(() => expect(store.get(id)!.callback.status).toBe('failed'), { timeout: 5000, interval: 20 });
    expect(store.get(id)!.callback).toMatchObject({ attempts: 1, error: expect.stringContaining('169.254.169.254 is in 169.254.0.0/16 (link-local), ::ffff:10.0.0.1 is in 10.0.0.0/8 (private)') });
    expect(r.got).toHaveLength(0);
  });
});

describe.skipIf(!isRoot)('result callbacks', () => {
  it('a loopback receiver allowed by callback_allowed_hosts gets exactly one POST with the job id, its status and the function body', async () => {
    const r = await receiver();
    const d = await startTestDaemon({ config: ALLOWED });
    await deploy(d, 'hello-cb', 'def handle(r):\n    return {"hello": r.get_json()["name"]}');
    const res = await enqueue(d, 'hello-cb', r.url, { name: 'ada' });
    expect(res.statusCode, res.body).toBe(202);
    const id = res.json().id;
    const done = await callbackSettled(d, id);
    expect(done).toMatchObject({ status: 'succeeded', callback: { url: r.url, status: 'delivered', attempts: 1, last_error: null } });
    expect(r.got).toHaveLength(1);
    const [post] = r.got;
    expect(post!.path).toBe('/hook?token=abc');
    expect(post!.headers).toMatchObject({
      'x-faas-invocation-id': id,
      'x-faas-status': 'succeeded',
      'x-faas-function-status': '200',
      'x-faas-function': 'hello-cb',
      'content-type': expect.stringContaining('json'),
    });
    expect(JSON.parse(post!.body)).toEqual({ hello: 'ada' });
    // Delivered means done: nothing more arrives.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(r.got).toHaveLength(1);
  });

  it('a receiver that answers 500 twice and then 200 gets three POSTs, and the job shows the callback delivered', async () => {
    const r = await receiver([500, 500, 200]);
    const d = await startTestDaemon({ config: ALLOWED });
    await deploy(d, 'retry-cb', 'def handle(r):\n    return "ok"');
    const id = (await enqueue(d, 'retry-cb', r.url)).json().id;
    const done = await callbackSettled(d, id);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, callback: { status: 'delivered', attempts: 3, last_error: 'the callback endpoint answered 500' } });
    expect(r.got.map((p) => p.headers['x-faas-callback-attempt'])).toEqual(['1', '2', '3']);
    expect(r.got.every((p) => p.body === '"ok"')).toBe(true);
  });

  it("a failed job's callback carries X-Faas-Status failed and the error", async () => {
    const r = await receiver();
    const d = await startTestDaemon({ config: ALLOWED });
    await deploy(d, 'broken-cb', 'def handle(r):\n    raise ValueError("no such order")');
    const id = (await enqueue(d, 'broken-cb', r.url)).json().id;
    const done = await callbackSettled(d, id);
    expect(done).toMatchObject({ status: 'failed', callback: { status: 'delivered' } });
    expect(r.got).toHaveLength(1);
    expect(r.got[0]!.headers).toMatchObject({ 'x-faas-status': 'failed', 'x-faas-function-status': '500', 'content-type': 'application/json' });
    expect(JSON.parse(r.got[0]!.body)).toMatchObject({ error: 'FunctionError', status: 500, message: expect.stringContaining('no such order') });
  });

  it('a receiver that never answers is given up after callback_max_attempts, the timeout as its last error, and the job stays succeeded', async () => {
    const r = await receiver([null, null]);
    const d = await startTestDaemon({ config: { async: { ...ALLOWED.async, callback_max_attempts: 2, callback_timeout: '200ms' } } });
    await deploy(d, 'silent-cb', 'def handle(r):\n    return 1');
    const id = (await enqueue(d, 'silent-cb', r.url)).json().id;
    const done = await callbackSettled(d, id);
    expect(done).toMatchObject({ status: 'succeeded', callback: { status: 'failed', attempts: 2, last_error: expect.stringContaining('no answer within 200 ms') } });
    expect(r.got).toHaveLength(2);
  });

  it('without the allow list, callbacks to loopback, private, link-local and CGNAT addresses are refused at enqueue with 400 naming X-Callback-Url', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'guarded', 'def handle(r):\n    return 1');
    const refused = [
      'http://127.0.0.1:9/hook',
      'http://10.0.0.1/hook',
      'http://172.16.5.4/hook',
      'http://192.168.1.1/hook',
      'http://169.254.169.254/latest/meta-data/',
      'http://100.64.0.1/',
      'http://0.0.0.0:80/',
      'http://[::1]:8080/hook',
      'http://[::]/',
      'http://[::ffff:127.0.0.1]/hook',
      'http://[fe80::1]/',
      'http://[fd12:3456::1]/',
      // The URL parser reads these as 127.0.0.1.
      'http://2130706433/',
      'http://0x7f.1/',
    ];
    for (const url of refused) {
      const res = await enqueue(d, 'guarded', url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ error: 'BadRequest', field: 'X-Callback-Url', message: expect.stringContaining('async.callback_allowed_hosts') });
    }
    expect((await enqueue(d, 'guarded', 'http://169.254.169.254/')).json().message).toMatch(/169\.254\.169\.254 is in 169\.254\.0\.0\/16 \(link-local\)/);
    const listed = (await d.app.inject({ method: 'GET', url: '/invocations?function=guarded', headers: DEMO })).json();
    expect(listed.count).toBe(0);
  });

  it('a host name that resolves to loopback (localhost) is refused at delivery: nothing is sent and the job shows why', async () => {
    const r = await receiver();
    const d = await startTestDaemon();
    await deploy(d, 'rebound', 'def handle(r):\n    return 1');
    const res = await enqueue(d, 'rebound', `http://localhost:${r.port}/hook`);
    expect(res.statusCode, res.body).toBe(202);
    const done = await callbackSettled(d, res.json().id);
    expect(done).toMatchObject({
      status: 'succeeded',
      callback: { status: 'failed', attempts: 1, last_error: expect.stringMatching(/localhost resolves only to refused addresses \(.*127\.0\.0\.0\/8 \(loopback\).*async\.callback_allowed_hosts/) },
    });
    expect(r.got).toHaveLength(0);
  });

  it('a host name or a CIDR in callback_allowed_hosts opens it', async () => {
    const r = await receiver();
    const d = await startTestDaemon({ config: { async: { callback_allowed_hosts: ['localhost', '127.0.0.0/8'] } } });
    await deploy(d, 'opened', 'def handle(r):\n    return 1');
    const byName = (await enqueue(d, 'opened', `http://localhost:${r.port}/by-name`)).json().id;
    const byNet = (await enqueue(d, 'opened', `http://127.0.0.1:${r.port}/by-net`)).json().id;
    expect((await callbackSettled(d, byName)).callback.status).toBe('delivered');
    expect((await callbackSettled(d, byNet)).callback.status).toBe('delivered');
    expect(r.got.map((p) => p.path).sort()).toEqual(['/by-name', '/by-net']);
  });

  it('an X-Callback-Url that is not an absolute http(s) URL, carries credentials or is too long is 400 naming the header', async () => {
    const d = await startTestDaemon({ config: ALLOWED });
    await deploy(d, 'strict-cb', 'def handle(r):\n    return 1');
    for (const [url, why] of [
      ['/relative/hook', /absolute http/],
      ['ftp://127.0.0.1/hook', /http:\/\/ or https:\/\//],
      ['http://user:secret@127.0.0.1/hook', /credentials/],
      [`http://127.0.0.1/${'a'.repeat(2100)}`, /at most 2048/],
      ['', /absolute http/],
    ] as const) {
      const res = await enqueue(d, 'strict-cb', url);
      expect(res.statusCode, url).toBe(400);
      expect(res.json(), url).toMatchObject({ field: 'X-Callback-Url', message: expect.stringMatching(why) });
    }
  });

  it('a callback still pending when faasd stops is delivered by the next start on the same registry', async () => {
    const r = await receiver([500]);
    const dir = tempDir();
    const config = { async: { ...ALLOWED.async, callback_initial_backoff: '1s', callback_max_backoff: '1s' } };
    const first = await startTestDaemon({ dir, config });
    await deploy(first, 'durable-cb', 'def handle(r):\n    return "kept"');
    const id = (await enqueue(first, 'durable-cb', r.url)).json().id;
    await vi.waitFor(async () => expect((await job(first, id)).callback).toMatchObject({ status: 'pending', attempts: 1 }), { timeout: 20_000, interval: 50 });
    await first.close();
    expect(r.got).toHaveLength(1);

    const second = await startTestDaemon({ dir, config });
    const done = await callbackSettled(second, id);
    expect(done.callback).toMatchObject({ status: 'delivered', attempts: 2 });
    expect(r.got.map((p) => p.body)).toEqual(['"kept"', '"kept"']);
  });
});
