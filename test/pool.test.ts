// FunctionPool against a fake driver: the pool's own logic (queue, round-robin, caps, TTL,
// roll-over, abort, failed starts, deaths, timeouts, close and destroy) in milliseconds and
// without root. The real drivers go through the same pool in process-mode, container-mode,
// prewarm and shutdown tests.
import { getEventListeners } from 'node:events';
import { setImmediate as tick } from 'node:timers/promises';
import pino from 'pino';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { FaasError } from '../src/errors.js';
import type { Driver, DriverHealth, ExitInfo, InstanceSpec, InstanceUsage, RunningInstance } from '../src/execution/driver.js';
import { CapacityGate } from '../src/execution/pool/capacity.js';
import { FunctionPool, type InvokeOutcome, type PoolFunction } from '../src/execution/pool/pool.js';
import type { InvokeRequest, InvokeResult } from '../src/execution/protocol/shim-channel.js';

const logger = pino({ level: 'silent' });

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: Error): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function answer(body: string): InvokeResult {
  return { status: 200, headers: {}, body: Buffer.from(body), logs: [] };
}

/** A fake instance: answers from the driver's handler; dies, is killed and stops like a real one. */
class FakeInstance implements RunningInstance {
  readonly exited: Promise<ExitInfo>;
  readonly calls: string[] = [];
  killed = false;
  released = false;
  private gone = false;
  private settleExit!: (exit: ExitInfo) => void;
  private inFlight: ((err: Error) => void) | null = null;
  private stopping: Promise<void> | null = null;

  constructor(
    readonly id: string,
    readonly spec: InstanceSpec,
    private readonly driver: FakeDriver,
  ) {
    this.exited = new Promise<ExitInfo>((resolve) => (this.settleExit = resolve));
  }

  /** Takes what the spec asks (the pool then sends up to that many calls at once). */
  get concurrency(): number {
    return this.spec.concurrency ?? 1;
  }

  invoke(req: InvokeRequest): Promise<InvokeResult> {
    if (this.gone) return Promise.reject(new FaasError('INSTANCE_CRASHED', 'the connection to the instance is closed'));
    this.calls.push(req.id);
    this.driver.invocations.push(req.id);
    return new Promise<InvokeResult>((resolve, reject) => {
      this.inFlight = reject;
      Promise.resolve(this.driver.handler(req, this))
        .then(resolve, reject)
        .finally(() => (this.inFlight = null));
    });
  }

  /** The instance dies on its own (OOM, crash): its exit is reported and its connection drops. */
  die(exit: Partial<ExitInfo> & Pick<ExitInfo, 'reason'>): void {
    if (this.gone) return;
    this.gone = true;
    this.settleExit({ code: null, signal: null, stderrTail: '', ...exit });
    this.inFlight?.(new FaasError('INSTANCE_CRASHED', 'the connection to the instance closed'));
  }

  kill(): Promise<ExitInfo> {
    if (!this.gone) this.killed = true;
    this.die({ reason: 'killed', signal: 'SIGKILL' });
    return this.exited;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      this.die({ reason: 'stopped', code: 0 });
      await tick();
      this.released = true;
    })();
    return this.stopping;
  }

  usage(): Promise<InstanceUsage | null> {
    return Promise.resolve(null);
  }
}

type Handler = (req: InvokeRequest, inst: FakeInstance) => InvokeResult | Promise<InvokeResult>;

class FakeDriver implements Driver {
  readonly mode = 'process' as const;
  readonly instances: FakeInstance[] = [];
  /** Request ids in the order instances received them. */
  readonly invocations: string[] = [];
  startCalls = 0;
  abortedStarts = 0;
  /** ms before a start resolves (setTimeout: fake timers apply). */
  startDelayMs = 0;
  /** While set, starts wait for it. */
  startGate: Promise<void> | null = null;
  /** Returns the error the next starts fail with, or null. */
  failStart: (spec: InstanceSpec) => Error | null = () => null;
  handler: Handler = (req) => answer(req.id);
  /** Calls held by hold(), answered by release(). */
  private readonly held = new Map<string, Deferred<InvokeResult>>();

  health(): DriverHealth {
    return { ok: true, detail: 'fake' };
  }

