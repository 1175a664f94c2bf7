// Container mode as a registered driver: one Docker container per instance. Unavailable when
// disabled by configuration or when no engine answers; an engine that answers after boot
// (dockerd often starts after faasd) is watched for, with backoff, and brings the mode up
// then, without a restart.
import Docker from 'dockerode';
import type { DriverContext, DriverFactory } from '../../driver.js';
import { containerHostChecks } from './checks.js';
import { ContainerDriver, removeOrphans } from './container-driver.js';
import { probeDocker } from './docker-util.js';

/** How long the engine watcher waits between probes at most. */
const ENGINE_RETRY_MAX_MS = 60_000;

export const containerDriver: DriverFactory = {
  mode: 'container',
  hostChecks: containerHostChecks,
  async create(ctx) {
    const sys = ctx.config.system;
    if (sys.disable_container) return { unavailable: 'disabled by configuration (FAAS_DISABLE_CONTAINER / system.disable_container)' };
    const docker = ctx.options.docker ?? new Docker();
    const probe = await probeDocker(docker);
    if (probe.ok) return { driver: await build(ctx, docker, probe.detail) };
    return {
      unavailable: `Docker engine unavailable: ${probe.detail}`,
      watch: (attach) => watchEngine(ctx, docker, attach),
    };
  },
};

/** The driver, once the engine has answered (at boot or later). */
async function build(ctx: DriverContext, docker: Docker, engineDetail: string): Promise<ContainerDriver> {
  const { config, logger, daemonId } = ctx;
  await removeOrphans(docker, daemonId, logger);
  logger.info({ engine: engineDetail, images: config.system.container_images }, 'container mode ready');
  return new ContainerDriver({
    docker,
    images: { python: config.system.container_images.python, node: config.system.container_images.node },
    runRoot: ctx.runRoot,
    runtimesDir: ctx.runtimesDir,
    daemonId,
    startTimeoutMs: config.system.cold_start_timeout * 1000,
    logger,
    prewarm: config.prewarm.container,
    engineDetail,
    ...(ctx.options.engineProbeMs !== undefined ? { healthProbeMs: ctx.options.engineProbeMs } : {}),
  });
}

function watchEngine(ctx: DriverContext, docker: Docker, attach: (driver: ContainerDriver) => Promise<boolean>): () => void {
  const { logger } = ctx;
  let delay = ctx.options.engineRetryMs ?? 5000;
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
      const driver = await build(ctx, docker, probe.detail);
      if (stopped || !(await attach(driver))) await driver.close();
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
}
