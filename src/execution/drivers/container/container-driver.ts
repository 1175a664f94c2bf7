// Container mode: each instance is one Docker container running the same shim as process
// mode, talking over a Unix socket in its own host directory, bind-mounted at /run/faas.
// The lifecycle is InstanceBase's; this file creates and starts containers, follows them to
// their exit (wait + inspect for OOMKilled), kills and force-removes them.
//
// Facts this relies on (.ci/docker-notes.md): the images may have no /bin/sh, so the command
// is exec form with absolute paths; node/python as PID 1 ignore SIGTERM, so `Init: true`
// (tini) is PID 1; the stats API takes ~1 s per call, so usage() reads the cgroup files; a
// read-only root needs a tmpfs /tmp; State.OOMKilled is what reports an OOM kill.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import { FaasError } from '../../../errors.js';
import type { DriverHealth, InstanceSpec, InstanceUsage, RuntimeName } from '../../driver.js';
import { GENERIC_LIMITS, InstanceBase, STDERR_TAIL_BYTES, settlesWithin, shimEnvironment, startError, type InstanceParts } from '../instance-base.js';
import { ShimDriver, type LaunchSpec, type ShimDriverOptions } from '../shim-driver.js';
import { listenForShim, type ShimListener } from '../../protocol/shim-channel.js';
import { StartLimiter } from './start-limiter.js';
import { ContainerImages, type ImageInfo } from './images.js';
import { LABELS, dockerMessage, statusCode } from './docker-util.js';
import { withStartTimeout } from '../instance-start.js';
import { SECRETS_DIR_ENV, SECRETS_MOUNTS } from '../secrets-dir.js';

export interface ContainerDriverOptions extends ShimDriverOptions {
  /** dockerode instance (the engine's API socket). */
  docker: Docker;
  /** Image per runtime, e.g. { python: 'python:3.11-slim', node: 'node:20-slim' }. */
  images: Record<RuntimeName, string>;
  /** The repo's runtimes/ directory (runtimes/python/shim.py, runtimes/node/shim.js). */
  runtimesDir: string;
  /** Value of the faasd.daemon label: what removeOrphans() of a restarted daemon looks for. */
  daemonId: string;
  /**
   * Interpreter inside the image, per runtime. Default: found once per image in prepare(),
   * as the first `python3` / `node` that exists in the directories of the image's PATH
   * (stock python:3.11-slim / node:20-slim: /usr/local/bin, faasd-runtime/*-local: /usr/bin).
   */
  interpreterPaths?: Partial<Record<RuntimeName, string>>;
  /** What the engine said when it was first probed (shown by /health until the next probe). */
  engineDetail?: string;
  /** Interval of the background engine and image probe behind /health, ms. */
  healthProbeMs?: number;
}

/** Where things are inside every container. */
export const CONTAINER_PATHS = Object.freeze({
  instanceDir: '/run/faas',
  socket: '/run/faas/shim.sock',
  shimDir: '/opt/faas/runtime',
  codeDir: '/function',
});

const SHIM_FILE: Record<RuntimeName, string> = { python: 'shim.py', node: 'shim.js' };
const LOG_TAIL_LINES = 200;
const NOBODY_UID = 65534;
const NOBODY = `${NOBODY_UID}:${NOBODY_UID}`;
const TMPFS_TMP = 'rw,nosuid,nodev,size=64m';
/** Seconds; only used by `docker stop` and a daemon restart, the driver itself force-removes. */
const STOP_TIMEOUT_S = 2;
/** How often the engine and the images are probed in the background for /health. */
const HEALTH_PROBE_MS = 5000;
/** Bound on one probe's engine calls: a hung engine reads as down, never as a hang. */
const HEALTH_TIMEOUT_MS = 2000;
/** A specialised container is renamed after its function's instance this long after `init`. */
const RENAME_DELAY_MS = 200;