  async prepare(): Promise<void> {}

  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<RunningInstance> {
    this.startCalls += 1;
    const aborted = new Promise<never>((_, reject) => signal?.addEventListener('abort', () => reject(new FaasError('INSTANCE_CRASHED', 'start aborted')), { once: true }));
    aborted.catch(() => undefined);
    try {
      if (this.startGate) await Promise.race([this.startGate, aborted]);
      if (this.startDelayMs > 0) await Promise.race([new Promise((r) => setTimeout(r, this.startDelayMs)), aborted]);
    } catch (e) {
      this.abortedStarts += 1;
      throw e;
    }
    const err = this.failStart(spec);
    if (err) throw err;
    const inst = new FakeInstance(spec.instanceId, spec, this);
    this.instances.push(inst);
    return inst;
  }

  async close(): Promise<void> {}

  /** From now on every call waits for release(id). */
  hold(): void {
    this.handler = (req) => {
      const d = deferred<InvokeResult>();
      this.held.set(req.id, d);
      return d.promise;
    };
  }

  release(id: string): void {
    const d = this.held.get(id);
    if (!d) throw new Error(`call ${id} is not held`);
    this.held.delete(id);
    d.resolve(answer(id));
  }

  instance(id: string): FakeInstance {
    const inst = this.instances.find((i) => i.id === id);
    if (!inst) throw new Error(`no instance ${id}`);
    return inst;
  }
}

function request(id: string): InvokeRequest {
  return { id, method: 'POST', path: '/', query: {}, headers: {}, body: Buffer.alloc(0), timeoutMs: 30_000 };
}

function fn(over: Partial<PoolFunction> = {}): PoolFunction {
  const name = over.name ?? 'fn';
  const version = over.version ?? 1;
  return {
    name,
    version,
    timeoutMs: 30_000,
    minInstances: 0,
    maxInstances: 4,
    spec: (instanceId) => ({
      instanceId,
      functionName: name,
      version,
      runtime: 'node',
      codeDir: '/nonexistent',
      file: 'index.js',
      environment: {},
      memoryBytes: 128 << 20,
      cpus: 0,
      pidsLimit: 64,
      ...(over.concurrency ? { concurrency: over.concurrency } : {}),
    }),
    ...over,
  };
}

interface PoolSetup {
  driver?: FakeDriver;
  capacity?: CapacityGate;
  queueLimit?: number;
  coldStartTimeoutMs?: number;
}

function makePool(over: Partial<PoolFunction> = {}, setup: PoolSetup = {}): { pool: FunctionPool; driver: FakeDriver } {
  const driver = setup.driver ?? new FakeDriver();
  const pool = new FunctionPool(fn(over), {
    driver,
    capacity: setup.capacity ?? new CapacityGate(100),
    logger,
    coldStartTimeoutMs: setup.coldStartTimeoutMs ?? 10_000,
    queueLimit: setup.queueLimit ?? 64,
  });
  onTestFinished(() => pool.destroy());
  return { pool, driver };
}

/** The gate the manager builds: a full gate stops the least recently used surplus idle instance of another pool. */
function sharedGate(max: number, pools: () => FunctionPool[]): CapacityGate {
  return new CapacityGate(max, logger, (except) => {
    let best: { pool: FunctionPool; inst: NonNullable<ReturnType<FunctionPool['surplusIdle']>> } | null = null;
    for (const pool of pools()) {
      if (pool === except) continue;
      const inst = pool.surplusIdle();
      if (inst && (!best || inst.lastUsedAt < best.inst.lastUsedAt)) best = { pool, inst };
    }
    if (!best) return false;
    best.pool.evict(best.inst);
    return true;
  });
}

/** Starts a call and keeps its outcome or error, so a rejection is never unhandled. */
function call(pool: FunctionPool, id: string, signal?: AbortSignal): Promise<InvokeOutcome | FaasError> {
  return pool.invoke(request(id), signal).catch((e: unknown) => {
    if (e instanceof FaasError) return e;
    throw e;
  });
}

function body(out: InvokeOutcome | FaasError): string {
  if (out instanceof FaasError) throw out;
  return out.result.body.toString();
}

/** A few turns of the event loop: long enough for anything the pool would do on its own. */
async function turns(n = 5): Promise<void> {
  for (let i = 0; i < n; i++) await tick();
}

/** Has `p` settled after a few turns? */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await turns();
  return done;
}

/** vi.waitFor polling every millisecond: everything here settles within a few event-loop turns. */
function until(check: () => void): Promise<void> {
  return vi.waitFor(check, { interval: 1, timeout: 2000 });
}

