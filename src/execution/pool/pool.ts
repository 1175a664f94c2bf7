// One function's instances: states, FIFO wait queue, round-robin over idle instances,
// min/max, version roll-over, replacement after a death. Written once for both modes: it
// knows a Driver and nothing of processes or containers.
//
// The contract, after piscina's: every call may carry an AbortSignal (client disconnect, a
// caller's deadline). Aborted while queued, a call leaves the queue at once and never runs;
// running, only a deadline ends it (its instance is killed: 504), as does the function's own
// timeout. QUEUE_FULL, NO_CAPACITY and OVERLOADED (queue wait) are distinct errors. close()
// (drain: running calls finish, then every instance stops) and destroy() (now: starts
// aborted, busy instances killed) are the only ways down; both resolve once every instance
// is gone and released.
import crypto from 'node:crypto';
import type { Logger } from 'pino';
import { FaasError } from '../../errors.js';
import type { Driver, ExitInfo, InstanceSpec, RunningInstance } from '../driver.js';
import { CallNotStarted, type InvokeRequest, type InvokeResult } from '../protocol/shim-channel.js';
import type { CapacityGate } from './capacity.js';

export type InstanceState = 'starting' | 'idle' | 'busy' | 'stopping';

export interface PoolFunction {
  name: string;
  version: number;
  /** Builds the driver spec for a new instance of this version. */
  spec(instanceId: string): InstanceSpec;
  timeoutMs: number;
  minInstances: number;
  maxInstances: number;
  /** Calls in flight per instance (config.concurrency); absent = 1. An instance may take fewer (RunningInstance.concurrency). */
  concurrency?: number;
  /** Calls in flight across the pool (max_concurrency); absent = bounded by instances x concurrency. */
  maxInFlight?: number;
}

export interface PoolInstance {
  readonly id: string;
  readonly version: number;
  /** The pool's generation it was started in: an older one is retired once free (update, renew). */
  readonly generation: number;
  state: InstanceState;
  running: RunningInstance | null;
  readonly createdAt: number;
  lastUsedAt: number;
  invocations: number;
  /** Calls in flight on it now (at most `slots`); busy while above 0. */
  active: number;
  /** Calls it runs at once: 1, or what it took of the function's `concurrency` once started. */
  slots: number;
  /** Started because a request was waiting (its first request is a cold start). */
  readonly onDemand: boolean;
  /** End the calls in flight with the instance's exit (one per call; empty while idle). */
  readonly abortCalls: Set<(exit: ExitInfo) => void>;
  /** Why the instance is gone, once it is (a call handed to it just before then fails at once). */
  exit?: ExitInfo;
}

export type ServedBy = 'warm' | 'prewarmed' | 'cold';

/**
 * What the pool needs of a call's abort signal: an AbortSignal, or something lighter with
 * the same shape (the gateway's per-request ClientGone: no EventTarget per call).
 */
