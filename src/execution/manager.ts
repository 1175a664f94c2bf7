// Routes invocations to the pool of their function, keeps pools in step with the registry
// (deploy, update, delete), reaps idle instances, and owns the drivers' lifecycle.
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { FaasError } from '../errors.js';
import type { ExecutionObserver } from './events.js';
import { cpuCores, functionEntry, memoryBytes, type FunctionRecord } from '../model/function-model.js';
import { declaredDependencies } from '../model/function-files.js';
import type { DeployTarget, ExecutionApi, InstanceCounts, InstanceInfo, InstanceState, InstanceUsageReport, SecretSource } from './api.js';
import type { Driver, DriverHealth, ExecutionMode, RuntimeName } from './driver.js';
import { CapacityGate } from './pool/capacity.js';
import { FunctionPool, type CallSignal, type InvokeOutcome, type PoolFunction, type PoolInstance } from './pool/pool.js';
import type { InvokeRequest } from './protocol/shim-channel.js';

/** Per-instance pids limit: enough for a runtime's own threads (node starts ~11) and a few children. */
const PIDS_LIMIT = 256;

export interface ManagerOptions {
  config: LoadedConfig;
  /** The drivers that run here, by mode. */
  drivers: Map<ExecutionMode, Driver>;
  /** Why a mode has no driver (shown in /health and deploy errors). */
  unavailable?: Map<ExecutionMode, string>;
  logger: Logger;
  observer?: ExecutionObserver;
  /** The values of the secrets functions list in config.secrets, read as each instance starts. */
  secrets?: SecretSource;
}

interface PoolEntry {
  pool: FunctionPool;
  mode: ExecutionMode;
  timeoutMs: number;
  /** The function's name, what metrics and logs are recorded under (a pinned pool's key is name@version). */
  label: string;
  /** A pinned version's pool: when it was last called (closed after warm_instance_ttl idle). */
  pinnedUsedAt?: number;
}

/** A pinned version gets a small pool: it is for checking a version, not for serving traffic. */
const PINNED_MAX_INSTANCES = 2;

export class ExecutionManager implements ExecutionApi, DeployTarget {
  private readonly pools = new Map<string, PoolEntry>();
  /** Pools of deleted functions still draining their running calls. */
  private readonly closing = new Set<FunctionPool>();
  private readonly capacity: CapacityGate;
  private readonly reaper: NodeJS.Timeout;
  private readonly ttlMs: number;
  private closed = false;
  private draining = false;
  private prewarming = false;

  constructor(private readonly opts: ManagerOptions) {
    const sys = opts.config.system;
    this.capacity = new CapacityGate(sys.max_concurrent_functions, opts.logger, (except) => this.evictIdle(except));
    this.ttlMs = sys.warm_instance_ttl * 1000;
    // One sweep for every pool instead of a timer per idle instance (keeps timers off the hot path).
    const every = Math.max(250, Math.min(this.ttlMs / 4, 30_000));
    this.reaper = setInterval(() => {
      const now = Date.now();
      for (const [key, e] of this.pools) {
        e.pool.reap(this.ttlMs);
        if (e.pinnedUsedAt !== undefined && now - e.pinnedUsedAt > this.ttlMs && e.pool.counts().busy === 0 && e.pool.queueDepth === 0) this.closePool(key);
      }
    }, every);
    this.reaper.unref();
  }

  // --- ExecutionApi (gateway side) ---

  health(): Record<string, DriverHealth> {
    const out: Record<string, DriverHealth> = {};
    for (const [mode, d] of this.opts.drivers) out[mode] = d.health();
    for (const [mode, why] of this.opts.unavailable ?? []) {
      if (!this.opts.drivers.has(mode)) out[mode] = { ok: false, detail: why };
    }
    return out;
  }

  instanceCounts(name: string): InstanceCounts {
    return this.pools.get(name)?.pool.counts() ?? { total: 0, starting: 0, idle: 0, busy: 0, stopping: 0 };
  }

