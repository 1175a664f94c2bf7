// What both shim drivers do the same way: start = a pre-warmed generic instance when one
// fits, else a full cold start; specialising a generic instance (its function's limits, its
// files, then `init`); the pre-warm pool; close. A driver supplies what differs: how to
// launch a shim, how to apply a function's limits to a running instance, its health.
import fs from 'node:fs/promises';
import type { Logger } from 'pino';
import { FaasError } from '../../errors.js';
import type { Driver, DriverHealth, InstanceSpec, RunningInstance, RuntimeName } from '../driver.js';
import { GenericPool, copyFunctionFiles, startInCodeSlot, startPreferringPrewarmed } from './generic-pool.js';
import { GENERIC_LIMITS, type InstanceBase, startError } from './instance-base.js';
import { startOrDiscard, withStartTimeout } from './instance-start.js';
import { fillSecretsDir, withSecretsDir } from './secrets-dir.js';

/** FAASD_TRACE_STARTS=1: each pre-warmed start logs how long its steps took (bench/tools/ab-start.ts reads them). */
const TRACE = process.env.FAASD_TRACE_STARTS === '1';

/**
 * What a launch needs: the resource part of an InstanceSpec (a generic instance has no function
 * yet), and the host directory to mount at the secrets paths (secrets-dir.ts; filled later).
 */
export type LaunchSpec = Pick<InstanceSpec, 'instanceId' | 'functionName' | 'version' | 'runtime' | 'codeDir' | 'memoryBytes' | 'cpus' | 'pidsLimit' | 'network'> & { secretsDir: string };

export interface ShimDriverOptions {
  /** Host directory for per-instance directories (sockets, code slots). */
  runRoot: string;
  startTimeoutMs: number;
  logger: Logger;
  /** Generic instances kept ready per runtime (0 = none), and what a burst may grow each to. */
  prewarm?: Record<RuntimeName, number> & { max?: number };
  /** The uid functions run as, which their secret files are given to; undefined: the daemon's own. */
  instanceUid?: number;
}

export abstract class ShimDriver<I extends InstanceBase> implements Driver {
  /** Every instance started and not yet stopped (close() stops them). */
  protected readonly live = new Set<I>();
  protected closed = false;
  private readonly generic: GenericPool<I>;

  constructor(
    readonly mode: string,
    private readonly base: ShimDriverOptions,
  ) {
    this.generic = new GenericPool(
      base.prewarm ?? { python: 0, node: 0 },
      // Created with the default function limits, so most specialisations change nothing.
      (runtime) =>
        startInCodeSlot(base.runRoot, runtime, (id, slot) =>
          withSecretsDir(base.runRoot, id, async (secretsDir) => {
            // The empty secrets directory is given its final owner and mode now, so a function
            // with no secrets (most) has nothing to wait for here when it is specialised.
            await fillSecretsDir(secretsDir, [], base.instanceUid);
            return this.launch({ instanceId: id, functionName: '', version: 0, runtime, codeDir: slot, ...GENERIC_LIMITS, network: 'none', secretsDir });
          }),
        ),
      base.logger,
      mode,
      base.prewarm?.max ?? 0,
    );
  }

  abstract health(): DriverHealth;
  abstract prepare(runtime: RuntimeName): Promise<void>;
  /** Start a shim for `spec` and wait for its `ready` (no `init` yet); leave nothing behind on failure. */
  protected abstract launch(spec: LaunchSpec, signal?: AbortSignal): Promise<I>;
  /** Give a running generic instance a function's limits (memory, CPU, pids). */
  protected abstract applyLimits(inst: I, spec: InstanceSpec): Promise<void>;
  /** May a generic instance serve `spec`? (Beyond spec.prewarmable: the container driver checks the network.) */
  protected fitsGeneric(spec: InstanceSpec): boolean {
    return spec.prewarmable === true;
  }
  /** After a generic instance is specialised (not awaited by the call). */
  protected specialised(_inst: I, _spec: InstanceSpec): void {}

