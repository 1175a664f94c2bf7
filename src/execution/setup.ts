// Builds the execution side from the config: interpreters, sandbox, drivers, manager.
// A mode that cannot work here is reported (health, deploy 422) instead of crashing boot,
// unless it is the configured default mode.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { FaasError } from '../errors.js';
import { LocalDependencyInstaller } from '../deploy/dependencies.js';
import type { ExecutionObserver } from './events.js';
import type { Driver, ExecutionMode, ExitInfo, RuntimeName } from './driver.js';
import { ContainerDriver, removeOrphans } from './drivers/container/container-driver.js';
import { ProcessDriver } from './drivers/process/process-driver.js';
import { probeDocker } from '../system/docker-probe.js';
import { ExecutionManager } from './manager.js';
import { prepareRunDir, removeRunDir, runBase } from './run-dir.js';
import { CgroupManager } from './drivers/process/cgroups.js';
import { CodeChecker } from './drivers/process/code-check.js';
import { checkSandboxTools, resolveInterpreter } from './drivers/process/launcher.js';

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
   * Set when the Docker engine did not answer at boot (dockerd often starts after faasd):
   * keeps probing it, with backoff, and attaches container mode to the manager when it
   * answers, then calls `onAttached` (the daemon deploys its container functions' pools).
   * Returns the function that stops watching.
   */
  watchEngine?: (onAttached: () => Promise<void>) => () => void;
}

export interface ExecutionOptions {
  onInstanceGone?: (fn: string, mode: ExecutionMode, exit: ExitInfo) => void;
  observer?: ExecutionObserver;
  /** The engine's API client (default: DOCKER_HOST or the default socket, as the docker CLI). */
  docker?: Docker;
  /** First re-probe of an engine that was unreachable at boot, ms (doubles up to 60 s). */
  engineRetryMs?: number;
  /** Interval of the background engine and image probe behind /health, ms. */
  engineProbeMs?: number;
}

/** How long the engine watcher waits between probes at most. */
const ENGINE_RETRY_MAX_MS = 60_000;

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
  try {
    return await setUpInRunDir(config, logger, hooks, id, runRoot, interpreters);
  } catch (e) {
    removeRunDir(runRoot);
    throw e;
  }
}

