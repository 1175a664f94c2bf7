// The contract between the pool (which knows nothing of processes or containers) and the
// drivers (which know nothing of queues, round-robin or TTLs), and how a driver is built.
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { InvokeRequest, InvokeResult } from './protocol/shim-channel.js';

import type { ExecutionMode, RuntimeName } from '../model/runtime.js';

export type { ExecutionMode, RuntimeName };

/** Everything a driver needs to start one instance of one function version. */
export interface InstanceSpec {
  instanceId: string;
  functionName: string;
  version: number;
  runtime: RuntimeName;
  /** Host path of this version's code directory (read-only for the instance). */
  codeDir: string;
  /** Entry module inside codeDir: main.py or index.js. */
  file: string;
  /** Export to call; undefined = runtime default. */
  handler?: string;
  environment: Record<string, string>;
  memoryBytes: number;
  /** CPU cores, e.g. 0.1 for "100m"; 0 = unlimited. */
  cpus: number;
  pidsLimit: number;
  /** Container mode only. */
  network?: 'none' | 'bridge';
  /**
   * The secrets the function may read (config.secrets), as files in the instance's own
   * read-only secrets directory: /var/faasd/secrets/<name> (and /var/openfaas/secrets/<name>).
   * Never in its environment, its `init` frame or a log line.
   */
  secrets?: readonly SecretFile[];
  /**
   * Calls the instance may run at once (config.concurrency; 1 when unset). The shim may
   * accept fewer (a Python handler that is not `async def` runs one at a time): the started
   * instance's `concurrency` says what it took.
   */
  concurrency?: number;
  /**
   * May a pre-warmed generic instance serve it? False when its sandbox differs in a way
   * that cannot be applied after start (own dependencies, container networking).
   */
  prewarmable?: boolean;
}

/** One secret as an instance gets it: a file named after it, holding its value. */
export interface SecretFile {
  name: string;
  value: Buffer;
}

export type StartKind = 'cold' | 'prewarmed';

export type ExitReason = 'oom' | 'crash' | 'killed' | 'stopped' | 'protocol';

export interface ExitInfo {
  reason: ExitReason;
  code: number | null;
  signal: string | null;
  /** Last lines the instance wrote to stderr (start-up errors, tracebacks). */
  stderrTail: string;
}

export interface InstanceUsage {
  /** Cumulative CPU time in seconds. */
  cpuSeconds: number;
  memoryBytes: number;
}

/** A started, connected and initialised instance. */
export interface RunningInstance {
  readonly id: string;
  readonly pid?: number;
  readonly containerId?: string;
  /**
   * One call, answered with its result or a structured error (FUNCTION_ERROR, a crash, ...).
   * At most `concurrency` at a time per instance (one unless the function's config asks
   * for more and the instance took it): the pool never sends more.
   */
  invoke(req: InvokeRequest, onStart?: () => void, ahead?: boolean): Promise<InvokeResult>;
  /**
   * True when the instance takes one call sent ahead of the one it runs (`invoke` with
   * `ahead`; only with `concurrency` 1): `onStart` runs when it starts, `cancel(id)` asks for
   * it back, and one that never starts rejects with CallNotStarted (docs/protocol.md).
   * Absent: the pool sends one call at a time per slot and `onStart` is not used.
   */
  readonly pipelining?: boolean;
  cancel?(id: string): void;
  /** Calls this instance runs at once; absent = 1. */
  readonly concurrency?: number;
  /** How this instance came to be: a full cold start or a specialised pre-warmed one. */
  readonly startKind?: StartKind;
  /** Resolves once when the instance is gone, with why. Never rejects. */
  readonly exited: Promise<ExitInfo>;
  /** Immediate: SIGKILL the whole instance (cgroup / container); resolves when gone. */
  kill(): Promise<ExitInfo>;
  /** Graceful within a bound, then kill; releases every resource (dir, cgroup, container). */
  stop(): Promise<void>;
  usage(): Promise<InstanceUsage | null>;
}

