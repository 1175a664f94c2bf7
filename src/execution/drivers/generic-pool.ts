// Pre-warmed "stem cell" instances per runtime (OpenWhisk prewarm, Fission's pool manager):
// started, connected and ready, but given no function yet. A cold start takes one and only
// pays for `init`; the pool refills in the background. Written once for both drivers.
//
// The pool follows the rate it is drained at: each runtime keeps its configured count plus
// one for every instance taken in the last DEMAND_WINDOW_MS, up to its `max`, and shrinks
// back to the configured count once nothing has been taken for SHRINK_AFTER_MS. (A start that
// found none ready used to wait for one already starting: in container mode those queue in
// the start limiter behind each other, and a burst's first calls took 0.8 s at p50 where a
// cold start takes 0.3 s, so a miss is a cold start.)
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { FaasError } from '../../errors.js';
import type { InstanceSpec, RunningInstance, RuntimeName } from '../driver.js';

const REFILL_DELAY_MS = 25;
/** Takes counted towards the pool's size. */
const DEMAND_WINDOW_MS = 5_000;
/** No take for this long: instances above the configured count are stopped. */
const SHRINK_AFTER_MS = 10_000;

export interface GenericInstance {
  readonly runtime: RuntimeName;
  /** Resolves when the instance is gone. */
  readonly gone: Promise<unknown>;
  /** Release everything it holds. */
  discard(): Promise<void>;
}

export class GenericPool<G extends GenericInstance> {
  private readonly ready: Record<RuntimeName, G[]> = { python: [], node: [] };
  private readonly starting: Record<RuntimeName, number> = { python: 0, node: 0 };
  /** Times of recent takes (hits and misses), oldest first: the drain rate. */
  private readonly takes: Record<RuntimeName, number[]> = { python: [], node: [] };
  private shrinkTimer: NodeJS.Timeout | null = null;
  /** Consecutive start failures: a runtime that keeps failing is retried with backoff, not in a loop. */
  private readonly failures: Record<RuntimeName, number> = { python: 0, node: 0 };
  private readonly refillTimers = new Set<NodeJS.Timeout>();
  /** Starts in flight: close() waits for them, so nothing it started outlives it. */
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;

  constructor(
    private readonly targets: Readonly<Record<RuntimeName, number>>,
    private readonly startGeneric: (runtime: RuntimeName) => Promise<G>,
    private readonly logger: Logger,
    private readonly label: string,
    /** What a runtime's pool may grow to while drained (never below its configured count). */
    private readonly max = 0,
  ) {}

  /** The size the pool aims at now: the configured count, plus recent demand, up to max. */
  target(runtime: RuntimeName, now = Date.now()): number {
    const base = this.targets[runtime];
    if (base === 0) return 0; // pre-warming off stays off
    const takes = this.takes[runtime];
    while (takes.length > 0 && takes[0]! < now - DEMAND_WINDOW_MS) takes.shift();
    return Math.min(Math.max(base, this.max), base + takes.length);
  }

  /** Start the configured number of generic instances (call once the driver is ready). */
  fill(): void {
    for (const rt of ['python', 'node'] as const) this.refill(rt);
  }

  /** A ready generic instance, or null (then the caller does a normal cold start). */
  take(runtime: RuntimeName): G | null {
    const g = this.ready[runtime].shift() ?? null;
    // Only a hit counts as demand: after a miss the caller starts an instance of its own,
    // and growing the pool then would add starts that compete with it.
    if (g) this.noteTake(runtime);
    return g;
  }

  private noteTake(runtime: RuntimeName): void {
    if (this.targets[runtime] === 0) return;
    this.takes[runtime].push(Date.now());
    // Refill a moment later: spawn() forks the daemon synchronously (milliseconds for a large
    // process), which would otherwise land in the middle of the start this instance serves.
    this.refillLater(runtime, REFILL_DELAY_MS);
    if (!this.shrinkTimer && this.max > this.targets[runtime]) {
      this.shrinkTimer = setInterval(() => this.shrink(), SHRINK_AFTER_MS / 3);
      this.shrinkTimer.unref();
    }
  }

  /** Stop instances above the configured count once nothing has been taken for a while. */
  private shrink(): void {
    const now = Date.now();
    let grown = false;
    for (const rt of ['python', 'node'] as const) {
      const last = this.takes[rt].at(-1) ?? 0;
      const extra = this.ready[rt].length - this.targets[rt];
      if (extra <= 0) continue;
      if (now - last < SHRINK_AFTER_MS) {
        grown = true;
        continue;
      }
      // The longest-waiting ones go: they are the ones the refill started first.
      for (const g of this.ready[rt].splice(0, extra)) void g.discard();
      this.logger.debug({ runtime: rt, mode: this.label, stopped: extra }, 'pre-warmed pool back to its configured size');
    }
    if (!grown && this.shrinkTimer) {
      clearInterval(this.shrinkTimer);
      this.shrinkTimer = null;
    }
  }