export interface CallSignal {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface InvokeOutcome {
  result: InvokeResult;
  instanceId: string;
  /** The call waited for an instance to start (prewarmed or cold). */
  coldStart: boolean;
  start: ServedBy;
  /** ms spent waiting for an instance (queue or cold start). */
  waitMs: number;
}

export interface PoolOptions {
  driver: Driver;
  capacity: CapacityGate;
  logger: Logger;
  /** Bound on how long a request may wait for an instance, and an instance may take to start. */
  coldStartTimeoutMs: number;
  queueLimit: number;
}

/**
 * Pipelining (docs/protocol.md): when calls are queued and every instance is busy, the next
 * queued call is sent to an instance running one call, into its socket behind that call, so
 * its shim finds it there when it answers instead of sleeping until the daemon writes again.
 * Only behind short calls (head-of-line blocking): while the function's recent calls took
 * under PIPELINE_MAX_MS on average.
 */
const PIPELINE_MAX_MS = 10;
const PIPELINE_SCAN = 32;

interface Waiter {
  resolve(inst: PoolInstance): void;
  reject(err: Error): void;
  enqueuedAt: number;
  timer: NodeJS.Timeout;
  /** Detaches the caller's abort listener (called however the wait ends). */
  detach?: () => void;
}

export class FunctionPool {
  private fn: PoolFunction;
  /** Bumped by every update() and renew(): instances of an older generation are not reused. */
  private generation = 0;
  private readonly instances = new Map<string, PoolInstance>();
  /** Idle instances of the current version, oldest-idle first: taking from the front is round-robin. */
  private idle: PoolInstance[] = [];
  /**
   * concurrency > 1: instances of the current version running some calls with a slot free.
   * They are filled before an idle one is woken, so load packs onto few instances.
   */
  private open: PoolInstance[] = [];
  /** Calls running on instances now (max_concurrency with concurrency > 1). */
  private inFlight = 0;
  private readonly waiters: Waiter[] = [];
  /** Calls sent ahead into a busy instance's socket and not started yet (still waiting: queue depth). */
  private ahead = 0;
  /** Moving average of the function's call durations (ms), for pipelining; Infinity until one is known. */
  private callMs = Number.POSITIVE_INFINITY;
  private starting = 0;
  /** Idle instances of other functions being stopped to free a slot for us (makeRoom). */
  private roomRequested = false;
  private closed = false;
  private closing: Promise<void> | null = null;
  private destroying: Promise<void> | null = null;
  /** Starts in flight, so destroy() can abort them. */
  private readonly starts = new Set<AbortController>();
  /** running.stop() calls not yet settled: close() and destroy() wait for them. */
  private readonly stops = new Set<Promise<void>>();
  private drained: Promise<void> | null = null;
  private resolveDrained: (() => void) | null = null;

  constructor(
    fn: PoolFunction,
    private readonly opts: PoolOptions,
  ) {
    this.fn = fn;
  }

  get name(): string {
    return this.fn.name;
  }

  get version(): number {
    return this.fn.version;
  }

  /** Calls waiting to run: queued, or sent ahead to a busy instance and not started. */
  get queueDepth(): number {
    return this.waiters.length + this.ahead;
  }

  list(): PoolInstance[] {
    return [...this.instances.values()];
  }

  counts(): { total: number; starting: number; idle: number; busy: number; stopping: number } {
    const c = { total: 0, starting: 0, idle: 0, busy: 0, stopping: 0 };
    for (const i of this.instances.values()) {
      c.total += 1;
      c[i.state] += 1;
    }
    return c;
  }

  /** Keep min_instances of the current version (at deploy, at boot, after a death). */
  ensureMinimum(): void {
    if (this.closed) return;
    const live = this.liveCurrent();
    for (let n = live; n < this.fn.minInstances; n++) {
      if (!this.startInstance(false)) break;
    }
  }

  /** A new version: new requests go to new instances, old ones finish what they run and stop. */
  update(fn: PoolFunction): void {
    if (this.closed) return;
    this.fn = fn;
    this.generation += 1;
    const oldIdle = this.idle;
    this.idle = [];
    // Partly busy instances of the old version take no new call; the last one ends retires them.
    this.open = [];
    for (const inst of oldIdle) void this.retire(inst);
    this.ensureMinimum();
    this.startForWaiters();
  }

  /**
   * The same version on new instances (a secret it reads changed): as an update, new calls go
   * to instances started from now on, old ones finish what they run and stop.
   */
  renew(): void {
    this.update(this.fn);
  }