afterEach(() => {
  vi.useRealTimers();
});

describe('FunctionPool: queueing and placement', () => {
  it('calls that find every instance busy queue and run in arrival order', async () => {
    const { pool, driver } = makePool({ maxInstances: 1 });
    driver.hold();
    const first = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    const rest = ['c2', 'c3', 'c4'].map((id) => call(pool, id));
    expect(pool.queueDepth).toBe(3);
    driver.release('c1');
    for (const id of ['c2', 'c3', 'c4']) {
      await until(() => expect(driver.invocations.at(-1)).toBe(id));
      driver.release(id);
    }
    expect((await Promise.all([first, ...rest])).map(body)).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(driver.invocations).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(driver.startCalls).toBe(1);
  });

  it('idle instances take calls in turn, round-robin', async () => {
    const { pool, driver } = makePool({ minInstances: 3 });
    pool.ensureMinimum();
    await until(() => expect(pool.counts().idle).toBe(3));
    const served: string[] = [];
    for (let i = 0; i < 6; i++) {
      const out = await pool.invoke(request(`c${i}`));
      served.push(out.instanceId);
    }
    const ids = driver.instances.map((i) => i.id);
    expect(served).toEqual([...ids, ...ids]);
  });

  it('max_instances caps the instances and the calls beyond it queue', async () => {
    const { pool, driver } = makePool({ maxInstances: 2 });
    driver.hold();
    const calls = ['c1', 'c2', 'c3', 'c4', 'c5'].map((id) => call(pool, id));
    await until(() => expect(pool.counts().busy).toBe(2));
    expect(pool.queueDepth).toBe(3);
    expect(driver.startCalls).toBe(2);
    for (const id of ['c1', 'c2', 'c3', 'c4', 'c5']) {
      await until(() => expect(driver.invocations).toContain(id));
      driver.release(id);
    }
    expect((await Promise.all(calls)).map(body)).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(driver.startCalls).toBe(2);
  });

  it('a call beyond the queue limit gets QUEUE_FULL at once, and the queued calls still run', async () => {
    const { pool, driver } = makePool({ maxInstances: 1 }, { queueLimit: 2 });
    driver.hold();
    const running = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    const queued = [call(pool, 'c2'), call(pool, 'c3')];
    const refused = await call(pool, 'c4');
    expect(refused).toBeInstanceOf(FaasError);
    expect(refused).toMatchObject({ code: 'QUEUE_FULL', status: 503, details: { limit: 'queue', queue_limit: 2 } });
    for (const id of ['c1', 'c2', 'c3']) {
      await until(() => expect(driver.invocations).toContain(id));
      driver.release(id);
    }
    expect((await Promise.all([running, ...queued])).map(body)).toEqual(['c1', 'c2', 'c3']);
    expect(driver.invocations).not.toContain('c4');
  });

  it('a call that needs a new instance while max_concurrent_functions are all busy gets NO_CAPACITY at once', async () => {
    const pools: FunctionPool[] = [];
    const capacity = sharedGate(1, () => pools);
    const driver = new FakeDriver();
    const a = makePool({ name: 'a' }, { driver, capacity }).pool;
    const b = makePool({ name: 'b' }, { driver, capacity }).pool;
    pools.push(a, b);
    driver.hold();
    const busy = call(a, 'a1');
    await until(() => expect(driver.invocations).toEqual(['a1']));
    const refused = await call(b, 'b1');
    expect(refused).toMatchObject({ code: 'NO_CAPACITY', status: 503, details: { limit: 'max_concurrent_functions', max_concurrent_functions: 1 } });
    expect(driver.startCalls).toBe(1);
    driver.release('a1');
    expect(body(await busy)).toBe('a1');
  });

  it('an idle instance of another function is stopped to make room when max_concurrent_functions is reached', async () => {
    const pools: FunctionPool[] = [];
    const capacity = sharedGate(1, () => pools);
    const driver = new FakeDriver();
    const a = makePool({ name: 'a' }, { driver, capacity }).pool;
    const b = makePool({ name: 'b' }, { driver, capacity }).pool;
    pools.push(a, b);
    expect(body(await call(a, 'a1'))).toBe('a1');
    const aInstance = driver.instances[0]!;
    expect(a.counts().idle).toBe(1);
    expect(body(await call(b, 'b1'))).toBe('b1');
    await until(() => expect(aInstance.released).toBe(true));
    expect(a.counts().total).toBe(0);
    expect(b.counts()).toMatchObject({ total: 1, idle: 1 });
    expect(capacity.used).toBe(1);
  });
});