  size(runtime: RuntimeName): number {
    return this.ready[runtime].length;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.refillTimers) clearTimeout(t);
    if (this.shrinkTimer) clearInterval(this.shrinkTimer);
    const all = [...this.ready.python, ...this.ready.node];
    this.ready.python = [];
    this.ready.node = [];
    await Promise.all([...all.map((g) => g.discard()), ...this.inFlight]);
  }

  private refill(runtime: RuntimeName): void {
    if (this.closed) return;
    const missing = this.target(runtime) - this.ready[runtime].length - this.starting[runtime];
    for (let i = 0; i < missing; i++) this.startOne(runtime);
  }

  private startOne(runtime: RuntimeName): void {
    this.starting[runtime] += 1;
    const started = this.startGeneric(runtime).then(
      async (g) => {
        this.starting[runtime] -= 1;
        this.failures[runtime] = 0;
        if (this.closed) {
          await g.discard();
          return;
        }
        this.ready[runtime].push(g);
        // A generic instance that dies while waiting is dropped and replaced.
        void g.gone.then(() => {
          const i = this.ready[runtime].indexOf(g);
          if (i >= 0) {
            this.ready[runtime].splice(i, 1);
            void g.discard();
            this.refill(runtime);
          }
        });
      },
      (err: Error) => {
        this.starting[runtime] -= 1;
        const n = (this.failures[runtime] += 1);
        // Backoff up to 5 min (e.g. an image that cannot be pulled); warn once per streak.
        const delay = Math.min(300_000, 500 * 2 ** Math.min(n, 10));
        const log = { runtime, mode: this.label, err: err.message, retry_ms: delay, failures: n };
        if (n === 1) this.logger.warn(log, 'pre-warmed instance failed to start; retrying with backoff');
        else this.logger.debug(log, 'pre-warmed instance failed to start again');
        this.refillLater(runtime, delay);
      },
    );
    this.inFlight.add(started);
    void started.finally(() => this.inFlight.delete(started));
  }

  /** A refill after `ms` (close() cancels it; it never holds the process open). */
  private refillLater(runtime: RuntimeName, ms: number): void {
    const t = setTimeout(() => {
      this.refillTimers.delete(t);
      this.refill(runtime);
    }, ms);
    t.unref();
    this.refillTimers.add(t);
  }
}

/**
 * A driver's start(): a pre-warmed generic instance when the spec allows one and one is
 * ready, else (or when specialising fails for a reason other than the function's own load
 * error) a full cold start.
 */
export async function startPreferringPrewarmed<G extends GenericInstance>(
  pool: GenericPool<G>,
  spec: InstanceSpec,
  specialise: (g: G, spec: InstanceSpec) => Promise<RunningInstance>,
  coldStart: () => Promise<RunningInstance>,
  logger: Logger,
): Promise<RunningInstance> {
  const generic = spec.prewarmable ? pool.take(spec.runtime) : null;
  if (generic) {
    try {
      return await specialise(generic, spec);
    } catch (e) {
      if (e instanceof FaasError && e.code === 'FUNCTION_ERROR') throw e;
      logger.warn({ function: spec.functionName, err: (e as Error).message }, 'pre-warmed instance failed to specialise: cold start instead');
    }
  }
  return coldStart();
}

/**
 * Start a generic instance of `runtime` with its own empty code slot (`<runRoot>/<id>.code`,
 * mounted read-only into it, filled by copyFunctionFiles when it is specialised). The slot
 * is removed again if the start fails.
 */
export async function startInCodeSlot<G extends GenericInstance & { codeSlot: string | null }>(runRoot: string, runtime: RuntimeName, launch: (id: string, slot: string) => Promise<G>): Promise<G> {
  const id = `prewarm-${runtime}-${crypto.randomBytes(4).toString('hex')}`;
  const slot = path.join(runRoot, `${id}.code`);
  await fs.mkdir(slot, { mode: 0o755 });
  try {
    const inst = await launch(id, slot);
    inst.codeSlot = slot;
    return inst;
  } catch (e) {
    await fs.rm(slot, { recursive: true, force: true });
    throw e;
  }
}

/**
 * Put a function version's files into a generic instance's code directory, subdirectories
 * included (a multi-file function's helper packages). Only pre-warmable functions get here:
 * no installed dependencies, so the tree is the function's own few files. A file is hard-linked
 * when the slot is on the function storage's filesystem (a version's files never change once
 * deployed, the slot is mounted read-only, and a link has the same mode and owner a copy
 * would): creating a file and writing its data took 0.6-0.8 ms here, a link 0.2-0.3 ms. Else
 * (another filesystem, e.g. a tmpfs /run) it is copied. Asynchronous on purpose: this runs
 * inside an invocation (its cold start), where a synchronous read of a file that is not in the
 * page cache would stall every other request.
 */
export async function copyFunctionFiles(codeDir: string, slot: string): Promise<void> {
  const entries = (await fs.readdir(codeDir, { withFileTypes: true })).filter((e) => e.name !== '.complete');
  await Promise.all(
    entries.map((e) => {
      const from = path.join(codeDir, e.name);
      const to = path.join(slot, e.name);
      if (e.isFile()) return linkOrCopy(from, to);
      return e.isDirectory() ? fs.cp(from, to, { recursive: true }) : undefined;
    }),
  );
}

/** Whether links work from the function storage into the run directory (false after the first EXDEV / EPERM). */
let linksWork = true;

async function linkOrCopy(from: string, to: string): Promise<void> {
  if (linksWork) {
    try {
      await fs.link(from, to);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EXDEV' && code !== 'EPERM' && code !== 'EMLINK') throw e;
      // Another filesystem (or links refused, fs.protected_hardlinks): copy from now on.
      if (code !== 'EMLINK') linksWork = false;
    }
  }
  await fs.copyFile(from, to);
}
