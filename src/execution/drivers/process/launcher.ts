// Builds the command line that starts one shim at a given isolation level. No I/O on the
// start path beyond a one-time look at the host's root layout and each interpreter's path.
//
// strict = bubblewrap + setpriv. bwrap builds the sandbox's root from nothing: a tmpfs with
// read-only binds of /usr (and /lib*, /bin, /sbin, as links or binds like the host has them),
// a fresh /proc for the new PID namespace, a minimal /dev, a private /tmp, exactly three of
// our directories, and the instance's own secrets directory (at /var/faasd/secrets and
// /var/openfaas/secrets, nothing else of /var). /etc, /root, /home, the host's /var, the
// daemon's config and registry and every other function are invisible because they are never mounted, which is stronger (and far
// less of our own code) than `unshare` plus hand-written mounts that hide things one by one
// in a copy of the host's tree, where anything we forget stays visible. Cost, measured on a
// busy 2-core CI box: +9..13 ms median per start over a plain `python3 -c pass` (~22 ms);
// bwrap's namespaces and mounts are ~6 ms of it, the new network namespace ~1 ms.
//
// bwrap cannot change uid without a user namespace, and a user namespace created by root
// would map the sandbox uid back to host uid 0, so setpriv drops to an unprivileged uid
// inside, after the mounts.
//
// Capabilities: bwrap running as real root keeps the full bounding set, and setpriv drops
// the bounding set only when it holds CAP_SETPCAP (util-linux 2.38 / libcap-ng skip it
// silently otherwise: measured CapBnd 000001fffeffffff with exit status 0). So bwrap keeps
// exactly SETUID, SETGID and SETPCAP for setpriv, which then sets no_new_privs, clears
// groups, inheritable, ambient and bounding sets, and changes uid (clearing the rest).
//
// Joining the cgroup: a /bin/sh trampoline writes its own pid ($$) into every cgroup.procs
// file and then execs the rest, so everything the instance ever runs is born inside the
// cgroup (no window in which a fork escapes the limits). dash costs well under 1 ms; Node's
// spawn offers no CLONE_INTO_CGROUP. The spawner's stems (spawner.ts) do the same work in
// another order: join first (ahead of the start), then set the same rlimits and exec `exec`.
//
// The environment: bwrap --clearenv + --setenv, so nothing of the daemon's leaks. Values end
// up in bwrap's argv, which any host user can read in /proc/<pid>/cmdline: per
// docs/protocol.md the process environment holds only FAAS_SOCKET, PATH, HOME, LANG and
// runtime switches, never a function's own (possibly secret) variables, which the shim gets
// in the `init` message. bwrap always sets PWD after --clearenv, so `env -u PWD` strips it.
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { FaasError } from '../../../errors.js';
import { SECRETS_MOUNTS } from '../secrets-dir.js';
import type { InstanceCgroup } from './cgroups.js';

export type IsolationLevel = 'strict' | 'standard' | 'none';

export interface LaunchSpec {
  level: IsolationLevel;
  /** Host absolute path, e.g. /usr/bin/python3 or /usr/bin/node. */
  interpreter: string;
  /** Arguments as seen by the shim: sandbox paths for strict, host paths otherwise (see sandboxPaths). */
  args: string[];
  /** Host dir with the runtime shim; strict: read-only at /opt/faas/runtime. */
  shimDir: string;
  /** Host dir of the function version; strict: read-only at /function. */
  codeDir: string;
  /**
   * Host dir holding the protocol socket; strict: read-only at /run/faas (connecting to a
   * socket needs no write access to its directory). Must be traversable by uid/gid.
   */
  instanceDir: string;
  /**
   * Host dir of the instance's secret files (drivers/secrets-dir.ts); strict: read-only at
   * /var/faasd/secrets and /var/openfaas/secrets. Other levels have no mount namespace: the
   * shim finds it through FAASD_SECRETS_DIR (set by the caller).
   */
  secretsDir?: string;
  /** Joined before the function's code runs (ignored at level none). */
  cgroup?: InstanceCgroup;
  /** The complete environment the shim gets. */
  env: Record<string, string>;
  /** strict: the unprivileged ids the shim runs as (65534 = nobody). */
  uid: number;
  gid: number;
  hostname?: string;
}