export interface DriverHealth {
  ok: boolean;
  detail: string;
  /** Container mode: each configured runtime image, present, pullable or missing (and why). */
  images?: { runtime: RuntimeName; image: string; state: 'present' | 'pullable' | 'missing' | 'unknown'; detail: string }[];
}

export interface Driver {
  readonly mode: ExecutionMode;
  /** The last known state; never waits on anything (a background probe keeps it current). */
  health(): DriverHealth;
  /** Deploy-time preparation (e.g. pull the runtime image); throws FaasError DEPLOY_FAILED. */
  prepare(runtime: RuntimeName): Promise<void>;
  /**
   * Start an instance and bring it to `init_ok`. Rejects with a FaasError (INSTANCE_CRASHED
   * with the start-up stderr, INSTANCE_TIMEOUT, DEPLOY_FAILED for a function that fails to
   * load) and leaves nothing behind.
   */
  start(spec: InstanceSpec, signal?: AbortSignal): Promise<RunningInstance>;
  /** Start keeping pre-warmed generic instances (optional: drivers without prewarm skip it). */
  startPrewarming?(): void;
  /** Ready generic instances of a runtime. */
  prewarmed?(runtime: RuntimeName): number;
  /**
   * Deploy-time check that a version's code loads (syntax, handler), without running it and
   * never in the daemon's process; throws DEPLOY_FAILED. One driver that can sandbox offers it.
   */
  checkCode?(runtime: RuntimeName, codeDir: string, file: string, handler: string | null): Promise<void>;
  /** Stop everything this driver started; idempotent. */
  close(): Promise<void>;
}

/** What a driver is built from (setup.ts hands every registered driver the same). */
export interface DriverContext {
  config: LoadedConfig;
  logger: Logger;
  /** Stable per registry: labels and names that let a restarted daemon find its leftovers. */
  daemonId: string;
  /** The driver's own directory under the daemon's run directory (created, empty). */
  runRoot: string;
  /** The repo's runtimes/ directory (the shims). */
  runtimesDir: string;
  /** Host interpreters found at boot (absent: that runtime cannot run on the host). */
  interpreters: Partial<Record<RuntimeName, { path: string; version: string }>>;
  /** Test and tuning hooks (the Docker client, probe intervals). */
  options: DriverOptions;
}

export interface DriverOptions {
  /** Container mode: the engine's API client (default: DOCKER_HOST or the default socket). */
  docker?: Docker;
  /** Container mode: first re-probe of an engine unreachable at boot, ms (doubles up to 60 s). */
  engineRetryMs?: number;
  /** Container mode: interval of the background engine and image probe behind /health, ms. */
  engineProbeMs?: number;
}

/** A driver as built at boot: ready, or why not (and, for a mode that can come up later, how to watch for it). */
export type DriverBuild =
  | { driver: Driver }
  | {
      unavailable: string;
      /** Keeps looking; calls `attach` with the driver once it can run. Returns the stop function. */
      watch?: (attach: (driver: Driver) => Promise<boolean>) => () => void;
    };

export type HostCheckStatus = 'ok' | 'warn' | 'fail';

/** One line of `faasd --check-system`. */
export interface HostCheckResult {
  name: string;
  status: HostCheckStatus;
  detail: string;
  hint?: string;
}

/** A probe that really tries the thing (unshare, a cgroup write, a Docker ping). */
export type HostCheck = () => HostCheckResult | Promise<HostCheckResult>;

/**
 * One kind of driver. Adding one (Firecracker, gVisor, WASM) is a folder under drivers/ that
 * exports a factory, and one line in drivers/index.ts (docs/drivers.md).
 */
export interface DriverFactory {
  /** The name functions use in `execution_mode` and the config in `default_mode`. */
  readonly mode: ExecutionMode;
  /** Build it, or say why this host cannot run it. May throw: that is "unavailable" too. */
  create(ctx: DriverContext): Promise<DriverBuild>;
  /**
   * What this mode needs of the host, for `faasd --check-system`. `required`: it is the
   * default mode, so a missing need is a failure (else a warning).
   */
  hostChecks?(config: LoadedConfig, required: boolean): HostCheck[];
}