async function setUpInRunDir(
  config: LoadedConfig,
  logger: Logger,
  hooks: ExecutionOptions,
  id: string,
  runRoot: string,
  interpreters: ExecutionSetup['interpreters'],
): Promise<ExecutionSetup> {
  const sys = config.system;
  const drivers: Partial<Record<ExecutionMode, Driver>> = {};
  const unavailable: Partial<Record<ExecutionMode, string>> = {};
  /** Deploy-time code check, in process mode's sandbox (none when process mode cannot run). */
  let checker: CodeChecker | undefined;

  try {
    const level = sys.process_isolation_level;
    let cgroups: CgroupManager | null = null;
    if (level !== 'none') {
      const d = await CgroupManager.detect({ prefix: `faasd-${id}` });
      if (!d.manager) throw new Error(`isolation level ${level} needs cgroups: ${d.detail} (run as root, or set process_isolation_level: none)`);
      cgroups = d.manager;
      const stale = await cgroups.removeStale();
      if (stale > 0) logger.info({ count: stale }, 'removed cgroups left by a previous run');
    }
    if (level === 'strict') {
      const tools = checkSandboxTools();
      if (!tools.ok) throw new Error(`strict isolation needs bubblewrap: ${tools.detail}`);
    }
    const processRoot = path.join(runRoot, 'processes');
    fs.mkdirSync(processRoot, { mode: 0o711 });
    drivers.process = new ProcessDriver({
      level,
      runRoot: processRoot,
      cgroups,
      interpreters: { python: interpreters.python?.path ?? '/usr/bin/python3', node: interpreters.node?.path ?? '/usr/bin/node' },
      runtimesDir: RUNTIMES_DIR,
      startTimeoutMs: sys.cold_start_timeout * 1000,
      logger,
      prewarm: config.prewarm.process,
    });
    const checkRoot = path.join(runRoot, 'checks');
    fs.mkdirSync(checkRoot, { mode: 0o711 });
    checker = new CodeChecker({
      level,
      cgroups,
      interpreters: { python: interpreters.python?.path ?? '/usr/bin/python3', node: interpreters.node?.path ?? '/usr/bin/node' },
      runtimesDir: RUNTIMES_DIR,
      runRoot: checkRoot,
      logger,
    });
    logger.info({ isolation: level, cgroup: cgroups?.version ?? 'none', run_dir: runRoot }, 'process mode ready');
  } catch (e) {
    unavailable.process = (e as Error).message;
    if (sys.default_mode === 'process') throw new FaasError('CONFIG_INVALID', `process mode (the default mode) cannot run here: ${(e as Error).message}`);
    logger.warn({ reason: unavailable.process }, 'process mode unavailable');
  }

  const docker = hooks.docker ?? new Docker();
  const containerRoot = path.join(runRoot, 'containers');
  /** The container driver, once the engine has answered (at boot or later). */
  const containerDriver = async (engineDetail: string): Promise<ContainerDriver> => {
    const removed = await removeOrphans(docker, id, logger);
    if (removed > 0) logger.info({ count: removed }, 'removed containers left by a previous run');
    fs.mkdirSync(containerRoot, { recursive: true, mode: 0o711 });
    return new ContainerDriver({
      docker,
      images: { python: sys.container_images.python, node: sys.container_images.node },
      runRoot: containerRoot,
      runtimesDir: RUNTIMES_DIR,
      daemonId: id,
      startTimeoutMs: sys.cold_start_timeout * 1000,
      logger,
      prewarm: config.prewarm.container,
      engineDetail,
      ...(hooks.engineProbeMs !== undefined ? { healthProbeMs: hooks.engineProbeMs } : {}),
    });
  };
  let engineDown = false;
  if (sys.disable_container) {
    unavailable.container = 'disabled by configuration (FAAS_DISABLE_CONTAINER / system.disable_container)';
  } else {
    const probe = await probeDocker(docker);
    if (probe.ok) {
      drivers.container = await containerDriver(probe.detail);
      logger.info({ engine: probe.detail, images: sys.container_images }, 'container mode ready');
    } else {
      unavailable.container = `Docker engine unavailable: ${probe.detail}`;
      engineDown = true;
    }
  }
  if (!drivers.container) {
    if (sys.default_mode === 'container') throw new FaasError('CONFIG_INVALID', `container mode (the default mode) cannot run here: ${unavailable.container}`);
    logger.warn(
      { reason: unavailable.container, ...(engineDown ? { retry: 'the engine is probed again with backoff; container mode starts when it answers' } : {}) },
      'container mode unavailable; container-mode deploys will be refused with 422',
    );
  }

  const manager = new ExecutionManager({
    config,
    drivers,
    unavailable,
    installer: new LocalDependencyInstaller({ pythonPath: interpreters.python?.path ?? '/usr/bin/python3' }),
    ...(checker ? { checker } : {}),
    logger,
    ...(hooks.onInstanceGone ? { onInstanceGone: hooks.onInstanceGone } : {}),
    ...(hooks.observer ? { observer: hooks.observer } : {}),
  });
  if (!engineDown) return { manager, interpreters, runRoot };

  const watchEngine = (onAttached: () => Promise<void>): (() => void) => {
    let delay = hooks.engineRetryMs ?? 5000;
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    const schedule = () => {
      timer = setTimeout(() => void attempt(), delay);
      timer.unref();
      delay = Math.min(delay * 2, ENGINE_RETRY_MAX_MS);
    };
    const attempt = async () => {
      const probe = await probeDocker(docker);
      if (stopped) return;
      if (!probe.ok) {
        logger.debug({ reason: probe.detail, next_ms: delay }, 'Docker engine still unavailable');
        return schedule();
      }
      try {
        const driver = await containerDriver(probe.detail);
        if (stopped || !manager.attachDriver('container', driver)) {
          await driver.close();
          return;
        }
        logger.info({ engine: probe.detail, images: sys.container_images }, 'Docker engine answered: container mode ready');
        await onAttached();
      } catch (e) {
        logger.warn({ err: (e as Error).message }, 'container mode could not start after the engine answered; retrying');
        if (!stopped) schedule();
      }
    };
    schedule();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  };
  return { manager, interpreters, runRoot, watchEngine };
}