export interface SandboxPaths {
  shimDir: string;
  codeDir: string;
  instanceDir: string;
}

export interface LaunchCommand {
  command: string;
  args: string[];
  /** The spawn's environment (for strict it is empty; bwrap sets the sandbox's). */
  env: Record<string, string>;
  /** The spawn's working directory on the host (the instance dir). */
  cwd: string;
  /** The three directories as the shim sees them. */
  paths: SandboxPaths;
  /**
   * strict and standard: what the trampoline execs once it has joined the cgroup and set the
   * rlimits, with the environment it passes on. A process that has joined the cgroup already
   * (the spawner's stem, spawner.ts) does the same in its place and execs this directly.
   */
  exec?: { command: string; args: string[]; env: Record<string, string> };
}

export const SANDBOX_PATHS: Readonly<SandboxPaths> = Object.freeze({
  shimDir: '/opt/faas/runtime',
  codeDir: '/function',
  instanceDir: '/run/faas',
});

// Debian/Ubuntu paths of the helpers; `checkSandboxTools` reports when one is missing.
export const BWRAP = '/usr/bin/bwrap';
export const SETPRIV = '/usr/bin/setpriv';
const SH = '/bin/sh';
const ENV = '/usr/bin/env';
export const NOBODY = 65534;

/** Where the shim finds its directories at this level, for building args and env. */
export function sandboxPaths(level: IsolationLevel, host: SandboxPaths): SandboxPaths {
  return level === 'strict' ? { ...SANDBOX_PATHS } : { shimDir: host.shimDir, codeDir: host.codeDir, instanceDir: host.instanceDir };
}

// $@ = procs files, "--", command...: join every cgroup, set rlimits, drop PWD (dash exports
// its own), exec. `for f` iterates over a copy of $@, so shifting inside is safe. No open
// file limit above 1024 (select()-era code and fd leaks stay contained), no core dumps (they
// would land in the instance's cwd and can hold request data).
const TRAMPOLINE = 'for f; do shift; [ "$f" = -- ] && break; echo $$ > "$f" || exit 125; done; ' + 'ulimit -c 0 && ulimit -n 1024 || exit 125; unset PWD; exec "$@"';

export function buildLaunchCommand(spec: LaunchSpec): LaunchCommand {
  checkEnv(spec.env);
  const host = { shimDir: spec.shimDir, codeDir: spec.codeDir, instanceDir: spec.instanceDir };
  const paths = sandboxPaths(spec.level, host);
  const cwd = spec.instanceDir;
  if (spec.level === 'none') {
    return { command: spec.interpreter, args: [...spec.args], env: { ...spec.env }, cwd, paths };
  }
  const procs = spec.cgroup?.procsFiles ?? [];
  const trampoline = (rest: string[]): string[] => ['-c', TRAMPOLINE, 'faasd-launch', ...procs, '--', ...rest];
  if (spec.level === 'standard') {
    const exec = { command: spec.interpreter, args: [...spec.args], env: { ...spec.env } };
    return { command: SH, args: trampoline([exec.command, ...exec.args]), env: { ...spec.env }, cwd, paths, exec };
  }
  if (spec.uid === 0 || spec.gid === 0) throw new FaasError('INTERNAL', 'strict isolation needs a non-root uid and gid');
  const inner = [
    SETPRIV,
    `--reuid=${spec.uid}`,
    `--regid=${spec.gid}`,
    '--clear-groups',
    '--no-new-privs',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--',
    ENV,
    '-u',
    'PWD',
    '--',
    spec.interpreter,
    ...spec.args,
  ];
  const exec = { command: BWRAP, args: [...bwrapArgs(spec), '--', ...inner], env: {} };
  return { command: SH, args: trampoline([exec.command, ...exec.args]), env: {}, cwd, paths, exec };
}

