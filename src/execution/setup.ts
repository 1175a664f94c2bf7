// Builds the execution side from the config: interpreters, every registered driver
// (drivers/index.ts), the manager. A mode that cannot work here is reported (health, deploy
// 422) instead of crashing boot, unless it is the configured default mode.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { FaasError } from '../errors.js';
import type { SecretSource } from './api.js';
import type { ExecutionObserver } from './events.js';
import type { Driver, DriverBuild, DriverFactory, DriverOptions, ExecutionMode, RuntimeName } from './driver.js';
import { BUILTIN_DRIVERS } from './drivers/index.js';
import { resolveInterpreter } from './drivers/process/launcher.js';
import { ExecutionManager } from './manager.js';
import { prepareRunDir, removeRunDir, runBase } from '../os/run-dir.js';

export const RUNTIMES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'runtimes');

/** Stable per registry: a restarted daemon finds its own leftovers, two daemons never share. */
export function daemonId(config: LoadedConfig): string {
  return crypto.createHash('sha256').update(config.system.registry_path).digest('hex').slice(0, 10);
}

export interface ExecutionSetup {
  manager: ExecutionManager;
  interpreters: Partial<Record<RuntimeName, { path: string; version: string }>>;
  /** /run/faasd/<daemon id>: the daemon removes it once the manager is closed. */
  runRoot: string;
  /**
   * Drivers that could not run at boot but may later (a Docker engine that starts after
   * faasd): watches for them and attaches each to the manager when it can run, then calls
   * `onAttached(mode)` (the daemon deploys that mode's pools). Returns the function that stops
   * watching.
   */
  watchLateDrivers: (onAttached: (mode: ExecutionMode) => Promise<void>) => () => void;
}

export interface ExecutionOptions extends DriverOptions {
  observer?: ExecutionObserver;
  /** The values of functions' secrets (the daemon's secret store). */
  secrets?: SecretSource;
  /** Drivers beyond the built-in ones (a test's in-process driver). */
  drivers?: readonly DriverFactory[];
}

export async function setUpExecution(config: LoadedConfig, logger: Logger, hooks: ExecutionOptions = {}): Promise<ExecutionSetup> {
  const sys = config.system;
  const id = daemonId(config);
  const interpreters: ExecutionSetup['interpreters'] = {};
  for (const rt of ['python', 'node'] as const) {
    try {
      interpreters[rt] = resolveInterpreter(rt, sys.interpreters[rt] || undefined);
    } catch (e) {
      logger.warn({ runtime: rt, err: (e as Error).message }, 'runtime unavailable');
    }
  }

  const runRoot = prepareRunDir(runBase(), id, sys.registry_path, logger);
  const drivers = new Map<ExecutionMode, Driver>();
  try {
    const factories = [...BUILTIN_DRIVERS, ...(hooks.drivers ?? [])];
    if (!factories.some((f) => f.mode === sys.default_mode)) {
      throw new FaasError('CONFIG_INVALID', `default_mode "${sys.default_mode}" is not a driver faasd has (${factories.map((f) => f.mode).join(', ')})`);
    }
    const unavailable = new Map<ExecutionMode, string>();
    const late: Array<{ mode: ExecutionMode; watch: NonNullable<Extract<DriverBuild, { unavailable: string }>['watch']> }> = [];
    const options: DriverOptions = { ...(hooks.docker ? { docker: hooks.docker } : {}), ...pick(hooks, 'engineRetryMs', 'engineProbeMs') };
    for (const factory of factories) {
      const dir = path.join(runRoot, factory.mode);
      fs.mkdirSync(dir, { mode: 0o711 });
      let built: DriverBuild;
      try {
        built = await factory.create({ config, logger, daemonId: id, runRoot: dir, runtimesDir: RUNTIMES_DIR, interpreters, options });
      } catch (e) {
        built = { unavailable: (e as Error).message };
      }
      if ('driver' in built) {
        drivers.set(factory.mode, built.driver);
        continue;
      }
      if (sys.default_mode === factory.mode) throw new FaasError('CONFIG_INVALID', `${factory.mode} mode (the default mode) cannot run here: ${built.unavailable}`);
      unavailable.set(factory.mode, built.unavailable);
      if (built.watch) late.push({ mode: factory.mode, watch: built.watch });
      logger.warn(
        { reason: built.unavailable, ...(built.watch ? { retry: 'probed again with backoff; the mode starts when it can' } : {}) },
        `${factory.mode} mode unavailable; ${factory.mode}-mode deploys will be refused with 422`,
      );
    }

    const manager = new ExecutionManager({
      config,
      drivers,
      unavailable,
      logger,
      ...(hooks.observer ? { observer: hooks.observer } : {}),
      ...(hooks.secrets ? { secrets: hooks.secrets } : {}),
    });
    const watchLateDrivers = (onAttached: (mode: ExecutionMode) => Promise<void>) => {
      const stops = late.map(({ mode, watch }) =>
        watch(async (driver) => {
          if (!manager.attachDriver(mode, driver)) return false;
          logger.info({ mode }, `${mode} mode came up after boot`);
          await onAttached(mode);
          return true;
        }),
      );
      return () => {
        for (const stop of stops) stop();
      };
    };
    return { manager, interpreters, runRoot, watchLateDrivers };
  } catch (e) {
    await Promise.all([...drivers.values()].map((d) => d.close()));
    removeRunDir(runRoot);
    throw e;
  }
}

function pick<T extends object, K extends keyof T>(o: T, ...keys: K[]): Partial<Pick<T, K>> {
  const out: Partial<Pick<T, K>> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}
