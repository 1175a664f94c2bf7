// Process mode: each instance is a shim in its own sandbox (launcher.ts) and cgroup
// (cgroups.ts), talking over a Unix socket in its own directory. The lifecycle is
// InstanceBase's; this file launches, kills (the whole cgroup and process group) and
// releases (the cgroup).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pidusage from 'pidusage';
import type { DriverHealth, InstanceSpec, InstanceUsage, RuntimeName } from '../../driver.js';
import { GENERIC_LIMITS, InstanceBase, STDERR_TAIL_BYTES, settlesWithin, shimEnvironment, startError, type InstanceParts } from '../instance-base.js';
import { ShimDriver, type LaunchSpec, type ShimDriverOptions } from '../shim-driver.js';
import type { CgroupLimits, CgroupManager, InstanceCgroup } from './cgroups.js';
import type { CodeChecker } from './code-check.js';
import { NOBODY, buildLaunchCommand, sandboxPaths, type IsolationLevel } from './launcher.js';
import { listenForShim, type ShimListener } from '../../protocol/shim-channel.js';
import { startOrDiscard, withStartTimeout } from '../instance-start.js';
import { SECRETS_DIR_ENV, SECRETS_MOUNTS } from '../secrets-dir.js';
import { Spawner, isGone, localSpawn, type ChildHandle, type Stem } from './spawner.js';

export interface ProcessDriverOptions extends ShimDriverOptions {
  level: IsolationLevel;
  /** Required for strict and standard. */
  cgroups: CgroupManager | null;
  interpreters: Record<RuntimeName, string>;
  /** The repo's runtimes/ directory (runtimes/python/shim.py, runtimes/node/shim.js). */
  runtimesDir: string;
  /** The deploy-time code check, run in this driver's sandbox. */
  checker?: CodeChecker;
  /**
   * Start instances through a small spawner process (spawner.ts) instead of forking the
   * daemon. Default: yes, unless FAASD_PROCESS_SPAWNER=0 in the daemon's environment.
   */
  spawner?: boolean;
  /**
   * Keep one spare cgroup with a spawner stem already in it (spawner.ts: joining a cgroup
   * costs an RCU grace period). Default: yes with a spawner, unless FAASD_PROCESS_STEM=0.
   */
  stems?: boolean;
}

const SPARE_WAIT_MS = 1000;

/** A cgroup made ahead of need, with a stem process that has joined it and waits. */
interface Spare {
  cgroup: InstanceCgroup;
  stem: Stem;
}

interface ShimLaunch {
  /** Host directory bound (read-only) as the shim directory. */
  dir: string;
  /** Interpreter arguments before the shim file. */
  flags: string[];
  file: string;
}

/**
 * Python recompiles a script on every start (5-10 ms) and imports `site` (~3 ms): run the
 * shim from bytecode compiled once at boot, with -I -S (isolated, no site). -I ignores
 * PYTHON* variables, so -u and -B stand in for PYTHONUNBUFFERED / PYTHONDONTWRITEBYTECODE.
 * Measured here: spawn-to-ready 24-40 ms as a script, 16-21 ms this way.
 */
function prepareShims(runtimesDir: string, runRoot: string, python: string): Record<RuntimeName, ShimLaunch> {
  const node: ShimLaunch = { dir: path.join(runtimesDir, 'node'), flags: [], file: 'shim.js' };
  const src = path.join(runtimesDir, 'python', 'shim.py');
  const dir = path.join(runRoot, '.python-shim');
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    execFileSync(python, ['-I', '-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)', src, path.join(dir, 'shim.pyc')], {
      env: {},
      stdio: 'pipe',
      timeout: 30_000,
    });
    return { python: { dir, flags: ['-I', '-S', '-u', '-B'], file: 'shim.pyc' }, node };
  } catch {
    // Fall back to the plain script: slower to start, same behaviour.
    return { python: { dir: path.join(runtimesDir, 'python'), flags: [], file: 'shim.py' }, node };
  }
}
export class ProcessDriver extends ShimDriver<ProcessInstance> {
  private readonly shims: Record<RuntimeName, ShimLaunch>;
  /** Null: the daemon spawns instances itself. */
  readonly spawner: Spawner | null;
  private readonly useStems: boolean;
  private spare: Promise<Spare | null> | null = null;
  /** Spares that came too late for their start, being removed (close() waits for them). */
  private readonly lateSpares = new Set<Promise<void>>();