function bwrapArgs(spec: LaunchSpec): string[] {
  const a: string[] = [
    '--unshare-pid',
    '--unshare-ipc',
    '--unshare-uts',
    '--unshare-net',
    '--unshare-cgroup',
    '--die-with-parent',
    // A new session: the shim cannot push input into the daemon's terminal (TIOCSTI).
    '--new-session',
    ...rootLayout(),
    // Parents bwrap creates implicitly for a mount point are mode 0700 (seen with bwrap 0.8
    // as root), which the shim's uid could not traverse: create them explicitly (0755).
    '--dir',
    '/etc',
    '--dir',
    '/opt',
    '--dir',
    '/opt/faas',
    '--dir',
    '/run',
    // ld.so.cache only speeds up library lookup and names nothing secret.
    '--ro-bind-try',
    '/etc/ld.so.cache',
    '/etc/ld.so.cache',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    // bwrap's tmpfs defaults to 0755 root; the shim's uid must be able to write /tmp.
    '--perms',
    '1777',
    '--tmpfs',
    '/tmp',
    // POSIX shared memory and semaphores (Python multiprocessing) live here. Pages written to
    // either tmpfs are charged to the instance's memory cgroup, so they count against its limit.
    '--perms',
    '1777',
    '--tmpfs',
    '/dev/shm',
  ];
  for (const dir of interpreterDirs(spec.interpreter)) a.push('--ro-bind', dir, dir);
  a.push(
    '--ro-bind',
    spec.shimDir,
    SANDBOX_PATHS.shimDir,
    '--ro-bind',
    spec.codeDir,
    SANDBOX_PATHS.codeDir,
    // Read-only: nothing writable in the sandbox may be backed by the host's disk. The only
    // writable places are the tmpfs /tmp and /dev/shm, charged to the instance's memory cgroup.
    '--ro-bind',
    spec.instanceDir,
    SANDBOX_PATHS.instanceDir,
  );
  if (spec.secretsDir) {
    // /var holds nothing else: only these two mount points are made in the sandbox's tmpfs root.
    a.push('--dir', '/var', '--dir', '/var/faasd', '--dir', '/var/openfaas');
    for (const target of SECRETS_MOUNTS) a.push('--ro-bind', spec.secretsDir, target);
  }
  a.push('--hostname', spec.hostname ?? 'faas', '--clearenv');
  for (const [k, v] of Object.entries(spec.env)) a.push('--setenv', k, v);
  a.push('--chdir', '/tmp', '--cap-drop', 'ALL', '--cap-add', 'CAP_SETUID', '--cap-add', 'CAP_SETGID', '--cap-add', 'CAP_SETPCAP');
  return a;
}

// Keys the launcher owns, or that would act inside setpriv, which still runs as uid 0 with
// CAP_SETUID: the dynamic loader honours LD_* in every program it starts.
function checkEnv(env: Record<string, string>): void {
  for (const k of Object.keys(env)) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) || k === 'PWD' || k.startsWith('LD_') || k === 'GCONV_PATH') {
      throw new FaasError('INTERNAL', `launcher: environment variable "${k}" is not allowed`);
    }
  }
}

let layout: string[] | undefined;
/** /usr read-only, and /bin, /sbin, /lib* as symlinks (merged /usr) or binds, like the host. */
function rootLayout(): string[] {
  // The host's root layout does not change while the daemon runs: look once.
  if (layout) return layout;
  const out = ['--ro-bind', '/usr', '/usr'];
  for (const p of ['/bin', '/sbin', '/lib', '/lib64', '/lib32', '/libx32']) {
    try {
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(p), p);
      else if (st.isDirectory()) out.push('--ro-bind', p, p);
    } catch {
      // Absent on this host (e.g. /lib32).
    }
  }
  layout = out;
  return out;
}

