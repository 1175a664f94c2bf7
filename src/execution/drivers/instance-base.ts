// What every instance does the same way, whatever runs it (a sandboxed process, a container,
// a future VM): the shim's connection and `ready` raced against the instance's death, `init`,
// invoke, an exit reported once with its reason, idempotent kill() and stop(), and the start
// error that carries the stderr tail. In the spirit of undici's dispatcher base: this class
// owns the lifecycle, a driver's subclass fills in three hooks (how to kill it now, how to
// release what it holds, how to read its usage). Start-up follows miniflare's runtime: a
// crash at start is an error with the start-up stderr, not a hang.
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import { FaasError } from '../../errors.js';
import type { ExitInfo, InstanceSpec, InstanceUsage, RunningInstance, RuntimeName, StartKind } from '../driver.js';
import type { GenericInstance } from './generic-pool.js';
import type { SecretsDir } from './secrets-dir.js';
import { ShimChannel, type InvokeRequest, type InvokeResult, type ShimListener } from '../protocol/shim-channel.js';

/** How much of an instance's stderr is kept for start errors and crash reports. */
export const STDERR_TAIL_BYTES = 8192;

/** A generic (pre-warmed) instance starts with the default function limits, so most specialisations change nothing. */
export const GENERIC_LIMITS = Object.freeze({ memoryBytes: 128 * 1024 * 1024, cpus: 1, pidsLimit: 256 });

/** The shim's environment: nothing of the daemon's; the function's own variables come in `init`. */
export function shimEnvironment(runtime: RuntimeName, socket: string, pathVar: string): Record<string, string> {
  const env: Record<string, string> = { FAAS_SOCKET: socket, PATH: pathVar, HOME: '/tmp', LANG: 'C.UTF-8' };
  if (runtime === 'python') Object.assign(env, { PYTHONDONTWRITEBYTECODE: '1', PYTHONUNBUFFERED: '1', PYTHONNOUSERSITE: '1' });
  else env.NODE_ENV = 'production';
  return env;
}

export interface InstanceParts {
  id: string;
  runtime: RuntimeName;
  /** Where the function's code is, as the shim sees it. */
  codeDirInside: string;
  listener: ShimListener;
  /** The instance's host directory (its socket): removed by stop(). */
  hostDir: string;
  logger: Logger;
  /** Called once by stop(), when everything is released: the driver forgets the instance. */
  forget: () => void;
}

export abstract class InstanceBase implements RunningInstance, GenericInstance {
  /** Renamed to the pool's id when a generic instance is specialised. */
  id: string;
  readonly runtime: RuntimeName;
  startKind: StartKind = 'cold';
  /** Generic instances only: the host directory bound read-only as its code directory. */
  codeSlot: string | null = null;
  /** The instance's secrets directory (secrets-dir.ts), removed by stop(). */
  secrets: SecretsDir | null = null;
  readonly exited: Promise<ExitInfo>;
  protected readonly logger: Logger;
  protected killedByUs = false;
  /** Set by the driver as soon as it sees the end, before it has gathered why (reportExit). */
  protected exitSeen = false;
  protected stopping: Promise<void> | null = null;
  private channel: ShimChannel | null = null;
  private settled = false;
  private settle!: (exit: ExitInfo) => void;

  constructor(private readonly parts: InstanceParts) {
    this.id = parts.id;
    this.runtime = parts.runtime;
    this.logger = parts.logger;
    this.exited = new Promise<ExitInfo>((resolve) => (this.settle = resolve));
  }

  /** Immediately kill everything the instance runs (its cgroup, its container). */
  protected abstract killNow(): Promise<void>;
  /** After the channel is closed: make sure it is gone and release what it holds (cgroup, container). */
  protected abstract release(): Promise<void>;
  abstract usage(): Promise<InstanceUsage | null>;

  /** True once the exit is known. */
  get isGone(): boolean {
    return this.settled;
  }

  /**
   * The driver reports the end once it knows it (oom: the kernel's OOM killer did it, which
   * looks like any SIGKILL from outside); the reason follows from who asked for it.
   */
  protected reportExit(oom: boolean, code: number | null, signal: string | null, stderrTail: string): void {
    if (this.settled) return;
    this.settled = true;
    this.exitSeen = true;
    const reason = oom ? 'oom' : this.killedByUs ? 'killed' : this.stopping ? 'stopped' : 'crash';
    this.settle({ reason, code, signal, stderrTail });
  }