  constructor(private readonly opts: ProcessDriverOptions) {
    // At strict the function runs as nobody, and its secret files are given to that uid.
    super('process', opts.level === 'strict' ? { ...opts, instanceUid: NOBODY } : opts);
    if (opts.level !== 'none' && !opts.cgroups) throw new Error(`isolation level ${opts.level} needs cgroups`);
    this.shims = prepareShims(opts.runtimesDir, opts.runRoot, opts.interpreters.python);
    const useSpawner = opts.spawner ?? process.env.FAASD_PROCESS_SPAWNER !== '0';
    this.spawner = useSpawner ? Spawner.start(opts.interpreters.python, opts.logger) : null;
    this.useStems = !!this.spawner && opts.level !== 'none' && !!opts.cgroups && (opts.stems ?? process.env.FAASD_PROCESS_STEM !== '0');
    this.makeSpare();
  }

  /** Start making the next spare (one at a time; its cost is off every start's path). */
  private makeSpare(): void {
    if (!this.useStems || this.closed || this.spare || !this.spawner!.available) return;
    const spawner = this.spawner!;
    const cgroups = this.opts.cgroups!;
    this.spare = (async (): Promise<Spare | null> => {
      const limits = { memoryBytes: GENERIC_LIMITS.memoryBytes, cpus: GENERIC_LIMITS.cpus, pidsMax: GENERIC_LIMITS.pidsLimit };
      const cgroup = await cgroups.create(`stem-${randomBytes(6).toString('hex')}`, limits);
      try {
        return { cgroup, stem: await spawner.stem(cgroup.procsFiles) };
      } catch (err) {
        await cgroup.remove().catch(() => undefined);
        throw err;
      }
    })().catch((err: Error) => {
      this.opts.logger.debug({ err: err.message }, 'spare cgroup and stem not made');
      return null;
    });
  }