/** `docker logs` of a container without a TTY is multiplexed: [stream, 0, 0, 0, len u32 BE] + payload. */
export function demuxLogs(buf: Buffer, want: 'stdout' | 'stderr' | 'both' = 'both'): string {
  const out: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const stream = buf[i]!;
    const len = buf.readUInt32BE(i + 4);
    const payload = buf.subarray(i + 8, i + 8 + len);
    if (want === 'both' || (want === 'stdout' && stream === 1) || (want === 'stderr' && stream === 2)) out.push(payload);
    i += 8 + len;
  }
  // Not multiplexed after all (a TTY container): take it as is.
  if (i === 0 && buf.length > 0 && buf[0]! > 2) return buf.toString('utf8');
  return Buffer.concat(out).toString('utf8');
}

/** tini (and a shell) report "killed by signal N" as exit status 128 + N. */
function signalOf(code: number | null): string | null {
  if (code === null || code <= 128 || code > 128 + 64) return null;
  const n = code - 128;
  for (const [name, num] of Object.entries(os.constants.signals)) if (num === n) return name;
  return null;
}

export class ContainerDriver extends ShimDriver<ContainerInstance> {
  /** Container starts in flight at once: a few per core keep each one well within its timeout. */
  private readonly starts = new StartLimiter(Math.max(2, 2 * os.availableParallelism()));
  private readonly images: ContainerImages;
  private state: DriverHealth;
  private readonly monitor: NodeJS.Timeout;
  private probing = false;

  constructor(private readonly opts: ContainerDriverOptions) {
    // Containers run as 65534, and their secret files are given to that uid.
    super('container', { ...opts, instanceUid: NOBODY_UID });
    this.images = new ContainerImages({
      docker: opts.docker,
      images: opts.images,
      daemonId: opts.daemonId,
      logger: opts.logger,
      ...(opts.interpreterPaths ? { interpreterPaths: opts.interpreterPaths } : {}),
    });
    // The engine answered just before the driver was made (setup probes it first).
    this.state = { ok: true, detail: opts.engineDetail ?? 'docker engine' };
    void this.refreshHealth();
    this.monitor = setInterval(() => void this.refreshHealth(), opts.healthProbeMs ?? HEALTH_PROBE_MS);
    this.monitor.unref();
  }

  /** The engine's and the images' state, refreshed in the background: /health reads it, never waits. */
  health(): DriverHealth {
    if (this.closed) return { ok: false, detail: 'closed' };
    const h = this.state;
    return h.ok ? { ...h, detail: `${h.detail}, ${this.live.size} instances` } : h;
  }

  private async refreshHealth(): Promise<void> {
    if (this.probing || this.closed) return;
    this.probing = true;
    try {
      const engine = await this.probeEngine();
      const images = engine.ok ? await this.images.status(AbortSignal.timeout(HEALTH_TIMEOUT_MS)).catch(() => undefined) : undefined;
      if (this.closed) return;
      if (engine.ok !== this.state.ok) {
        if (engine.ok) this.opts.logger.info({ engine: engine.detail }, 'Docker engine answers again');
        else this.opts.logger.warn({ reason: engine.detail }, 'Docker engine stopped answering: container starts will fail until it is back');
      }
      this.state = images ? { ...engine, images } : engine;
    } finally {
      this.probing = false;
    }
  }

  private async probeEngine(): Promise<DriverHealth> {
    try {
      const signal = AbortSignal.timeout(HEALTH_TIMEOUT_MS);
      // The typings omit the options argument; dockerode honours abortSignal on both.
      const call = <T>(fn: (opts: object) => Promise<T>) => fn.call(this.opts.docker, { abortSignal: signal });
      await call(this.opts.docker.ping as (opts: object) => Promise<unknown>);
      const v = await call(this.opts.docker.version as (opts: object) => Promise<Docker.DockerVersion>);
      return { ok: true, detail: `docker ${v.Version} (API ${v.ApiVersion})` };
    } catch (e) {
      const why = (e as Error).name === 'AbortError' || (e as Error).name === 'TimeoutError' ? `no answer within ${HEALTH_TIMEOUT_MS} ms` : dockerMessage(e);
      return { ok: false, detail: `Docker engine not reachable: ${why}` };
    }
  }

  /** Makes sure the runtime's image is local (pulling it if needed) and knows its interpreter. */
  async prepare(runtime: RuntimeName): Promise<void> {
    await this.images.info(runtime);
  }