  /**
   * One call. `signal` is the caller's: a client disconnect, or a deadline (an abort whose
   * reason is a TimeoutError, as from AbortSignal.timeout, or an INSTANCE_TIMEOUT FaasError).
   * Aborted before it runs, the call leaves the queue at once and is never sent: rejected
   * with the reason if that is a FaasError, INSTANCE_TIMEOUT for a deadline, else
   * CLIENT_CLOSED. Running, a deadline kills its instance (504, like the function's own
   * timeout); a disconnect leaves it to finish, since killing the instance would cost more
   * than the answer.
   */
  async invoke(req: InvokeRequest, signal?: CallSignal): Promise<InvokeOutcome> {
    if (this.closed) throw new FaasError('FUNCTION_NOT_FOUND', `function "${this.fn.name}" was deleted`);
    if (signal?.aborted) throw notRun(this.fn.name, signal.reason);
    const t0 = performance.now();
    // A slot on an instance, taken: released (release) however the call ends.
    let inst = this.takeSlot() ?? (await this.waitForInstance(signal));
    for (;;) {
      if (signal?.aborted) {
        // Aborted between being handed an instance and being sent: still never run.
        this.release(inst);
        throw notRun(this.fn.name, signal.reason);
      }
      const waitMs = performance.now() - t0;
      const coldStart = inst.onDemand && inst.invocations === 0;
      const start: ServedBy = coldStart ? (inst.running?.startKind ?? 'cold') : 'warm';
      // Handed a slot behind the call its instance runs (offer: pipelining).
      const ahead = inst.active > inst.slots;
      inst.invocations += 1;
      try {
        const result = await this.runOn(inst, req, signal, ahead);
        return { result, instanceId: inst.id, coldStart, start, waitMs };
      } catch (e) {
        if (!(e instanceof CallNotStarted)) {
          if (e instanceof FaasError) e.instance = { id: inst.id, coldStart, start };
          throw e;
        }
        // Sent ahead and never started: its client left (the shim dropped it), or its
        // instance ended first (a crash, the timeout of the call before it). Never run.
        inst.invocations -= 1;
        if (e.cancelled || signal?.aborted) throw notRun(this.fn.name, signal?.reason);
        if (this.closed) throw new FaasError('FUNCTION_NOT_FOUND', `function "${this.fn.name}" was deleted`);
      } finally {
        inst.lastUsedAt = Date.now();
        this.release(inst);
      }
      // First in the queue again: it was next before it was sent.
      inst = this.takeSlot() ?? (await this.waitForInstance(signal, true));
    }
  }

  /** Stop idle instances above min_instances that have been idle longer than `ttlMs`. */
  reap(ttlMs: number, now = Date.now()): void {
    let keep = this.liveCurrent();
    for (const inst of [...this.idle]) {
      if (keep <= this.fn.minInstances) break;
      if (now - inst.lastUsedAt >= ttlMs) {
        keep -= 1;
        this.opts.logger.debug({ function: this.fn.name, instance: inst.id }, 'idle instance past its TTL: stopping');
        void this.retire(inst);
      }
    }
  }

  /** Stop one instance by id (DELETE /instances/:id). */
  async stopInstance(id: string): Promise<boolean> {
    const inst = this.instances.get(id);
    if (!inst) return false;
    if (inst.state === 'busy' && inst.running) {
      // An operator asked: the in-flight call ends as a crash of that instance.
      await inst.running.kill();
    } else {
      await this.retire(inst);
    }
    return true;
  }

  /**
   * Drain (delete, a mode change): refuse new and queued calls, stop idle instances now, busy
   * ones when their call ends, starting ones once started. Resolves when all are gone.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.shutOff();
      this.open = [];
      for (const inst of this.idle.splice(0)) void this.retire(inst);
      await this.whenDrained();
    })();
    return this.closing;
  }

  /** Now (daemon shutdown after the grace period): abort starts, kill busy instances, stop the rest. */
  destroy(): Promise<void> {
    this.destroying ??= (async () => {
      this.shutOff();
      for (const start of this.starts) start.abort();
      this.idle = [];
      this.open = [];
      for (const inst of this.instances.values()) {
        const running = inst.running;
        if (!running) continue; // starting: its aborted start fails, or it is stopped once started
        const busy = inst.state === 'busy';
        inst.state = 'stopping';
        // A busy instance's calls fail with its exit (onExit -> abortCalls).
        if (busy) void running.kill().finally(() => this.stopRunning(running));
        else void this.stopRunning(running);
      }
      await this.whenDrained();
    })();
    return this.destroying;
  }