describe('FunctionPool: instance lifetime', () => {
  it('instances idle longer than the TTL are stopped, down to min_instances', async () => {
    const { pool, driver } = makePool({ minInstances: 1, maxInstances: 3 });
    driver.hold();
    const calls = ['c1', 'c2', 'c3'].map((id) => call(pool, id));
    await until(() => expect(pool.counts().busy).toBe(3));
    for (const id of ['c1', 'c2', 'c3']) driver.release(id);
    await Promise.all(calls);
    const now = Date.now();
    pool.reap(60_000, now + 59_000);
    expect(pool.counts()).toMatchObject({ total: 3, idle: 3 });
    pool.reap(60_000, now + 60_000);
    await until(() => expect(pool.counts()).toMatchObject({ total: 1, idle: 1 }));
    expect(driver.instances.filter((i) => i.released)).toHaveLength(2);
    pool.reap(60_000, now + 3_600_000);
    expect(pool.counts()).toMatchObject({ total: 1, idle: 1 });
  });

  it('min_instances are started ahead of calls and one that dies is replaced', async () => {
    const { pool, driver } = makePool({ minInstances: 2 });
    pool.ensureMinimum();
    await until(() => expect(pool.counts()).toMatchObject({ total: 2, idle: 2 }));
    driver.instances[0]!.die({ reason: 'crash', code: 1 });
    await until(() => expect(driver.startCalls).toBe(3));
    await until(() => expect(pool.counts()).toMatchObject({ total: 2, idle: 2 }));
    const out = await pool.invoke(request('c1'));
    expect(out.coldStart).toBe(false);
  });

  it('a new version sends new calls to new instances while a running call finishes on the old one, which then stops', async () => {
    const { pool, driver } = makePool({ minInstances: 2 });
    pool.ensureMinimum();
    await until(() => expect(pool.counts().idle).toBe(2));
    driver.hold();
    const old = call(pool, 'old');
    await until(() => expect(driver.invocations).toEqual(['old']));
    const [busyV1, idleV1] = [driver.instances.find((i) => i.calls.includes('old'))!, driver.instances.find((i) => !i.calls.includes('old'))!];
    pool.update(fn({ version: 2, minInstances: 2 }));
    await until(() => expect(idleV1.released).toBe(true));
    const next = call(pool, 'new');
    await until(() => expect(driver.invocations).toContain('new'));
    const servedNew = driver.instances.find((i) => i.calls.includes('new'))!;
    expect(servedNew.spec.version).toBe(2);
    expect(busyV1.released).toBe(false);
    driver.release('old');
    driver.release('new');
    expect(body(await old)).toBe('old');
    expect(body(await next)).toBe('new');
    await until(() => expect(busyV1.released).toBe(true));
    expect(pool.list().every((i) => i.version === 2)).toBe(true);
    expect(pool.counts().total).toBe(2);
  });

  it('a start that fails rejects the waiting call with its error and is not retried', async () => {
    const { pool, driver } = makePool({ maxInstances: 1 });
    driver.failStart = () => new FaasError('INSTANCE_CRASHED', 'an instance of "fn" exited with status 1 while starting');
    const calls = ['c1', 'c2', 'c3'].map((id) => call(pool, id));
    for (const out of await Promise.all(calls)) expect(out).toMatchObject({ code: 'INSTANCE_CRASHED', message: expect.stringContaining('while starting') });
    await turns(); // no respawn loop
    expect(driver.startCalls).toBe(1);
    expect(pool.counts().total).toBe(0);
    // The pool is not down: once starts work again, the next call gets an instance.
    driver.failStart = () => null;
    expect(body(await call(pool, 'c4'))).toBe('c4');
  });

  it('a min_instances start that fails is not retried in a loop', async () => {
    const { pool, driver } = makePool({ minInstances: 2 });
    driver.failStart = () => new FaasError('DEPLOY_FAILED', 'the handler does not exist');
    pool.ensureMinimum();
    await until(() => expect(pool.counts().total).toBe(0));
    await turns();
    expect(driver.startCalls).toBe(2);
  });

  it.each([
    { name: 'OutOfMemory', code: 'OUT_OF_MEMORY', exit: { reason: 'oom', signal: 'SIGKILL' } },
    { name: 'InstanceCrashed', code: 'INSTANCE_CRASHED', exit: { reason: 'crash', code: 134, stderrTail: 'Aborted' } },
  ] as const)('an instance that dies mid-call fails that call with 502 $name and is replaced', async ({ code, exit }) => {
    const { pool, driver } = makePool({ minInstances: 1 });
    pool.ensureMinimum();
    await until(() => expect(pool.counts().idle).toBe(1));
    driver.hold();
    const dying = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    const victim = driver.instances[0]!;
    victim.die(exit);
    const err = await dying;
    expect(err).toMatchObject({ code, status: 502, instance: { id: victim.id } });
    await until(() => expect(pool.counts()).toMatchObject({ total: 1, idle: 1 }));
    expect(driver.instances).toHaveLength(2);
    driver.handler = (req) => answer(req.id);
    const out = await pool.invoke(request('c2'));
    expect(out.instanceId).not.toBe(victim.id);
  });

  it('a call that overruns the function timeout gets INSTANCE_TIMEOUT and its instance is killed', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const { pool, driver } = makePool({ timeoutMs: 2_000 });
    driver.hold();
    const slow = call(pool, 'c1');
    // Not until(): under fake timers vi.waitFor advances the clock while it polls.
    await settled(slow);
    expect(driver.invocations).toEqual(['c1']);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(driver.instances[0]!.killed).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await slow).toMatchObject({ code: 'INSTANCE_TIMEOUT', status: 504, details: { timeout_seconds: 2 } });
    expect(driver.instances[0]!.killed).toBe(true);
    await until(() => expect(pool.counts().total).toBe(0));
  });

  it('an instance stopped while it starts is stopped once started, and not kept', async () => {
    const { pool, driver } = makePool({ minInstances: 1 });
    const gate = deferred<void>();
    driver.startGate = gate.promise;
    pool.ensureMinimum();
    const [starting] = pool.list();
    expect(await pool.stopInstance(starting!.id)).toBe(true);
    gate.resolve();
    await until(() => expect(driver.instances[0]?.released).toBe(true));
    await until(() => expect(pool.list().some((i) => i.id === starting!.id)).toBe(false));
  });
});