  /** A container's network is fixed when it is created: only network "none" fits a generic one. */
  protected fitsGeneric(spec: InstanceSpec): boolean {
    return super.fitsGeneric(spec) && spec.network !== 'bridge';
  }

  /** docker update of the limits that differ from a generic container's (128Mi, 1 CPU, 256 pids). */
  protected async applyLimits(inst: ContainerInstance, spec: InstanceSpec): Promise<void> {
    const update: Record<string, number> = {};
    if (spec.memoryBytes !== GENERIC_LIMITS.memoryBytes) Object.assign(update, { Memory: spec.memoryBytes, MemorySwap: spec.memoryBytes });
    if (spec.cpus !== GENERIC_LIMITS.cpus) update.NanoCpus = Math.round(spec.cpus * 1e9);
    if (spec.pidsLimit !== GENERIC_LIMITS.pidsLimit) update.PidsLimit = spec.pidsLimit;
    if (Object.keys(update).length > 0) await inst.updateLimits(update);
  }

  /**
   * Not awaited, and not started until the first call is well under way: building the engine
   * request alone took ~0.4 ms of the event loop, between `init_ok` and the first call's write.
   */
  protected specialised(inst: ContainerInstance, spec: InstanceSpec): void {
    setTimeout(() => {
      if (!inst.isGone) inst.renameInBackground(`faasd-${spec.instanceId}`);
    }, RENAME_DELAY_MS).unref();
  }

  /** Create and start a container and wait for its shim's `ready` (no `init` yet). */
  protected async launch(spec: LaunchSpec, signal?: AbortSignal): Promise<ContainerInstance> {
    const image = this.opts.images[spec.runtime];
    const info = await this.images.info(spec.runtime);
    // A start slot first (bounded parallel starts; nothing is set up while waiting for one),
    // held until the engine's work settles, even past the start's own timeout.
    const release = await this.starts.acquire();
    if (signal?.aborted || this.closed) {
      release();
      throw signal?.aborted ? signal.reason : new FaasError('INSTANCE_CRASHED', 'the container driver is closed');
    }
    const hostDir = path.join(this.opts.runRoot, spec.instanceId);
    let listener: ShimListener;
    try {
      await fs.mkdir(hostDir, { mode: 0o711 });
      // uid 65534 in the container needs only search permission to reach the socket.
      await fs.chmod(hostDir, 0o711);
      listener = await listenForShim(path.join(hostDir, 'shim.sock'));
    } catch (e) {
      release();
      await fs.rm(hostDir, { recursive: true, force: true }).catch(() => undefined);
      throw e;
    }
    const what = `starting a ${spec.runtime} container${spec.functionName ? ` for "${spec.functionName}"` : ''}`;
    const attempt = { abandoned: false, inst: null as ContainerInstance | null };
    const run = async (): Promise<ContainerInstance> => {
      let container: Docker.Container;
      try {
        container = await this.opts.docker.createContainer(this.createOptions(spec, image, info, hostDir));
      } catch (e) {
        if (statusCode(e) === 404) {
          this.images.forget(spec.runtime); // removed behind our back: the next prepare() pulls again
          throw new FaasError('DEPLOY_FAILED', `image ${image} for ${spec.runtime} functions is not available: ${dockerMessage(e)}`, { details: { image }, cause: e });
        }
        throw new FaasError('INSTANCE_CRASHED', `cannot create a container for "${spec.functionName}": ${dockerMessage(e)}`, { cause: e });
      }
      const inst: ContainerInstance = new ContainerInstance(
        { id: spec.instanceId, runtime: spec.runtime, codeDirInside: CONTAINER_PATHS.codeDir, listener, hostDir, logger: this.opts.logger, forget: () => this.live.delete(inst) },
        container,
      );
      this.live.add(inst);
      attempt.inst = inst;
      if (attempt.abandoned) throw new Error('abandoned');
      try {
        await container.start();
      } catch (e) {
        throw new FaasError('INSTANCE_CRASHED', `cannot start the container of "${spec.functionName}": ${dockerMessage(e)}`, { cause: e });
      }
      inst.watch();
      if (attempt.abandoned) throw new Error('abandoned');
      await inst.connect(signal);
      return inst;
    };
    const running = run();
    running.then(release, release);
    try {
      return await withStartTimeout(running, this.opts.startTimeoutMs, what);
    } catch (e) {
      attempt.abandoned = true;
      const inst = attempt.inst;
      if (!inst) {
        // No container yet (create failed, or is still in flight: remove it when it lands).
        void running.catch(async () => {
          await attempt.inst?.kill();
          await attempt.inst?.stop();
        });
        await listener.close().catch(() => undefined);
        await fs.rm(hostDir, { recursive: true, force: true }).catch(() => undefined);
        throw e;
      }
      running.catch(() => undefined);
      const exit = await inst.kill();
      await inst.stop();
      throw startError(spec.functionName || spec.runtime, e, exit);
    }
  }