  /** A pre-warmed generic instance when one fits, else a full cold start. */
  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<RunningInstance> {
    if (this.closed) throw new FaasError('DRAINING', 'faasd is shutting down');
    const fits = this.fitsGeneric(spec) ? spec : { ...spec, prewarmable: false };
    const t = TRACE ? performance.now() : 0;
    return startPreferringPrewarmed(
      this.generic,
      fits,
      (g, s) => this.specialise(g, s, t),
      () => this.coldStart(spec, signal),
      this.base.logger,
    );
  }

  private async coldStart(spec: InstanceSpec, signal?: AbortSignal): Promise<RunningInstance> {
    const inst = await withSecretsDir(this.base.runRoot, spec.instanceId, (secretsDir) => this.launch({ ...spec, secretsDir }, signal));
    return startOrDiscard(
      inst,
      async () => {
        await this.fillSecrets(inst, spec);
        await withStartTimeout(inst.initialise(spec), this.base.startTimeoutMs, `starting an instance of "${spec.functionName}"`);
      },
      (e, exit) => startError(spec.functionName, e, exit),
    );
  }

  /**
   * Give a generic instance its function: its limits, its files copied into the instance's
   * own read-only code slot (a pre-warmable function has no dependencies, so its directory is
   * a few flat files), then `init` with its environment.
   */
  private specialise(inst: I, spec: InstanceSpec, tStart = 0): Promise<RunningInstance> {
    return startOrDiscard(inst, async () => {
      const tr = TRACE ? { t0: performance.now(), limits: 0, copy: 0, secrets: 0, prep: 0, init: 0 } : null;
      const timed = <T>(k: 'limits' | 'copy' | 'secrets', p: Promise<T>): Promise<T> => (tr ? p.finally(() => (tr[k] = performance.now() - tr.t0)) : p);
      await Promise.all([timed('limits', this.applyLimits(inst, spec)), timed('copy', copyFunctionFiles(spec.codeDir, inst.codeSlot!)), timed('secrets', this.fillGenericSecrets(inst, spec))]);
      if (tr) tr.prep = performance.now() - tr.t0;
      inst.id = spec.instanceId;
      inst.startKind = 'prewarmed';
      await withStartTimeout(inst.initialise(spec), this.base.startTimeoutMs, `initialising a pre-warmed instance of "${spec.functionName}"`);
      if (tr) {
        const { t0, ...steps } = tr;
        steps.init = performance.now() - t0 - tr.prep;
        this.base.logger.info(
          { trace: 'prewarmed', mode: this.mode, runtime: spec.runtime, function: spec.functionName, take: t0 - tStart, ...steps, load: inst.loadMs },
          'pre-warmed start steps (ms)',
        );
      }
      this.specialised(inst, spec);
    });
  }

  /** The function's secrets into the instance's secrets directory, before `init` loads its code. */
  private async fillSecrets(inst: I, spec: InstanceSpec): Promise<void> {
    await fillSecretsDir(inst.secrets!.dir, spec.secrets ?? [], this.base.instanceUid);
  }

  /**
   * A generic instance's secrets directory was finished empty when it was launched: nothing to
   * do without secrets; with some it is made writable again for them (a daemon that is not
   * root cannot write into its own 0500 directory), then finished as at a cold start.
   */
  private async fillGenericSecrets(inst: I, spec: InstanceSpec): Promise<void> {
    if (!spec.secrets?.length) return;
    await fs.chmod(inst.secrets!.dir, 0o700);
    await this.fillSecrets(inst, spec);
  }

  /** Fill the pre-warmed pools (after boot, so they do not slow it down). */
  startPrewarming(): void {
    this.generic.fill();
  }

  prewarmed(runtime: RuntimeName): number {
    return this.generic.size(runtime);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.generic.close();
    await Promise.all([...this.live].map((i) => i.stop()));
  }
}
