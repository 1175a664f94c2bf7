// Process mode: each instance is a shim in its own sandbox (launcher.ts) and cgroup
// (cgroups.ts), talking over a Unix socket in its own directory. The lifecycle is
// InstanceBase's; this file launches, kills (the whole cgroup and process group) and
// releases (the cgroup).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pidusage from 'pidusage';
import type { Logger } from 'pino';
import { FaasError } from '../../../errors.js';
import type { Driver, DriverHealth, InstanceSpec, InstanceUsage, RunningInstance, RuntimeName } from '../../driver.js';
import { GenericPool, copyFunctionFiles, startInCodeSlot, startPreferringPrewarmed } from '../generic-pool.js';
import { GENERIC_LIMITS, InstanceBase, STDERR_TAIL_BYTES, settlesWithin, shimEnvironment, startError, type InstanceParts } from '../instance-base.js';
import type { CgroupLimits, CgroupManager, InstanceCgroup } from './cgroups.js';
import type { CodeChecker } from './code-check.js';
import { NOBODY, buildLaunchCommand, sandboxPaths, type IsolationLevel } from './launcher.js';
import { listenForShim, type ShimListener } from '../../protocol/shim-channel.js';
import { startOrDiscard, withStartTimeout } from '../instance-start.js';

export interface ProcessDriverOptions {
  level: IsolationLevel;
  /** Host directory for per-instance directories (sockets). */
  runRoot: string;
  /** Required for strict and standard. */
  cgroups: CgroupManager | null;
  interpreters: Record<RuntimeName, string>;
  /** The repo's runtimes/ directory (runtimes/python/shim.py, runtimes/node/shim.js). */
  runtimesDir: string;
  startTimeoutMs: number;
  logger: Logger;
  /** Generic instances kept ready per runtime (0 = none). */
  prewarm?: Record<RuntimeName, number>;
  /** The deploy-time code check, run in this driver's sandbox. */
  checker?: CodeChecker;
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
    execFileSync(python, ['-I', '-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)', src, path.join(dir, 'shim.pyc')], { env: {}, stdio: 'pipe', timeout: 30_000 });
    return { python: { dir, flags: ['-I', '-S', '-u', '-B'], file: 'shim.pyc' }, node };
  } catch {
    // Fall back to the plain script: slower to start, same behaviour.
    return { python: { dir: path.join(runtimesDir, 'python'), flags: [], file: 'shim.py' }, node };
  }
}
export class ProcessDriver implements Driver {
  readonly mode = 'process';
  private readonly live = new Set<ProcessInstance>();
  private readonly shims: Record<RuntimeName, ShimLaunch>;
  private readonly generic: GenericPool<ProcessInstance>;
  private closed = false;