  private createOptions(spec: LaunchSpec, image: string, info: ImageInfo, hostDir: string): Docker.ContainerCreateOptions {
    const shimDir = path.join(this.opts.runtimesDir, spec.runtime);
    const hostConfig: Docker.HostConfig = {
      // The only mounts, all read-only: the socket directory (connect() works on a read-only
      // mount), the shim, the function's code, its secrets (at both paths). `Mounts` rather
      // than `Binds`: any path is fine and a missing source is an error instead of an empty dir
      // made by root.
      Mounts: [
        { Type: 'bind', Source: hostDir, Target: CONTAINER_PATHS.instanceDir, ReadOnly: true },
        { Type: 'bind', Source: shimDir, Target: CONTAINER_PATHS.shimDir, ReadOnly: true },
        { Type: 'bind', Source: spec.codeDir, Target: CONTAINER_PATHS.codeDir, ReadOnly: true },
        ...SECRETS_MOUNTS.map((target) => ({ Type: 'bind' as const, Source: spec.secretsDir, Target: target, ReadOnly: true })),
      ],
      NetworkMode: spec.network === 'bridge' ? 'bridge' : 'none',
      ReadonlyRootfs: true,
      Tmpfs: { '/tmp': TMPFS_TMP },
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      IpcMode: 'private',
      // tini as PID 1: forwards SIGTERM (node/python as PID 1 ignore it) and reaps zombies.
      Init: true,
      AutoRemove: false,
      RestartPolicy: { Name: 'no' },
      // Same as process mode: no core dumps, a bounded number of open files.
      Ulimits: [
        { Name: 'core', Soft: 0, Hard: 0 },
        { Name: 'nofile', Soft: 1024, Hard: 1024 },
      ],
      // Start-up output only (invocation output is captured by the shim); never unbounded.
      LogConfig: { Type: 'json-file', Config: { 'max-size': '1m', 'max-file': '1' } },
    };
    if (spec.pidsLimit > 0) hostConfig.PidsLimit = spec.pidsLimit;
    if (spec.memoryBytes > 0) {
      hostConfig.Memory = spec.memoryBytes;
      hostConfig.MemorySwap = spec.memoryBytes; // = Memory: no swap on top
    }
    if (spec.cpus > 0) hostConfig.NanoCpus = Math.round(spec.cpus * 1e9);
    return {
      name: `faasd-${spec.instanceId}`,
      Image: image,
      // Exec form, absolute paths: the images need not have a shell.
      Entrypoint: [info.interpreter],
      Cmd: [path.posix.join(CONTAINER_PATHS.shimDir, SHIM_FILE[spec.runtime])],
      Env: Object.entries({ ...shimEnvironment(spec.runtime, CONTAINER_PATHS.socket, info.path), [SECRETS_DIR_ENV]: SECRETS_MOUNTS[0] }).map(([k, v]) => `${k}=${v}`),
      User: NOBODY,
      WorkingDir: '/tmp',
      Hostname: (spec.functionName || 'faas').slice(0, 63),
      Labels: {
        [LABELS.managed]: 'true',
        [LABELS.fn]: spec.functionName,
        [LABELS.instance]: spec.instanceId,
        [LABELS.daemon]: this.opts.daemonId,
        [LABELS.version]: String(spec.version),
        // Generic pre-warmed containers: labels are fixed at create, before any function.
        ...(spec.functionName ? {} : { 'faasd.prewarmed': 'true' }),
      },
      StopTimeout: STOP_TIMEOUT_S,
      AttachStdin: false,
      AttachStdout: false,
      AttachStderr: false,
      Tty: false,
      OpenStdin: false,
      HostConfig: hostConfig,
    };
  }