  /** Hot path: one map lookup, no registry query. `signal`: the client went away (see FunctionPool.invoke). */
  invoke(name: string, req: Omit<InvokeRequest, 'timeoutMs'>, signal?: CallSignal): Promise<InvokeOutcome> {
    const entry = this.pools.get(name);
    if (!entry) return Promise.reject(new FaasError('FUNCTION_NOT_FOUND', `function "${name}" does not exist`, { details: { function: name } }));
    if (this.draining) return Promise.reject(new FaasError('DRAINING', 'faasd is shutting down; retry against another instance', { retryAfter: 5 }));
    if (entry.pinnedUsedAt !== undefined) entry.pinnedUsedAt = Date.now();
    const observer = this.opts.observer;
    if (!observer) return entry.pool.invoke({ ...req, timeoutMs: entry.timeoutMs }, signal);
    const t0 = performance.now();
    const mode = entry.mode;
    const fn = entry.label;
    return entry.pool.invoke({ ...req, timeoutMs: entry.timeoutMs }, signal).then(
      (out) => {
        if (this.pools.get(name) !== entry) return out; // deleted (or re-created) meanwhile
        observer.invocation({
          function: fn,
          mode,
          status: out.result.status,
          durationMs: performance.now() - t0,
          coldStart: out.coldStart,
          start: out.start,
          waitMs: out.waitMs,
          requestId: req.id,
          instanceId: out.instanceId,
        });
        if (out.result.logs.length > 0) observer.functionLogs(fn, req.id, out.result.logs);
        return out;
      },
      (err: unknown) => {
        const fe = err instanceof FaasError ? err : null;
        // Deleted meanwhile, or never run (its client left while it was queued): not an invocation.
        if (this.pools.get(name) !== entry || fe?.code === 'CLIENT_CLOSED') throw err;
        observer.invocation({
          function: fn,
          mode,
          status: fe?.status ?? 500,
          errorCode: fe?.code ?? 'INTERNAL',
          durationMs: performance.now() - t0,
          coldStart: fe?.instance?.coldStart ?? false,
          start: fe?.instance?.start ?? 'warm',
          waitMs: 0,
        });
        const logs = fe?.details.logs;
        if (Array.isArray(logs) && logs.length > 0) observer.functionLogs(fn, req.id, logs as string[]);
        throw err;
      },
    );
  }

  // --- MetricsSource ---

  instanceStates(): InstanceState[] {
    const out: InstanceState[] = [];
    for (const [name, e] of this.pools) for (const i of e.pool.list()) out.push({ function: name, mode: e.mode, state: i.state });
    return out;
  }

  queueDepths(): { function: string; depth: number }[] {
    return [...this.pools].map(([name, e]) => ({ function: name, depth: e.pool.queueDepth }));
  }

  async instanceUsage(only?: string): Promise<InstanceUsageReport[]> {
    const jobs: Promise<InstanceUsageReport>[] = [];
    for (const [name, e] of this.pools) {
      if (only && name !== only) continue;
      for (const i of e.pool.list()) {
        if (!i.running || i.state === 'stopping') continue;
        const running = i.running;
        jobs.push(running.usage().then((usage) => ({ function: name, mode: e.mode, instance: i.id, usage })));
      }
    }
    return Promise.all(jobs);
  }

  listInstances(): InstanceInfo[] {
    const now = Date.now();
    const out: InstanceInfo[] = [];
    for (const [name, e] of this.pools) {
      for (const i of e.pool.list()) {
        out.push({
          id: i.id,
          function: name,
          version: i.version,
          mode: e.mode,
          state: i.state,
          pid: i.running?.pid ?? null,
          container_id: i.running?.containerId ?? null,
          age_seconds: Math.round((now - i.createdAt) / 100) / 10,
          idle_seconds: i.state === 'idle' ? Math.round((now - i.lastUsedAt) / 100) / 10 : 0,
          invocations: i.invocations,
        });
      }
    }
    return out;
  }

  async stopInstance(id: string): Promise<void> {
    for (const e of this.pools.values()) {
      if (await e.pool.stopInstance(id)) return;
    }
    throw new FaasError('INSTANCE_NOT_FOUND', `no instance "${id}"`, { details: { instance: id } });
  }

  instancesOf(name: string): PoolInstance[] {
    return this.pools.get(name)?.pool.list() ?? [];
  }

