// Process mode: each instance is a shim in its own sandbox (launcher.ts) and cgroup
// (cgroups.ts), talking over a Unix socket in its own directory. The lifecycle is
// InstanceBase's; this file launches, kills (the whole cgroup and process group) and
// releases (the cgroup).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import pidusage from 'pidusage';
import type { DriverHealth, InstanceSpec, InstanceUsage, RuntimeName } from '../../driver.js';
import { InstanceBase, STDERR_TAIL_BYTES, settlesWithin, shimEnvironment, startError, type InstanceParts } from '../instance-base.js';
import { ShimDriver, type LaunchSpec, type ShimDriverOptions } from '../shim-driver.js';
import type { CgroupLimits, CgroupManager, InstanceCgroup } from './cgroups.js';
import type { CodeChecker } from './code-check.js';
import { NOBODY, buildLaunchCommand, sandboxPaths, type IsolationLevel } from './launcher.js';
import { listenForShim, type ShimListener } from '../../protocol/shim-channel.js';
import { startOrDiscard, withStartTimeout } from '../instance-start.js';
import { SECRETS_DIR_ENV, SECRETS_MOUNTS } from '../secrets-dir.js';

export interface ProcessDriverOptions extends ShimDriverOptions {
  level: IsolationLevel;
  /** Required for strict and standard. */
  cgroups: CgroupManager | null;
  interpreters: Record<RuntimeName, string>;
  /** The repo's runtimes/ directory (runtimes/python/shim.py, runtimes/node/shim.js). */
  runtimesDir: string;
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

  constructor(private readonly opts: ProcessDriverOptions) {
    // At strict the function runs as nobody, and its secret files are given to that uid.
    super('process', opts.level === 'strict' ? { ...opts, instanceUid: NOBODY } : opts);
    if (opts.level !== 'none' && !opts.cgroups) throw new Error(`isolation level ${opts.level} needs cgroups`);
    this.shims = prepareShims(opts.runtimesDir, opts.runRoot, opts.interpreters.python);
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
      const [l, cg] = await Promise.allSettled([listenForShim(path.join(hostDir, 'shim.sock')), this.opts.level === 'none' ? Promise.resolve(null) : this.opts.cgroups!.create(id, limits)]);
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
    await super.close();
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