  async close(): Promise<void> {
    clearInterval(this.monitor);
    await super.close();
  }
}

/** The first cgroup layout that has the container (v1 cgroupfs, v1 systemd, v2 systemd, v2 cgroupfs). */
async function findCgroupFiles(id: string): Promise<{ memory: string; cpu: string; cpuUnit: 'ns' | 'usec' } | null> {
  const base = '/sys/fs/cgroup';
  const layouts = [
    { memory: `${base}/memory/docker/${id}/memory.usage_in_bytes`, cpu: `${base}/cpuacct/docker/${id}/cpuacct.usage`, cpuUnit: 'ns' as const },
    { memory: `${base}/memory/docker/${id}/memory.usage_in_bytes`, cpu: `${base}/cpu,cpuacct/docker/${id}/cpuacct.usage`, cpuUnit: 'ns' as const },
    { memory: `${base}/memory/system.slice/docker-${id}.scope/memory.usage_in_bytes`, cpu: `${base}/cpuacct/system.slice/docker-${id}.scope/cpuacct.usage`, cpuUnit: 'ns' as const },
    { memory: `${base}/memory/system.slice/docker-${id}.scope/memory.usage_in_bytes`, cpu: `${base}/cpu,cpuacct/system.slice/docker-${id}.scope/cpuacct.usage`, cpuUnit: 'ns' as const },
    { memory: `${base}/system.slice/docker-${id}.scope/memory.current`, cpu: `${base}/system.slice/docker-${id}.scope/cpu.stat`, cpuUnit: 'usec' as const },
    { memory: `${base}/docker/${id}/memory.current`, cpu: `${base}/docker/${id}/cpu.stat`, cpuUnit: 'usec' as const },
  ];
  for (const l of layouts) {
    try {
      await Promise.all([fs.access(l.memory), fs.access(l.cpu)]);
      return l;
    } catch {
      /* next layout */
    }
  }
  return null;
}

class ContainerInstance extends InstanceBase {
  readonly containerId: string;
  private watching = false;
  private observing: Promise<void> | null = null;
  private cgroupFiles: Awaited<ReturnType<typeof findCgroupFiles>> = null;

  constructor(
    parts: InstanceParts,
    private readonly container: Docker.Container,
  ) {
    super(parts);
    this.containerId = container.id;
  }

  /** Follows the container to its exit (call once it was started). */
  watch(): void {
    if (this.watching) return;
    this.watching = true;
    void (async () => {
      let code: number | null = null;
      for (let attempt = 0; ; attempt++) {
        try {
          const res = (await this.container.wait()) as { StatusCode?: number };
          code = typeof res?.StatusCode === 'number' ? res.StatusCode : null;
          break;
        } catch (e) {
          if (statusCode(e) === 404) break; // removed: gone
          // The wait connection broke (engine restart?): only give up if the container is not running.
          const running = await this.container.inspect().then(
            (i) => i.State.Running,
            (ie) => (statusCode(ie) === 404 ? false : null),
          );
          if (running === false || attempt >= 20) break;
          await new Promise((r) => setTimeout(r, 250));
        }
      }
      this.exitSeen = true;
      await this.observeExit(code);
    })();
  }