  // --- internals ---

  private shutOff(): void {
    if (this.closed) return;
    this.closed = true;
    this.opts.capacity.cancelWait(this.onCapacity);
    this.rejectWaiters(this.waiters.length, new FaasError('FUNCTION_NOT_FOUND', `function "${this.fn.name}" was deleted`));
  }

  /** Resolves once no instance is left and every stop() has settled. */
  private whenDrained(): Promise<void> {
    this.drained ??= new Promise<void>((resolve) => (this.resolveDrained = resolve));
    this.checkDrained();
    return this.drained;
  }

  private checkDrained(): void {
    if (this.resolveDrained && this.instances.size === 0 && this.stops.size === 0) {
      this.resolveDrained();
      this.resolveDrained = null;
    }
  }

  /** running.stop(), tracked for close()/destroy(); a failure to release is logged, never thrown. */
  private stopRunning(running: RunningInstance): Promise<void> {
    const p: Promise<void> = running
      .stop()
      .catch((err: Error) => this.opts.logger.warn({ function: this.fn.name, instance: running.id, err: err.message }, 'instance failed to stop cleanly'))
      .finally(() => {
        this.stops.delete(p);
        this.checkDrained();
      });
    this.stops.add(p);
    return p;
  }

  private liveCurrent(): number {
    let n = 0;
    for (const i of this.instances.values()) if (i.generation === this.generation && i.state !== 'stopping') n += 1;
    return n;
  }