  // --- DeployTarget (the deploy path) ---

  async checkCode(runtime: RuntimeName, dir: string, file: string, handler: string | null): Promise<void> {
    // Whichever driver can sandbox the check (process mode), whatever mode the function runs in.
    for (const d of this.opts.drivers.values()) {
      if (d.checkCode) return d.checkCode(runtime, dir, file, handler);
    }
  }

  async prepare(mode: ExecutionMode, runtime: RuntimeName): Promise<void> {
    const driver = this.opts.drivers.get(mode);
    if (!driver) {
      const why = this.opts.unavailable?.get(mode) ?? `no such mode (this daemon has ${[...this.opts.drivers.keys()].join(', ')})`;
      throw new FaasError('DEPLOY_FAILED', `${mode} mode is not available on this daemon: ${why}`, {
        details: { field: 'config.execution_mode' },
      });
    }
    await driver.prepare(runtime);
  }

  async deployed(rec: FunctionRecord, codeDir: string): Promise<void> {
    const mode = rec.config.execution_mode;
    const driver = this.opts.drivers.get(mode);
    if (!driver) {
      this.opts.logger.warn({ function: rec.name, mode }, `function not served: ${mode} mode is unavailable`);
      return;
    }
    const pf = this.poolFunction(rec, codeDir);
    const cur = this.pools.get(rec.name);
    if (cur && cur.mode === mode) {
      if (cur.pool.version === rec.version) return;
      cur.pool.update(pf);
      cur.timeoutMs = pf.timeoutMs;
      return;
    }
    if (cur) void cur.pool.close();
    this.pools.set(rec.name, this.newPool(pf, driver, mode, rec.name));
  }

  pinned(rec: FunctionRecord, codeDir: string): string {
    const key = `${rec.name}@${rec.version}`;
    if (this.pools.has(key)) return key;
    const mode = rec.config.execution_mode;
    const driver = this.opts.drivers.get(mode);
    if (!driver) throw new FaasError('DEPLOY_FAILED', `version ${rec.version} of "${rec.name}" runs in ${mode} mode, which is not available on this daemon`, { details: { field: 'version' } });
    const pf = this.poolFunction(rec, codeDir);
    const entry = this.newPool({ ...pf, minInstances: 0, maxInstances: Math.min(pf.maxInstances, PINNED_MAX_INSTANCES) }, driver, mode, rec.name);
    entry.pinnedUsedAt = Date.now();
    this.pools.set(key, entry);
    this.opts.logger.info({ function: rec.name, version: rec.version }, 'pinned version pool opened');
    return key;
  }

  unpinned(name: string, keep: ReadonlySet<number>): void {
    for (const key of [...this.pools.keys()]) {
      if (key.startsWith(`${name}@`) && !keep.has(Number(key.slice(name.length + 1)))) this.closePool(key);
    }
  }

  async removed(name: string): Promise<void> {
    const e = this.pools.get(name);
    for (const key of [...this.pools.keys()]) if (key.startsWith(`${name}@`)) this.closePool(key);
    if (!e) return;
    this.closePool(name);
    // Forgotten now: calls still running finish unrecorded (see invoke), so nothing of a
    // deleted function stays in metrics, stats or logs.
    this.opts.observer?.functionRemoved(name);
  }

  private newPool(pf: PoolFunction, driver: Driver, mode: ExecutionMode, label: string): PoolEntry {
    const pool = new FunctionPool(pf, {
      driver,
      capacity: this.capacity,
      logger: this.opts.logger,
      coldStartTimeoutMs: this.opts.config.system.cold_start_timeout * 1000,
      queueLimit: Math.max(64, pf.maxInstances * 64),
    });
    pool.ensureMinimum();
    return { pool, mode, timeoutMs: pf.timeoutMs, label };
  }

  /**
   * Out of the map at once; not awaited: close() drains (running calls finish, up to their
   * timeout), and DELETE answers at once; shutdown's destroy() still waits for every pool.
   */
  private closePool(key: string): void {
    const e = this.pools.get(key);
    if (!e) return;
    this.pools.delete(key);
    this.closing.add(e.pool);
    void e.pool.close().finally(() => this.closing.delete(e.pool));
  }