const interpreterTrees = new Map<string, string[]>();
/** An interpreter outside /usr (/opt/python3.12/bin/python3) needs its install tree too. */
function interpreterDirs(interpreter: string): string[] {
  let dirs = interpreterTrees.get(interpreter);
  if (!dirs) interpreterTrees.set(interpreter, (dirs = findInterpreterDirs(interpreter)));
  return dirs;
}

function findInterpreterDirs(interpreter: string): string[] {
  let real: string;
  try {
    real = realpathSync(interpreter);
  } catch {
    return [];
  }
  const dirs = new Set<string>();
  for (const p of [interpreter, real]) {
    if (p.startsWith('/usr/')) continue;
    const bin = dirname(p);
    const prefix = dirname(bin);
    // <prefix>/bin/python3 needs <prefix>/lib; but never expose a top-level dir like /opt.
    const tree = bin.endsWith('/bin') && prefix.split('/').length > 2 && existsSync(`${prefix}/lib`) ? prefix : bin;
    dirs.add(tree);
  }
  return [...dirs];
}

// Paths that are version-manager shims or per-user installs: invisible (or unreadable as
// 65534) inside the sandbox, and a pyenv/nvm shim re-resolves the interpreter from $HOME.
const MANAGED = /^\/(root|home)\/|\/\.(pyenv|nvm|volta|fnm|asdf|nodenv|rtx|mise)\/|\/\.local\/share\/(fnm|mise|rtx)\//;

export function resolveInterpreter(runtime: 'python' | 'node', configured?: string): { path: string; version: string } {
  let candidate: string;
  if (configured) candidate = configured;
  else if (runtime === 'python') candidate = '/usr/bin/python3';
  else candidate = MANAGED.test(process.execPath) ? '/usr/bin/node' : process.execPath;
  if (!candidate.startsWith('/')) throw new FaasError('CONFIG_INVALID', `${runtime} interpreter "${candidate}" is not an absolute path`);
  let path: string;
  try {
    path = realpathSync(candidate);
    accessSync(path, constants.X_OK);
  } catch (err) {
    throw new FaasError('CONFIG_INVALID', `${runtime} interpreter ${candidate} is not an executable file`, { cause: err });
  }
  if (MANAGED.test(candidate) || MANAGED.test(path)) {
    throw new FaasError(
      'CONFIG_INVALID',
      `${runtime} interpreter ${candidate} is a version-manager shim or per-user install; use a system binary such as /usr/bin/${runtime === 'python' ? 'python3' : 'node'}`,
    );
  }
  let out: string;
  try {
    // A clean environment: the version must not depend on the daemon's PYENV_VERSION etc.
    out = execFileSync(path, ['--version'], { env: {}, encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    throw new FaasError('CONFIG_INVALID', `${runtime} interpreter ${path} --version failed`, { cause: err });
  }
  const m = (runtime === 'python' ? /^Python (\d+\.\d+\.\d+)/ : /^v(\d+\.\d+\.\d+)/).exec(out.trim());
  if (!m) throw new FaasError('CONFIG_INVALID', `${path} is not a ${runtime} interpreter (--version said "${out.trim()}")`);
  return { path, version: m[1]! };
}

/** For --check-system: are bwrap and setpriv installed? */
export function checkSandboxTools(): { ok: boolean; detail: string } {
  const missing = [BWRAP, SETPRIV].filter((p) => {
    try {
      accessSync(p, constants.X_OK);
      return false;
    } catch {
      return true;
    }
  });
  if (missing.length > 0) return { ok: false, detail: `missing ${missing.join(', ')} (apt-get install bubblewrap util-linux)` };
  const v = execFileSync(BWRAP, ['--version'], { env: {}, encoding: 'utf8', timeout: 5000 }).trim();
  return { ok: true, detail: `${v}, setpriv` };
}