  /** Queued for the next free slot; `again` (a call sent ahead that never started): at the front, past the limit. */
  private waitForInstance(signal?: CallSignal, again = false): Promise<PoolInstance> {
    if (!again && this.waiters.length >= this.opts.queueLimit) {
      const limit = this.opts.queueLimit;
      return Promise.reject(
        new FaasError('QUEUE_FULL', `function "${this.fn.name}" has ${limit} requests queued already, its queue's limit; retry later`, {
          retryAfter: 1,
          details: { limit: 'queue', queue_limit: limit },
        }),
      );
    }
    return new Promise<PoolInstance>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        enqueuedAt: Date.now(),
        timer: setTimeout(() => {
          this.dropWaiter(waiter);
          const max = this.fn.maxInstances;
          reject(
            new FaasError(
              'OVERLOADED',
              `no instance of "${this.fn.name}" became free within ${this.opts.coldStartTimeoutMs / 1000}s (cold_start_timeout); it runs at most ${max} at once (max_instances / max_concurrency)`,
              {
                retryAfter: 1,
                details: { limit: 'max_instances', max_instances: max, waited_seconds: this.opts.coldStartTimeoutMs / 1000 },
              },
            ),
          );
        }, this.opts.coldStartTimeoutMs),
      };
      if (signal) {
        const onAbort = () => {
          this.dropWaiter(waiter);
          reject(notRun(this.fn.name, signal.reason));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        waiter.detach = () => signal.removeEventListener('abort', onAbort);
      }
      if (again) this.waiters.unshift(waiter);
      else this.waiters.push(waiter);
      this.startForWaiters();
      if (this.canPipeline()) this.pipelineQueued();
    });
  }

  /** Pipelining is on for this function now: queued calls no start will take, short calls, no max_concurrency. */
  private canPipeline(): boolean {
    return (
      this.waiters.length > this.starting * (this.fn.concurrency ?? 1) &&
      this.callMs < PIPELINE_MAX_MS &&
      (this.fn.maxInFlight ?? Number.POSITIVE_INFINITY) === Number.POSITIVE_INFINITY &&
      !this.closed
    );
  }

  /** Sends the oldest queued call ahead to `inst` if it runs exactly one call of the current version. */
  private pipelineTo(inst: PoolInstance): boolean {
    if (inst.slots !== 1 || inst.active !== 1 || inst.state !== 'busy' || inst.generation !== this.generation || inst.running?.pipelining !== true) return false;
    const waiter = this.nextWaiter()!;
    inst.active += 1;
    this.inFlight += 1;
    waiter.resolve(inst);
    return true;
  }

  /**
   * A call was queued behind busy instances: the first that runs one call takes it ahead.
   * Opportunistic: at most PIPELINE_SCAN instances are looked at (a release offers the queue
   * to its instance anyway), so a pool of hundreds all with a call ahead costs no long scan.
   */
  private pipelineQueued(): void {
    let n = 0;
    for (const inst of this.instances.values()) {
      if (this.pipelineTo(inst) || ++n >= PIPELINE_SCAN) return;
    }
  }

  /** Takes a waiter out of the queue (timeout, abort) and detaches it. */
  private dropWaiter(w: Waiter): void {
    const i = this.waiters.indexOf(w);
    if (i >= 0) this.waiters.splice(i, 1);
    clearTimeout(w.timer);
    w.detach?.();
  }

  /** The oldest waiter, taken out of the queue and detached. */
  private nextWaiter(): Waiter | undefined {
    const w = this.waiters.shift();
    if (w) {
      clearTimeout(w.timer);
      w.detach?.();
    }
    return w;
  }

  private rejectWaiters(n: number, err: Error): void {
    for (let i = 0; i < n; i++) this.nextWaiter()?.reject(err);
  }

  /** A slot of max_concurrent_functions came free (CapacityGate.whenFree). */
  private readonly onCapacity = (): void => {
    this.roomRequested = false;
    this.ensureMinimum();
    this.startForWaiters();
  };

  /** Start as many instances as waiters need beyond those already starting, within the caps. */
  private startForWaiters(): void {
    // Each instance starting will take up to `concurrency` of the waiters.
    while (!this.closed && this.waiters.length > this.starting * (this.fn.concurrency ?? 1)) {
      if (this.liveCurrent() >= this.fn.maxInstances) return;
      if (this.startInstance(true)) continue;
      // max_concurrent_functions is full. Instances of our own will serve the queue as they
      // free; without any, an idle instance of another function is stopped to make room (one
      // at a time: once ours runs, the queue waits for it or for the next free slot).
      if (this.roomRequested) return;
      if (this.liveCurrent() === 0 && this.opts.capacity.makeRoom(this)) {
        this.roomRequested = true;
        this.opts.capacity.whenFree(this.onCapacity);
        return;
      }
      if (this.liveCurrent() > 0) {
        this.opts.capacity.reportFull(this.fn.name, false);
        this.opts.capacity.whenFree(this.onCapacity);
        return;
      }
      this.opts.capacity.reportFull(this.fn.name, true);
      const max = this.opts.capacity.max;
      this.rejectWaiters(
        Math.max(0, this.waiters.length - this.starting * (this.fn.concurrency ?? 1)),
        new FaasError('NO_CAPACITY', `no instance of "${this.fn.name}" can start: all ${max} instances faasd may run (max_concurrent_functions) are busy; retry later`, {
          retryAfter: 1,
          details: { limit: 'max_concurrent_functions', max_concurrent_functions: max },
        }),
      );
      return;
    }
  }

  /** The idle instance to stop if another function needs the slot: above min_instances, least recently used. */
  surplusIdle(): PoolInstance | null {
    return this.liveCurrent() > this.fn.minInstances ? (this.idle[0] ?? null) : null;
  }

  /** Stop an idle instance now (to free its slot for another function). */
  evict(inst: PoolInstance): void {
    this.opts.logger.debug({ function: this.fn.name, instance: inst.id }, 'idle instance stopped to make room for another function');
    void this.retire(inst);
  }

  private startInstance(onDemand: boolean): boolean {
    if (!this.opts.capacity.tryTake()) {
      if (!onDemand) this.opts.capacity.whenFree(this.onCapacity); // min_instances, once a slot frees
      return false;
    }
    const fn = this.fn;
    const generation = this.generation;
    const id = `${fn.name.slice(0, 40)}-${crypto.randomBytes(4).toString('hex')}`;
    const inst: PoolInstance = {
      id,
      version: fn.version,
      generation,
      state: 'starting',
      running: null,
      createdAt: Date.now(),
      lastUsedAt: Date.now(),
      invocations: 0,
      active: 0,
      slots: 1,
      onDemand,
      abortCalls: new Set(),
    };
    this.instances.set(id, inst);
    this.starting += 1;
    const t0 = performance.now();
    const abort = new AbortController();
    this.starts.add(abort);
    this.opts.driver.start(fn.spec(id), abort.signal).then(
      (running) => {
        this.starts.delete(abort);
        this.starting -= 1;
        inst.running = running;
        inst.slots = Math.max(1, Math.min(fn.concurrency ?? 1, running.concurrency ?? 1));
        this.opts.logger.debug({ function: fn.name, instance: id, ms: Math.round(performance.now() - t0) }, 'instance started');
        void running.exited.then((exit) => this.onExit(inst, exit));
        // Not wanted any more (pool closed, new version, stopped by an operator while starting).
        if (this.closed || generation !== this.generation || inst.state === 'stopping') {
          inst.state = 'stopping';
          void this.stopRunning(running);
          return;
        }
        this.offer(inst);
      },
      (err: Error) => {
        this.starts.delete(abort);
        this.starting -= 1;
        this.instances.delete(id);
        this.opts.capacity.give();
        this.checkDrained();
        if (abort.signal.aborted) return; // destroy(): nobody is waiting
        this.opts.logger.warn({ function: fn.name, instance: id, err: err.message }, 'instance failed to start');
        // The request this start was for gets the error. If nothing else could serve the
        // rest, they get it too: retrying a start that just failed would only loop.
        this.nextWaiter()?.reject(err);
        if (this.starting === 0 && this.liveCurrent() === 0) this.rejectWaiters(this.waiters.length, err);
      },
    );
    return true;
  }

  /** A slot of an idle or partly busy instance, taken; undefined when none is free. */
  private takeSlot(): PoolInstance | undefined {
    if (this.inFlight >= (this.fn.maxInFlight ?? Number.POSITIVE_INFINITY)) return undefined;
    const inst = this.open[0] ?? this.idle.shift();
    if (inst) this.occupy(inst);
    return inst;
  }

  /** One more call on `inst` (taken from idle or open by the caller, or just started/freed). */
  private occupy(inst: PoolInstance): void {
    inst.active += 1;
    this.inFlight += 1;
    inst.state = 'busy';
    if (inst.slots === 1) return;
    const i = this.open.indexOf(inst);
    if (inst.active < inst.slots) {
      if (i < 0) this.open.push(inst);
    } else if (i >= 0) {
      this.open.splice(i, 1);
    }
  }

  /** A call on `inst` is over: its slot goes to the oldest waiter, or the instance idles. */
  private release(inst: PoolInstance): void {
    inst.active -= 1;
    this.inFlight -= 1;
    this.offer(inst);
  }

  /** Hand a free instance's slots to the oldest waiters, or park it idle (or open, if still partly busy). */
  private offer(inst: PoolInstance): void {
    if (!this.instances.has(inst.id) || inst.state === 'stopping' || !inst.running) return;
    if (this.closed || inst.generation !== this.generation) {
      if (inst.active > 0) return; // the last of its calls retires it
      inst.state = 'idle'; // its calls are over: retire() stops idle instances
      void this.retire(inst);
      return;
    }
    const maxInFlight = this.fn.maxInFlight ?? Number.POSITIVE_INFINITY;
    while (inst.active < inst.slots && this.inFlight < maxInFlight) {
      const waiter = this.nextWaiter();
      if (!waiter) break;
      this.occupy(inst);
      waiter.resolve(inst);
    }
    // Pipelining: one more queued call behind the one it now runs, when no start under way
    // will take the queue (max_instances or max_concurrent_functions reached).
    if (inst.active === 1 && this.canPipeline()) this.pipelineTo(inst);
    if (inst.slots > 1) {
      const i = this.open.indexOf(inst);
      // Partly busy: its free slots are offered before an idle instance's (it was full,
      // hence out of the list, or is now idle).
      if (inst.active > 0 && inst.active < inst.slots) {
        if (i < 0) this.open.push(inst);
      } else if (i >= 0) {
        this.open.splice(i, 1);
      }
    }
    if (inst.active > 0) return;
    inst.state = 'idle';
    this.idle.push(inst);
  }

  /**
   * One call on one instance: its answer, or 504 when it overruns the function's timeout or
   * the caller's deadline (the instance is killed), or the instance's death (OOM / crash).
   * Hot path: one promise, one timer and one abort listener per call; the instance's exit is
   * watched once per instance (onExit -> abortCalls).
   */
  private runOn(inst: PoolInstance, req: InvokeRequest, signal: CallSignal | undefined, ahead: boolean): Promise<InvokeResult> {
    const running = inst.running!;
    const fn = this.fn;
    if (inst.exit) return Promise.reject(ahead ? new CallNotStarted(false) : exitError(fn.name, inst.exit));
    const pipelining = running.pipelining === true;
    if (ahead) this.ahead += 1;
    return new Promise<InvokeResult>((resolve, reject) => {
      let settled = false;
      let timedOut = false;
      // Sent ahead, a call starts when the call before it is answered (onStart).
      let started = false;
      let startedAt = 0;
      let timer: NodeJS.Timeout | undefined;
      let graceTimer: NodeJS.Timeout | undefined;
      const settle = (err: Error | null, result?: InvokeResult): void => {
        if (settled) return;
        settled = true;
        if (!started && ahead) this.ahead -= 1;
        clearTimeout(timer);
        clearTimeout(graceTimer);
        signal?.removeEventListener('abort', onAbort);
        inst.abortCalls.delete(onExit);
        if (err) reject(err);
        else resolve(result!);
      };
      const deadline = (err: FaasError): void => {
        if (settled || timedOut) return;
        // The instance may be stuck anywhere (a loop, a blocking call): kill it whole.
        timedOut = true;
        clearTimeout(timer);
        inst.state = 'stopping';
        inst.abortCalls.delete(onExit);
        void running.kill().finally(() => settle(err));
      };
      const callDeadline = (): FaasError => new FaasError('INSTANCE_TIMEOUT', `function "${fn.name}" did not answer within the call's deadline`, { details: { deadline: true } });
      // The function's timeout runs from the call's start, not from when it was sent ahead.
      const onStart = (): void => {
        if (settled || started) return;
        started = true;
        if (ahead) this.ahead -= 1;
        startedAt = performance.now();
        timer = setTimeout(() => {
          deadline(
            new FaasError('INSTANCE_TIMEOUT', `function "${fn.name}" did not answer within its timeout of ${fn.timeoutMs / 1000}s`, {
              details: { timeout_seconds: fn.timeoutMs / 1000 },
            }),
          );
        }, fn.timeoutMs);
        // Its deadline passed while it was ahead and the shim had started it already.
        if (signal?.aborted && isDeadline(signal.reason)) deadline(callDeadline());
      };
      // A disconnect leaves a running call running; only a deadline ends it. A call not
      // started yet (sent ahead) is asked back: the shim drops it unless it has started it.
      const onAbort = (): void => {
        if (!started) running.cancel?.(req.id);
        else if (isDeadline(signal!.reason)) deadline(callDeadline());
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const onExit = (exit: ExitInfo): void => settle(started ? exitError(fn.name, exit) : new CallNotStarted(false));
      inst.abortCalls.add(onExit);
      running.invoke(req, pipelining ? onStart : undefined, ahead).then(
        (result) => {
          if (started && !settled) {
            const ms = performance.now() - startedAt;
            this.callMs = this.callMs === Number.POSITIVE_INFINITY ? ms : this.callMs * 0.8 + ms * 0.2;
          }
          settle(null, result);
        },
        (err: Error) => {
          if (timedOut) return; // the kill above settles this call with the timeout
          if (err instanceof CallNotStarted) return settle(err);
          // The connection dropped: wait briefly for the real exit reason (OOM vs crash),
          // which onExit delivers through abortCalls.
          if (err instanceof FaasError && err.code === 'INSTANCE_CRASHED' && inst.abortCalls.has(onExit)) {
            graceTimer = setTimeout(() => settle(err), 2000);
            return;
          }
          settle(err);
        },
      );
      if (!pipelining) onStart();
    });
  }

  private onExit(inst: PoolInstance, exit: ExitInfo): void {
    if (!this.instances.has(inst.id)) return;
    const expected = inst.state === 'stopping';
    this.instances.delete(inst.id);
    this.idle = this.idle.filter((i) => i !== inst);
    if (inst.slots > 1) this.open = this.open.filter((i) => i !== inst);
    this.opts.capacity.give();
    inst.state = 'stopping';
    inst.exit = exit;
    for (const abort of [...inst.abortCalls]) abort(exit);
    if (!expected || exit.reason !== 'stopped') {
      this.opts.logger.info({ function: this.fn.name, instance: inst.id, reason: exit.reason, code: exit.code, signal: exit.signal }, 'instance exited');
    }
    // Release what the instance held (cgroup, directory, container) and replace it.
    if (inst.running) void this.stopRunning(inst.running);
    this.ensureMinimum();
    this.startForWaiters();
  }

  private async retire(inst: PoolInstance): Promise<void> {
    if (inst.state === 'stopping') return;
    if (inst.state === 'busy') {
      // Finishes its call first: release() sees the outdated version / closed pool and retires it.
      return;
    }
    inst.state = 'stopping';
    this.idle = this.idle.filter((i) => i !== inst);
    if (inst.slots > 1) this.open = this.open.filter((i) => i !== inst);
    // Starting (no `running` yet): stopped as soon as its start resolves.
    if (inst.running) await this.stopRunning(inst.running);
  }
}