describe('FunctionPool: abort signals', () => {
  it('a queued call whose client goes away leaves the queue at once, never runs, and its listener is detached', async () => {
    const { pool, driver } = makePool({ maxInstances: 1 });
    driver.hold();
    const running = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    const client = new AbortController();
    const queued = call(pool, 'c2', client.signal);
    expect(pool.queueDepth).toBe(1);
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(1);
    client.abort();
    expect(pool.queueDepth).toBe(0);
    expect(await queued).toMatchObject({ code: 'CLIENT_CLOSED', status: 499 });
    expect(getEventListeners(client.signal, 'abort')).toHaveLength(0);
    driver.release('c1');
    expect(body(await running)).toBe('c1');
    const next = call(pool, 'c3');
    await until(() => expect(driver.invocations).toEqual(['c1', 'c3']));
    driver.release('c3');
    await next;
    expect(driver.invocations).not.toContain('c2');
  });

  it('a call whose signal is already aborted is refused without taking an idle instance', async () => {
    const { pool, driver } = makePool({ minInstances: 1 });
    pool.ensureMinimum();
    await until(() => expect(pool.counts().idle).toBe(1));
    expect(await call(pool, 'c1', AbortSignal.abort())).toMatchObject({ code: 'CLIENT_CLOSED' });
    expect(driver.invocations).toEqual([]);
    expect(pool.counts().idle).toBe(1);
  });

  it('a queued call whose deadline passes leaves the queue with INSTANCE_TIMEOUT and never runs', async () => {
    const { pool, driver } = makePool({ maxInstances: 1 });
    driver.hold();
    const running = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    const deadline = new AbortController();
    const queued = call(pool, 'c2', deadline.signal);
    deadline.abort(new DOMException('the deadline passed', 'TimeoutError'));
    expect(await queued).toMatchObject({ code: 'INSTANCE_TIMEOUT', status: 504, details: { queued: true } });
    expect(pool.queueDepth).toBe(0);
    driver.release('c1');
    await running;
    expect(driver.invocations).toEqual(['c1']);
  });

  it('a running call is not aborted when its client goes away, and its listener is detached when it ends', async () => {
    const { pool, driver } = makePool();
    driver.hold();
    const client = new AbortController();
    const running = call(pool, 'c1', client.signal);
    await until(() => expect(driver.invocations).toEqual(['c1']));
    client.abort();
    expect(await settled(running)).toBe(false);
    driver.release('c1');
    expect(body(await running)).toBe('c1');
    expect(driver.instances[0]!.killed).toBe(false);
    expect(pool.counts()).toMatchObject({ total: 1, idle: 1 });

    driver.handler = (req) => answer(req.id);
    const other = new AbortController();
    await pool.invoke(request('c2'), other.signal);
    expect(getEventListeners(other.signal, 'abort')).toHaveLength(0);
  });

  it('a running call whose deadline passes gets INSTANCE_TIMEOUT and its instance is killed', async () => {
    const { pool, driver } = makePool();
    driver.hold();
    const deadline = new AbortController();
    const running = call(pool, 'c1', deadline.signal);
    await until(() => expect(driver.invocations).toEqual(['c1']));
    deadline.abort(new DOMException('the deadline passed', 'TimeoutError'));
    expect(await running).toMatchObject({ code: 'INSTANCE_TIMEOUT', status: 504, details: { deadline: true } });
    expect(driver.instances[0]!.killed).toBe(true);
    await until(() => expect(pool.counts().total).toBe(0));
    driver.handler = (req) => answer(req.id);
    expect(body(await call(pool, 'c2'))).toBe('c2');
  });
});