  /** New instances for a function whose secrets changed; old ones finish their calls and stop. */
  renew(name: string): void {
    for (const [key, e] of this.pools) if (key === name || key.startsWith(`${name}@`)) e.pool.renew();
  }

  prewarmed(mode: ExecutionMode, runtime: 'python' | 'node'): number {
    return this.opts.drivers.get(mode)?.prewarmed?.(runtime) ?? 0;
  }

  /**
   * A driver that became available after boot (the Docker engine answered late). False when
   * the manager is closing or the mode has a driver already: the caller closes it then.
   */
  attachDriver(mode: ExecutionMode, driver: Driver): boolean {
    if (this.closed || this.draining || this.opts.drivers.has(mode)) return false;
    this.opts.drivers.set(mode, driver);
    this.opts.unavailable?.delete(mode);
    if (this.prewarming) driver.startPrewarming?.();
    return true;
  }

  /** After boot: let the drivers fill their pools of pre-warmed generic instances. */
  startPrewarming(): void {
    this.prewarming = true;
    for (const d of this.opts.drivers.values()) d.startPrewarming?.();
  }

  /** Shutdown, step 1: refuse new invocations (503 Draining); running ones go on. */
  drain(): void {
    this.draining = true;
  }

  /** Shutdown, last step: stop every instance of every pool (killing any still busy), then the drivers. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.draining = true;
    clearInterval(this.reaper);
    await Promise.all([...this.pools.values()].map((e) => e.pool.destroy()));
    this.pools.clear();
    await Promise.all([...this.opts.drivers.values()].map((d) => d.close()));
  }

  /**
   * max_concurrent_functions is full and `except` has no instance at all: stop the least
   * recently used idle instance (above its pool's min_instances) of another function.
   */
  private evictIdle(except: object): boolean {
    let best: { pool: FunctionPool; inst: PoolInstance } | null = null;
    for (const e of this.pools.values()) {
      if (e.pool === except) continue;
      const inst = e.pool.surplusIdle();
      if (inst && (!best || inst.lastUsedAt < best.inst.lastUsedAt)) best = { pool: e.pool, inst };
    }
    if (!best) return false;
    best.pool.evict(best.inst);
    return true;
  }

  private poolFunction(rec: FunctionRecord, codeDir: string): PoolFunction {
    const c = rec.config;
    const entry = functionEntry(rec);
    const installs = c.dependencies.length > 0 || declaredDependencies(rec.runtime, rec.files).length > 0;
    const concurrency = c.concurrency ?? 1;
    return {
      name: rec.name,
      version: rec.version,
      timeoutMs: Math.round(c.timeout * 1000),
      minInstances: Math.min(c.min_instances, c.max_concurrency ? Math.ceil(c.max_concurrency / concurrency) : Infinity),
      // One call at a time per instance unless `concurrency` says more: max_concurrency caps
      // the pool's instances (and, with concurrency > 1, its calls in flight), and calls
      // beyond it queue like a busy pool.
      maxInstances: c.max_concurrency > 0 ? Math.min(c.max_instances, Math.ceil(c.max_concurrency / concurrency)) : c.max_instances,
      concurrency,
      maxInFlight: c.max_concurrency > 0 ? c.max_concurrency : Number.POSITIVE_INFINITY,
      spec: (instanceId) => ({
        instanceId,
        functionName: rec.name,
        version: rec.version,
        runtime: rec.runtime,
        codeDir,
        file: entry.file,
        ...(entry.handler ? { handler: entry.handler } : {}),
        environment: c.environment,
        memoryBytes: memoryBytes(c),
        cpus: cpuCores(c),
        pidsLimit: PIDS_LIMIT,
        network: c.network,
        ...(concurrency > 1 ? { concurrency } : {}),
        // Read at each start, so renew() hands new instances the current values.
        ...(c.secrets?.length ? { secrets: this.opts.secrets?.read(c.secrets) ?? [] } : {}),
        // A generic instance has no dependencies directory (a driver may refuse more: see its start()).
        prewarmable: !installs,
      }),
    };
  }
}