export function exitError(name: string, exit: ExitInfo): FaasError {
  const details = { exit_code: exit.code, signal: exit.signal, stderr: exit.stderrTail.slice(-2000) };
  if (exit.reason === 'oom') {
    return new FaasError('OUT_OF_MEMORY', `function "${name}" ran out of memory and was killed by the kernel`, { details });
  }
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
  return new FaasError('INSTANCE_CRASHED', `the instance running "${name}" ${how} during the call`, { details });
}

/** An abort reason that is a deadline: AbortSignal.timeout()'s TimeoutError, or our INSTANCE_TIMEOUT. */
function isDeadline(reason: unknown): boolean {
  if (reason instanceof FaasError) return reason.code === 'INSTANCE_TIMEOUT';
  return (reason as { name?: unknown } | null | undefined)?.name === 'TimeoutError';
}

/** The error of a call aborted before it ran. */
function notRun(name: string, reason: unknown): FaasError {
  if (reason instanceof FaasError) return reason;
  if (isDeadline(reason)) {
    return new FaasError('INSTANCE_TIMEOUT', `the call to "${name}" reached its deadline while it waited for an instance; it was not run`, { details: { deadline: true, queued: true } });
  }
  return new FaasError('CLIENT_CLOSED', `the client went away while its call to "${name}" waited for an instance; it was not run`);
}