describe('FunctionPool: close and destroy', () => {
  it('close() refuses queued and new calls, lets running calls finish, and resolves once every instance has stopped', async () => {
    const { pool, driver } = makePool({ maxInstances: 2 });
    driver.hold();
    const c1 = call(pool, 'c1');
    const c2 = call(pool, 'c2');
    await until(() => expect(pool.counts().busy).toBe(2));
    const c3 = call(pool, 'c3');
    const closing = pool.close();
    expect(await c3).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    expect(await call(pool, 'c4')).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    driver.release('c2');
    expect(body(await c2)).toBe('c2');
    expect(await settled(closing)).toBe(false);
    driver.release('c1');
    expect(body(await c1)).toBe('c1');
    await closing;
    expect(pool.counts().total).toBe(0);
    expect(driver.instances.every((i) => i.released && !i.killed)).toBe(true);
  });

  it('close() waits for an instance still starting and stops it once started', async () => {
    const { pool, driver } = makePool();
    const gate = deferred<void>();
    driver.startGate = gate.promise;
    const waiting = call(pool, 'c1');
    const closing = pool.close();
    expect(await waiting).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    expect(await settled(closing)).toBe(false);
    gate.resolve();
    await closing;
    expect(driver.instances).toHaveLength(1);
    expect(driver.instances[0]!.released).toBe(true);
    expect(driver.invocations).toEqual([]);
  });

  it('nothing brings a closed pool back up: update, ensureMinimum and reap start nothing', async () => {
    const { pool, driver } = makePool({ minInstances: 1 });
    await pool.close();
    pool.update(fn({ version: 2, minInstances: 3 }));
    pool.ensureMinimum();
    pool.reap(0);
    await turns();
    expect(driver.startCalls).toBe(0);
    expect(pool.version).toBe(1);
  });

  it('destroy() stops everything now: queued calls refused, starts aborted, running calls fail with their instance killed', async () => {
    const { pool, driver } = makePool({ maxInstances: 2 });
    driver.hold();
    const running = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    driver.startGate = new Promise(() => undefined); // the next start never finishes on its own
    const starting = call(pool, 'c2');
    const queued = call(pool, 'c3');
    await until(() => expect(pool.counts().starting).toBe(1));
    await pool.destroy();
    expect(await starting).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    expect(await queued).toMatchObject({ code: 'FUNCTION_NOT_FOUND' });
    expect(await running).toMatchObject({ code: 'INSTANCE_CRASHED', status: 502 });
    expect(driver.instances[0]).toMatchObject({ killed: true, released: true });
    expect(driver.abortedStarts).toBe(1);
    expect(pool.counts().total).toBe(0);
  });

  it('destroy() during a close() kills the calls close() was waiting for', async () => {
    const { pool, driver } = makePool();
    driver.hold();
    const running = call(pool, 'c1');
    await until(() => expect(driver.invocations).toEqual(['c1']));
    const closing = pool.close();
    expect(await settled(closing)).toBe(false);
    await pool.destroy();
    await closing;
    expect(await running).toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(driver.instances[0]!.killed).toBe(true);
  });
});