  /**
   * The spare, if there is one (waiting for it if it is still being made, up to SPARE_WAIT_MS:
   * a join takes one RCU grace period, ~15 ms), and start the next.
   */
  private async takeSpare(): Promise<Spare | null> {
    const p = this.spare;
    if (!p) return null;
    this.spare = null;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), SPARE_WAIT_MS);
    });
    const s = await Promise.race([p, late]);
    clearTimeout(timer);
    if (s === 'late') {
      // Start without it; it is dropped when it comes, and the next one made then.
      const dropped = p.then(async (sp) => {
        if (sp) {
          this.spawner!.drop(sp.stem);
          await sp.cgroup.remove().catch(() => undefined);
        }
        this.lateSpares.delete(dropped);
        this.makeSpare();
      });
      this.lateSpares.add(dropped);
      return null;
    }
    this.makeSpare();
    if (s && !this.spawner!.available) {
      await s.cgroup.remove().catch(() => undefined);
      return null;
    }
    return s;
  }

  private async dropSpare(): Promise<void> {
    const p = this.spare;
    this.spare = null;
    const s = await p;
    if (!s) return;
    this.spawner?.drop(s.stem);
    await s.cgroup.remove().catch(() => undefined);
  }

  health(): DriverHealth {
    return { ok: !this.closed, detail: `isolation ${this.opts.level}${this.opts.cgroups ? `, cgroup ${this.opts.cgroups.version}` : ''}, ${this.live.size} instances` };
  }

  async prepare(): Promise<void> {
    /* interpreters were resolved at boot */
  }

  async checkCode(runtime: RuntimeName, codeDir: string, file: string, handler: string | null): Promise<void> {
    await this.opts.checker?.check(runtime, codeDir, file, handler);
  }

  /** A generic instance's cgroup gets the function's limits before any of its code runs. */
  protected async applyLimits(inst: ProcessInstance, spec: InstanceSpec): Promise<void> {
    inst.cgroup?.setLimits({ memoryBytes: spec.memoryBytes, cpus: spec.cpus, pidsMax: spec.pidsLimit });
  }

  /** Start a shim in its sandbox and cgroup and wait for `ready` (no `init` yet). */
  protected async launch(spec: LaunchSpec, signal?: AbortSignal): Promise<ProcessInstance> {
    const { instanceId: id, runtime, codeDir } = spec;
    const limits: CgroupLimits = { memoryBytes: spec.memoryBytes, cpus: spec.cpus, pidsMax: spec.pidsLimit };
    const hostname = spec.functionName || 'faas';
    const hostDir = path.join(this.opts.runRoot, id);
    const T: number[] = [performance.now()]; // step timings, logged at debug
    await fs.mkdir(hostDir, { mode: 0o700 });
    const cleanup: (() => Promise<unknown>)[] = [() => fs.rm(hostDir, { recursive: true, force: true })];
    let listener: ShimListener | null = null;
    let cgroup: InstanceCgroup | null = null;
    let child: ChildHandle | null = null;
    try {
      // The sandboxed shim (gid 65534) may reach the socket in its directory, nothing more: the
      // directory stays root's (nobody inside can chmod it) and is bound read-only.
      if (this.opts.level === 'strict') {
        await fs.chown(hostDir, 0, NOBODY);
        await fs.chmod(hostDir, 0o710);
      }
      // Socket and cgroup are independent: set them up side by side (cgroup v1 is 4 hierarchies).
      // A spare cgroup (with its stem) gets this start's limits before anything runs in it.
      T.push(performance.now());
      const spare = this.useStems ? await this.takeSpare() : null;
      const makeCgroup = async (): Promise<InstanceCgroup | null> => {
        if (this.opts.level === 'none') return null;
        if (!spare) return this.opts.cgroups!.create(id, limits);
        try {
          spare.cgroup.setLimits(limits);
        } catch (err) {
          this.spawner!.drop(spare.stem);
          await spare.cgroup.remove().catch(() => undefined);
          throw err;
        }
        return spare.cgroup;
      };
      const [l, cg] = await Promise.allSettled([listenForShim(path.join(hostDir, 'shim.sock')), makeCgroup()]);
      if (l.status === 'fulfilled') cleanup.push((listener = l.value).close);
      if (cg.status === 'fulfilled' && cg.value) cleanup.push((cgroup = cg.value).remove.bind(cg.value));
      if (l.status === 'rejected') throw l.reason;
      if (cg.status === 'rejected') throw cg.reason;
      const shim = this.shims[runtime];
      const inside = sandboxPaths(this.opts.level, { shimDir: shim.dir, codeDir, instanceDir: hostDir });
      const launch = buildLaunchCommand({
        level: this.opts.level,
        interpreter: this.opts.interpreters[runtime],
        args: [...shim.flags, path.join(inside.shimDir, shim.file)],
        shimDir: shim.dir,
        codeDir,
        instanceDir: hostDir,
        secretsDir: spec.secretsDir,
        ...(cgroup ? { cgroup } : {}),
        env: {
          ...shimEnvironment(runtime, path.join(inside.instanceDir, 'shim.sock'), '/usr/local/bin:/usr/bin:/bin'),
          // Without a mount namespace (standard, none) the secrets stay where they are on the host.
          [SECRETS_DIR_ENV]: this.opts.level === 'strict' ? SECRETS_MOUNTS[0] : spec.secretsDir,
        },
        uid: NOBODY,
        gid: NOBODY,
        hostname: hostname.slice(0, 63),
      });
      const how = { env: launch.env, cwd: launch.cwd };
      T.push(performance.now());
      if (spare && launch.exec) {
        // The stem execs while we go on to wait for the shim; a failed exec arrives as the
        // child's 'error', as a failed spawn does. A stem already gone (with the spawner)
        // leaves its cgroup to the trampoline.
        try {
          child = this.spawner!.start(spare.stem, { ...launch.exec, cwd: launch.cwd });
        } catch (err) {
          if (!isGone(err)) throw err;
        }
      }
      child ??= this.spawner ? await this.spawner.spawn(launch.command, launch.args, how) : localSpawn(launch.command, launch.args, how);
      T.push(performance.now());
      const inst: ProcessInstance = new ProcessInstance(
        { id, runtime, codeDirInside: inside.codeDir, listener: listener!, hostDir, logger: this.opts.logger, forget: () => this.live.delete(inst) },
        child,
        cgroup,
      );
      cleanup.length = 0; // the instance owns them now
      this.live.add(inst);
      const r = await startOrDiscard(
        inst,
        () => withStartTimeout(inst.connect(signal), this.opts.startTimeoutMs, `starting a ${runtime} instance`),
        (e, exit) => startError(hostname, e, exit),
      );
      T.push(performance.now());
      if (this.opts.logger.isLevelEnabled('debug')) {
        // ms per step: directory, socket + cgroup (or the spare's limits), the spawn or the stem's exec, to `ready`.
        const ms = T.slice(1).map((t, i) => +(t - T[i]!).toFixed(2));
        this.opts.logger.debug({ instance: id, runtime, stem: !!spare, steps_ms: ms }, 'process start timings');
      }
      return r;
    } catch (e) {
      if (child && child.exitCode === null && child.pid) {
        try {
          process.kill(-child.pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      for (const c of cleanup.reverse()) await c().catch(() => undefined);
      throw e;
    }
  }

  async close(): Promise<void> {
    await super.close();
    await this.dropSpare();
    await Promise.all(this.lateSpares);
    await this.spawner?.close();
    await this.opts.cgroups?.close();
  }
}

class ProcessInstance extends InstanceBase {
  readonly pid: number | undefined;

  constructor(
    parts: InstanceParts,
    private readonly child: ChildHandle,
    readonly cgroup: InstanceCgroup | null,
  ) {
    super(parts);
    const logger = parts.logger;
    this.pid = child.pid;
    let stderrTail = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderrTail = (stderrTail + d.toString()).slice(-STDERR_TAIL_BYTES);
      if (logger.isLevelEnabled('debug')) logger.debug({ instance: this.id, stderr: d.toString().trimEnd() }, 'instance stderr');
    });
    child.stdout!.on('data', (d: Buffer) => {
      if (logger.isLevelEnabled('debug')) logger.debug({ instance: this.id, stdout: d.toString().trimEnd() }, 'instance stdout');
    });
    const done = async (code: number | null, signal: NodeJS.Signals | null) => {
      this.exitSeen = true;
      // OOM first: the kernel's kill looks like any SIGKILL from outside.
      const oom = this.cgroup ? await this.cgroup.oomKilled().catch(() => false) : false;
      this.reportExit(oom, code, signal, stderrTail);
    };
    child.once('exit', (code, signal) => void done(code, signal));
    child.once('error', (err) => {
      stderrTail += `\nspawn failed: ${err.message}`;
      void done(null, null);
    });
  }

  protected async killNow(): Promise<void> {
    if (this.cgroup) await this.cgroup.killAll().catch(() => undefined);
    try {
      // The process group: the trampoline/bwrap and everything under it.
      if (this.child.pid) process.kill(-this.child.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }

  protected async release(): Promise<void> {
    // The shim exits on EOF of its socket; give it a moment, then kill.
    if (!(await settlesWithin(this.exited, 500))) {
      await this.killNow();
      await this.exited;
    }
    if (this.cgroup) await this.cgroup.remove().catch((e) => this.logger.warn({ instance: this.id, err: (e as Error).message }, 'cgroup not removed'));
  }

  async usage(): Promise<InstanceUsage | null> {
    if (this.cgroup) return this.cgroup.usage().catch(() => null);
    // Isolation "none" has no cgroup: sample the process itself.
    if (!this.pid) return null;
    try {
      const s = await pidusage(this.pid);
      return { cpuSeconds: s.ctime / 1000, memoryBytes: s.memory };
    } catch {
      return null;
    }
  }
}