  get gone(): Promise<unknown> {
    return this.exited;
  }

  discard(): Promise<void> {
    return this.stop();
  }

  /** Rejects when the instance dies: raced against each start step. */
  private died(): Promise<never> {
    const died = this.exited.then((exit): never => {
      throw new FaasError('INSTANCE_CRASHED', `the instance exited (${exit.signal ?? exit.code}) before its shim was ready`);
    });
    died.catch(() => undefined);
    return died;
  }

  /** Accept the shim's connection and wait for `ready`, raced against the instance's exit. */
  async connect(signal?: AbortSignal): Promise<void> {
    const died = this.died();
    const socket = await Promise.race([this.parts.listener.nextConnection(signal), died]);
    this.channel = new ShimChannel(socket);
    await Promise.race([this.channel.ready, died]);
    // No more connections are expected: a second one would be someone else's.
    void this.parts.listener.close();
  }

  /** Send `init` for the function. */
  async initialise(spec: InstanceSpec): Promise<void> {
    const fn = {
      name: spec.functionName,
      version: spec.version,
      dir: this.parts.codeDirInside,
      file: spec.file,
      ...(spec.handler ? { handler: spec.handler } : {}),
      ...(spec.concurrency && spec.concurrency > 1 ? { concurrency: spec.concurrency } : {}),
    };
    const ok = await Promise.race([this.channel!.init(fn, spec.environment), this.died()]);
    this.loadMs = ok.loadMs;
  }

  /** What the shim said loading the function's module took (init_ok's load_ms). */
  loadMs = 0;

  /** The shim takes one call ahead of the running one (pipelining: docs/protocol.md). */
  readonly pipelining = true;

  invoke(req: InvokeRequest, onStart?: () => void, ahead?: boolean): Promise<InvokeResult> {
    return this.channel!.invoke(req, onStart, ahead);
  }

  cancel(id: string): void {
    this.channel?.cancel(id);
  }

  /** What the shim took of the function's `concurrency` in init_ok (1 before init). */
  get concurrency(): number {
    return this.channel?.concurrency ?? 1;
  }

  async kill(): Promise<ExitInfo> {
    if (!this.settled && !this.exitSeen) {
      this.killedByUs = true;
      await this.killNow();
    }
    return this.exited;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // Closing the socket ends the shim (it exits on EOF); release() makes sure.
      this.channel?.destroy();
      await this.parts.listener.close().catch(() => undefined);
      await this.release();
      await fs.rm(this.parts.hostDir, { recursive: true, force: true }).catch(() => undefined);
      if (this.codeSlot) await fs.rm(this.codeSlot, { recursive: true, force: true }).catch(() => undefined);
      if (this.secrets) await fs.rm(this.secrets.root, { recursive: true, force: true }).catch(() => undefined);
      this.parts.forget();
    })();
    return this.stopping;
  }
}

/** Resolves true when `p` settles within `ms`, else false (never holds the process open). */
export function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<false>((r) => setTimeout(() => r(false), ms).unref())]);
}

/**
 * The error a failed start answers with: the function's own load error as is; a timeout with
 * the stderr tail; an OOM; a crash with the last lines it printed (a Docker API failure with
 * no output says more than the exit of a container that never ran).
 */
export function startError(what: string, e: unknown, exit: ExitInfo): FaasError {
  const tail = exit.stderrTail.trim();
  if (e instanceof FaasError && (e.code === 'FUNCTION_ERROR' || e.code === 'DEPLOY_FAILED')) return e;
  if (e instanceof FaasError && e.code === 'INSTANCE_TIMEOUT') {
    return tail ? new FaasError('INSTANCE_TIMEOUT', e.message, { details: { ...e.details, stderr: tail } }) : e;
  }
  if (exit.reason === 'oom') return new FaasError('OUT_OF_MEMORY', `an instance of "${what}" ran out of memory while starting`, { details: { stderr: exit.stderrTail } });
  if (e instanceof FaasError && e.code === 'INSTANCE_CRASHED' && e.cause !== undefined && !tail) return e;
  const how = exit.signal ? `was killed by ${exit.signal}` : `exited with status ${exit.code}`;
  return new FaasError('INSTANCE_CRASHED', `an instance of "${what}" ${how} while starting${tail ? `: ${tail.split('\n').slice(-3).join(' | ')}` : ''}`, {
    details: { stderr: exit.stderrTail },
    cause: e,
  });
}