describe('FunctionPool: concurrency (calls in flight per instance)', () => {
  it('with concurrency 3 one instance takes three calls before a second one starts', async () => {
    const { pool, driver } = makePool({ maxInstances: 2, concurrency: 3 });
    driver.hold();
    const calls = ['c1', 'c2', 'c3'].map((id) => call(pool, id));
    await until(() => expect(driver.invocations).toEqual(['c1', 'c2', 'c3']));
    expect(driver.startCalls).toBe(1);
    expect(pool.counts()).toMatchObject({ total: 1, busy: 1 });
    const fourth = call(pool, 'c4');
    await until(() => expect(driver.invocations).toContain('c4'));
    expect(driver.startCalls).toBe(2);
    for (const id of ['c1', 'c2', 'c3', 'c4']) driver.release(id);
    expect((await Promise.all([...calls, fourth])).map(body)).toEqual(['c1', 'c2', 'c3', 'c4']);
    await until(() => expect(pool.counts().idle).toBe(2));
  });

  it('a freed slot takes the oldest queued call', async () => {
    const { pool, driver } = makePool({ maxInstances: 1, concurrency: 2 });
    driver.hold();
    const calls = ['c1', 'c2', 'c3', 'c4'].map((id) => call(pool, id));
    await until(() => expect(driver.invocations).toEqual(['c1', 'c2']));
    expect(pool.queueDepth).toBe(2);
    driver.release('c2');
    await until(() => expect(driver.invocations).toEqual(['c1', 'c2', 'c3']));
    for (const id of ['c1', 'c3']) driver.release(id);
    await until(() => expect(driver.invocations).toContain('c4'));
    driver.release('c4');
    expect((await Promise.all(calls)).map(body)).toEqual(['c1', 'c2', 'c3', 'c4']);
    expect(driver.startCalls).toBe(1);
  });

  it('a full instance whose call ends takes the next call on the freed slot, with nobody queued meanwhile', async () => {
    const { pool, driver } = makePool({ maxInstances: 2, concurrency: 2 });
    driver.hold();
    const first = ['c1', 'c2'].map((id) => call(pool, id));
    await until(() => expect(driver.invocations).toEqual(['c1', 'c2']));
    driver.release('c1');
    expect(body(await first[0]!)).toBe('c1');
    const third = call(pool, 'c3');
    await until(() => expect(driver.invocations).toContain('c3'));
    expect(driver.startCalls).toBe(1);
    for (const id of ['c2', 'c3']) driver.release(id);
    expect((await Promise.all([first[1]!, third])).map(body)).toEqual(['c2', 'c3']);
  });

  it('maxInFlight (max_concurrency) caps the calls in flight even with slots free', async () => {
    const { pool, driver } = makePool({ maxInstances: 1, concurrency: 4, maxInFlight: 2 });
    driver.hold();
    const calls = ['c1', 'c2', 'c3'].map((id) => call(pool, id));
    await until(() => expect(driver.invocations).toEqual(['c1', 'c2']));
    expect(pool.queueDepth).toBe(1);
    driver.release('c1');
    await until(() => expect(driver.invocations).toContain('c3'));
    for (const id of ['c2', 'c3']) driver.release(id);
    expect((await Promise.all(calls)).map(body)).toEqual(['c1', 'c2', 'c3']);
  });

  it('an instance that dies fails every call in flight on it, and the next call gets a new one', async () => {
    const { pool, driver } = makePool({ maxInstances: 1, concurrency: 2 });
    driver.hold();
    const calls = ['c1', 'c2'].map((id) => call(pool, id));
    await until(() => expect(driver.invocations).toEqual(['c1', 'c2']));
    driver.instances[0]!.die({ reason: 'crash', code: 1 });
    for (const c of await Promise.all(calls)) expect(c).toMatchObject({ code: 'INSTANCE_CRASHED' });
    const next = call(pool, 'c3');
    await until(() => expect(driver.invocations).toContain('c3'));
    driver.release('c3');
    expect(body(await next)).toBe('c3');
    expect(driver.startCalls).toBe(2);
  });
});