  constructor(private readonly opts: ProcessDriverOptions) {
    if (opts.level !== 'none' && !opts.cgroups) throw new Error(`isolation level ${opts.level} needs cgroups`);
    this.shims = prepareShims(opts.runtimesDir, opts.runRoot, opts.interpreters.python);
    this.generic = new GenericPool(opts.prewarm ?? { python: 0, node: 0 }, (rt) => this.startGeneric(rt), opts.logger, 'process');
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

  /** Driver start: a pre-warmed generic instance when one fits, else a full cold start. */
  async start(spec: InstanceSpec, signal?: AbortSignal): Promise<RunningInstance> {
    if (this.closed) throw new FaasError('DRAINING', 'faasd is shutting down');
    return startPreferringPrewarmed(this.generic, spec, (g, s) => this.specialise(g, s), () => this.coldStart(spec, signal), this.opts.logger);
  }

  private async coldStart(spec: InstanceSpec, signal?: AbortSignal): Promise<RunningInstance> {
    const inst = await this.launch(spec.instanceId, spec.runtime, spec.codeDir, { memoryBytes: spec.memoryBytes, cpus: spec.cpus, pidsMax: spec.pidsLimit }, spec.functionName, signal);
    return startOrDiscard(
      inst,
      () => withStartTimeout(inst.initialise(spec), this.opts.startTimeoutMs, `starting an instance of "${spec.functionName}"`),
      (e, exit) => startError(spec.functionName, e, exit),
    );
  }

  /** Fill the pre-warmed pools (after boot, so they do not slow it down). */
  startPrewarming(): void {
    this.generic.fill();
  }

  prewarmed(runtime: RuntimeName): number {
    return this.generic.size(runtime);
  }

  /**
   * A generic instance: started, connected, ready, no function. Its /function is an empty,
   * root-owned directory of its own, bound read-only; its cgroup starts with the default
   * function limits and gets the function's own in specialise(), before any of its code runs.
   */
  private startGeneric(runtime: RuntimeName): Promise<ProcessInstance> {
    // Created with the default function limits, so most specialisations write nothing.
    return startInCodeSlot(this.opts.runRoot, runtime, (id, slot) => this.launch(id, runtime, slot, { memoryBytes: GENERIC_LIMITS.memoryBytes, cpus: GENERIC_LIMITS.cpus, pidsMax: GENERIC_LIMITS.pidsLimit }, 'faas'));
  }

  /** Give a generic instance its function: code, limits, environment, then init. */
  private specialise(inst: ProcessInstance, spec: InstanceSpec): Promise<RunningInstance> {
    return startOrDiscard(inst, async () => {
      // The function's limits, then its files copied into the instance's read-only code slot:
      // a pre-warmable function has no dependencies, so its directory is a few flat files.
      inst.cgroup?.setLimits({ memoryBytes: spec.memoryBytes, cpus: spec.cpus, pidsMax: spec.pidsLimit });
      await copyFunctionFiles(spec.codeDir, inst.codeSlot!);
      inst.id = spec.instanceId;
      inst.startKind = 'prewarmed';
      await withStartTimeout(inst.initialise(spec), this.opts.startTimeoutMs, `initialising a pre-warmed instance of "${spec.functionName}"`);
    });
  }


  /** Start a shim in its sandbox and cgroup and wait for `ready` (no `init` yet). */
  private async launch(id: string, runtime: RuntimeName, codeDir: string, limits: CgroupLimits, hostname: string, signal?: AbortSignal): Promise<ProcessInstance> {
    const hostDir = path.join(this.opts.runRoot, id);
    await fs.mkdir(hostDir, { mode: 0o700 });
    const cleanup: (() => Promise<unknown>)[] = [() => fs.rm(hostDir, { recursive: true, force: true })];
    let listener: ShimListener | null = null;
    let cgroup: InstanceCgroup | null = null;
    let child: ChildProcess | null = null;
    try {
      // The sandboxed shim (gid 65534) may reach the socket in its directory, nothing more: the
      // directory stays root's (nobody inside can chmod it) and is bound read-only.
      if (this.opts.level === 'strict') {
        await fs.chown(hostDir, 0, NOBODY);
        await fs.chmod(hostDir, 0o710);
      }
      // Socket and cgroup are independent: set them up side by side (cgroup v1 is 4 hierarchies).
      const [l, cg] = await Promise.allSettled([
        listenForShim(path.join(hostDir, 'shim.sock')),
        this.opts.level === 'none' ? Promise.resolve(null) : this.opts.cgroups!.create(id, limits),
      ]);
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
        ...(cgroup ? { cgroup } : {}),
        env: shimEnvironment(runtime, path.join(inside.instanceDir, 'shim.sock'), '/usr/local/bin:/usr/bin:/bin'),
        uid: NOBODY,
        gid: NOBODY,
        hostname: hostname.slice(0, 63),
      });
      child = spawn(launch.command, launch.args, { env: launch.env, cwd: launch.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      const inst: ProcessInstance = new ProcessInstance(
        { id, runtime, codeDirInside: inside.codeDir, listener: listener!, hostDir, logger: this.opts.logger, forget: () => this.live.delete(inst) },
        child,
        cgroup,
      );
      cleanup.length = 0; // the instance owns them now
      this.live.add(inst);
      return await startOrDiscard(
        inst,
        () => withStartTimeout(inst.connect(signal), this.opts.startTimeoutMs, `starting a ${runtime} instance`),
        (e, exit) => startError(hostname, e, exit),
      );
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
    this.closed = true;
    await this.generic.close();
    await Promise.all([...this.live].map((i) => i.stop()));
    await this.opts.cgroups?.close();
  }
}


class ProcessInstance extends InstanceBase {
  readonly pid: number | undefined;

  constructor(
    parts: InstanceParts,
    private readonly child: ChildProcess,
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