  /** Why it ended: inspect (OOMKilled, ExitCode) and the stderr tail, then report the exit. */
  private observeExit(waitCode: number | null): Promise<void> {
    this.observing ??= (async () => {
      let code = waitCode;
      let oom = false;
      let stderrTail = '';
      for (let attempt = 0; attempt < 4; attempt++) {
        try {
          const info = await this.container.inspect();
          oom = info.State.OOMKilled === true;
          if (code === null && !info.State.Running && typeof info.State.ExitCode === 'number') code = info.State.ExitCode;
        } catch {
          break; // removed: what we have is all there is
        }
        // The engine records the OOM event and the exit separately; a SIGKILL exit that we did
        // not cause gets a short grace for OOMKilled to show up.
        if (oom || code !== 137 || this.killedByUs || this.stopping) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      try {
        const buf = (await this.container.logs({ stdout: false, stderr: true, follow: false, tail: LOG_TAIL_LINES })) as unknown as Buffer;
        stderrTail = demuxLogs(Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf)), 'stderr').slice(-STDERR_TAIL_BYTES);
      } catch {
        /* removed already */
      }
      if (stderrTail && this.logger.isLevelEnabled('debug')) this.logger.debug({ instance: this.id, stderr: stderrTail.trimEnd() }, 'instance stderr');
      this.reportExit(oom, code, signalOf(code), stderrTail);
    })();
    return this.observing;
  }

  /** docker update of a running container's limits (memory, CPU, pids). */
  async updateLimits(update: Record<string, number>): Promise<void> {
    await this.container.update(update);
  }

  /**
   * After specialisation: `docker ps` shows the function's instance id (faasd-<id>). Docker
   * cannot change a running container's labels, so faasd.function stays empty and
   * faasd.prewarmed says why; /instances names the function.
   */
  renameInBackground(name: string): void {
    this.container.rename({ name }).catch((e: unknown) => this.logger.debug({ instance: this.id, err: dockerMessage(e) }, 'specialised container not renamed'));
  }

  protected async killNow(): Promise<void> {
    try {
      await this.container.kill({ signal: 'SIGKILL' });
    } catch {
      /* not running (never started, or already gone) */
    }
    // Normally the wait returns within ~70 ms; never hang on an engine that lost it.
    if (!this.watching || !(await settlesWithin(this.exited, 5000))) await this.observeExit(null);
  }

  protected async release(): Promise<void> {
    try {
      await this.container.remove({ force: true, v: true });
    } catch (e) {
      if (statusCode(e) !== 404) this.logger.warn({ instance: this.id, container: this.containerId, err: dockerMessage(e) }, 'container not removed');
    }
    // The wait returns once the container is gone; report the end ourselves if the engine never says.
    if (!this.watching) await this.observeExit(null);
    if (!(await settlesWithin(this.exited, 2000))) this.reportExit(false, null, null, '');
  }

  async usage(): Promise<InstanceUsage | null> {
    if (this.isGone) return null;
    try {
      this.cgroupFiles ??= await findCgroupFiles(this.containerId);
      const files = this.cgroupFiles;
      if (!files) return null;
      const [mem, cpu] = await Promise.all([fs.readFile(files.memory, 'utf8'), fs.readFile(files.cpu, 'utf8')]);
      const memoryBytes = Number(mem.trim());
      let cpuSeconds: number;
      if (files.cpuUnit === 'ns') cpuSeconds = Number(cpu.trim()) / 1e9;
      else cpuSeconds = Number(/^usage_usec (\d+)/m.exec(cpu)?.[1] ?? NaN) / 1e6;
      if (!Number.isFinite(memoryBytes) || !Number.isFinite(cpuSeconds)) return null;
      return { cpuSeconds, memoryBytes };
    } catch {
      // The cgroup directory disappears when the container stops.
      this.cgroupFiles = null;
      return null;
    }
  }
}

/**
 * Force-removes the containers a previous run of this daemon left behind: those labelled
 * faasd.managed=true AND faasd.daemon=<daemonId>. Never touches any other container.
 */
export async function removeOrphans(docker: Docker, daemonId: string, logger: Logger): Promise<number> {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`${LABELS.managed}=true`, `${LABELS.daemon}=${daemonId}`] },
  });
  let removed = 0;
  for (const c of list) {
    // The engine filtered already; check again, this deletes things.
    if (c.Labels?.[LABELS.managed] !== 'true' || c.Labels?.[LABELS.daemon] !== daemonId) continue;
    try {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
      removed += 1;
      logger.debug({ container: c.Id, function: c.Labels[LABELS.fn], instance: c.Labels[LABELS.instance] }, 'removed orphan container');
    } catch (e) {
      if (statusCode(e) !== 404) logger.warn({ container: c.Id, err: dockerMessage(e) }, 'orphan container not removed');
    }
  }
  if (removed > 0) logger.info({ count: removed, daemon: daemonId }, 'removed containers left by a previous run');
  return removed;
}
