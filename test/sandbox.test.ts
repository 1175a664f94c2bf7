// The process sandbox for real: bubblewrap + setpriv namespaces and cgroup limits, observed
// from inside by small /usr/bin/python3 scripts that print JSON (the PATH's python3 is a
// pyenv shim under /root, which the sandbox cannot and must not see).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readFile, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { FaasError } from '../src/errors.js';
import { CgroupManager, type CgroupLimits, type InstanceCgroup } from '../src/execution/drivers/process/cgroups.js';
import { BWRAP, buildLaunchCommand, resolveInterpreter, SANDBOX_PATHS, type LaunchCommand, type LaunchSpec } from '../src/execution/drivers/process/launcher.js';
import { testCgroupPrefix } from './helpers/leaks.js';

// Faults the kernel will not produce on this machine (it has no v2 controllers, so no
// "no internal processes" EBUSY) are injected through this hook; by default every call
// goes to the real node:fs/promises.
const fsFault = vi.hoisted(() => ({ writeFile: null as null | ((file: string) => Error | null) }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  const writeFile: typeof real.writeFile = (file, data, options) => {
    const err = fsFault.writeFile?.(String(file)) ?? null;
    return err ? Promise.reject(err) : real.writeFile(file, data, options);
  };
  return { ...real, default: { ...real, writeFile }, writeFile };
});

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PY = '/usr/bin/python3';
const isRoot = process.getuid?.() === 0;
const hasBwrap = existsSync(BWRAP);
// Unique per test process: other suites (and other engineers' runs) use cgroups at the same time.
// The leak check (helpers/leaks.ts) fails the file if a cgroup under it is left behind.
const PREFIX = testCgroupPrefix();
const MiB = 1024 * 1024;

if (!isRoot) console.warn('sandbox.test: not root, skipping strict sandbox and cgroup tests (they need namespaces and cgroup writes)');
else if (!hasBwrap) console.warn(`sandbox.test: ${BWRAP} missing, skipping strict sandbox tests (apt-get install bubblewrap)`);
const detected = isRoot ? await CgroupManager.detect({ prefix: PREFIX }) : null;
if (isRoot && !detected?.manager) console.warn(`sandbox.test: no usable cgroups, skipping cgroup tests: ${detected?.detail}`);
const manager = detected?.manager ?? null;

// ---- bookkeeping: every process and cgroup a test makes is gone after it ----
interface Run {
  child: ChildProcess;
  done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
  stdout(): string;
}
const children = new Set<Run>();
const cgroups = new Set<InstanceCgroup>();

function launch(cmd: LaunchCommand): Run {
  const child = spawn(cmd.command, cmd.args, { env: cmd.env, cwd: cmd.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<Awaited<Run['done']>>((resolve) => child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  const run: Run = { child, done, stdout: () => stdout };
  children.add(run);
  return run;
}

async function newCgroup(name: string, limits: Partial<CgroupLimits> = {}): Promise<InstanceCgroup> {
  const cg = await manager!.create(name, { memoryBytes: 256 * MiB, cpus: 0, pidsMax: 64, ...limits });
  cgroups.add(cg);
  return cg;
}

afterEach(async () => {
  for (const run of children) {
    if (run.child.exitCode === null && run.child.signalCode === null) run.child.kill('SIGKILL');
    await run.done;
  }
  children.clear();
  for (const cg of cgroups) await cg.remove();
  cgroups.clear();
});

afterAll(async () => {
  // The <prefix> parents are left in place by design (the daemon reuses them); a test prefix is not.
  for (const p of manager?.parents ?? []) await rmdir(p).catch(() => undefined);
});

// ---- a sandbox's three directories and some host files it must not see ----
interface Dirs {
  base: string;
  shimDir: string;
  codeDir: string;
  instanceDir: string;
  secret: string;
  varSecret: string;
}

async function makeDirs(): Promise<Dirs> {
  const base = await mkdtemp('/tmp/faasd-sbx-');
  const shimDir = path.join(base, 'runtime');
  const codeDir = path.join(base, 'functions', 'hello', 'v1');
  const instanceDir = path.join(base, 'run', 'i-1');
  await mkdir(shimDir, { recursive: true });
  await mkdir(codeDir, { recursive: true });
  await mkdir(path.join(base, 'functions', 'other', 'v1'), { recursive: true });
  await mkdir(instanceDir, { recursive: true });
  await writeFile(path.join(codeDir, 'main.py'), 'def handle(req):\n    return "hi"\n');
  await writeFile(path.join(base, 'functions', 'other', 'v1', 'main.py'), 'SECRET = "other function"\n');
  // mkdtemp makes 0700 dirs: the sandbox's uid must be able to read the code it runs.
  for (const d of [base, shimDir, path.join(base, 'functions'), path.dirname(codeDir), codeDir]) await chmod(d, 0o755);
  // As the process driver makes it: root's, traversable by the sandbox's group only.
  await chown(instanceDir, 0, 65534);
  await chmod(instanceDir, 0o710);
  const secret = path.join(base, 'config.yaml');
  await writeFile(secret, 'api_key: host-secret\n');
  const varDir = await mkdtemp('/var/lib/faasd-sbx-');
  const varSecret = path.join(varDir, 'registry.db');
  await writeFile(varSecret, 'registry');
  return { base, shimDir, codeDir, instanceDir, secret, varSecret };
}

async function removeDirs(d: Dirs | undefined): Promise<void> {
  if (!d) return;
  await rm(d.base, { recursive: true, force: true });
  await rm(path.dirname(d.varSecret), { recursive: true, force: true });
}

function spec(d: Dirs, over: Partial<LaunchSpec>): LaunchSpec {
  return {
    level: 'strict',
    interpreter: PY,
    args: [],
    shimDir: d.shimDir,
    codeDir: d.codeDir,
    instanceDir: d.instanceDir,
    env: { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', FAAS_SOCKET: '/run/faas/shim.sock' },
    uid: 65534,
    gid: 65534,
    ...over,
  };
}

// Everything a strict sandbox lets a function observe, as JSON.
const PROBE = `
import json, os, socket, sys
port, secret, var_secret = int(sys.argv[1]), sys.argv[2], sys.argv[3]
def attempt(f):
    try:
        return {'ok': True, 'value': f()}
    except Exception as e:
        return {'ok': False, 'error': type(e).__name__}
def connect():
    socket.create_connection(('127.0.0.1', port), timeout=2).close()
def write(p):
    with open(p, 'w') as f:
        f.write('written from the sandbox')
    return p
status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())
print(json.dumps({
    'uid': [os.getuid(), os.geteuid()], 'gid': [os.getgid(), os.getegid()], 'groups': os.getgroups(),
    'caps': {k: status[k].strip() for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb')},
    'noNewPrivs': status['NoNewPrivs'].strip(),
    'shadow': attempt(lambda: open('/etc/shadow').read()),
    'etc': attempt(lambda: sorted(os.listdir('/etc'))),
    'rootDir': sorted(os.listdir('/')),
    'pids': sorted(int(p) for p in os.listdir('/proc') if p.isdigit()),
    'tcp': attempt(connect),
    'secret': attempt(lambda: open(secret).read()),
    'varSecret': attempt(lambda: open(var_secret).read()),
    'codeRead': attempt(lambda: open('/function/main.py').read()),
    'codeWrite': attempt(lambda: write('/function/evil.py')),
    'tmpWrite': attempt(lambda: write('/tmp/probe.txt')),
    'tmpList': sorted(os.listdir('/tmp')),
    'shmWrite': attempt(lambda: write('/dev/shm/probe')),
    'instanceWrite': attempt(lambda: write('/run/faas/probe.txt')),
    'env': dict(os.environ),
    'hostname': socket.gethostname(),
}))
`;

describe.skipIf(!isRoot || !hasBwrap)('strict sandbox (bubblewrap + setpriv)', () => {
  let dirs: Dirs | undefined;
  let server: net.Server | undefined;
  let connections = 0;
  // biome-ignore lint/suspicious/noExplicitAny: the probe's JSON, asserted field by field below
  let seen: Record<string, any>;
  let cg: InstanceCgroup | undefined;
  let env: Record<string, string>;

  beforeAll(async () => {
    dirs = await makeDirs();
    server = net.createServer((s) => {
      connections++;
      s.destroy();
    });
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server!.once('listening', r));
    const port = (server.address() as net.AddressInfo).port;
    cg = manager ? await manager.create('strict-probe', { memoryBytes: 128 * MiB, cpus: 1, pidsMax: 32 }) : undefined;
    env = { PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8', FAAS_SOCKET: '/run/faas/shim.sock', FAAS_MARK: 'a b "c" $d' };
    const cmd = buildLaunchCommand(spec(dirs, { args: ['-c', PROBE, String(port), dirs.secret, dirs.varSecret], env, ...(cg ? { cgroup: cg } : {}) }));
    const r = await launch(cmd).done;
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    seen = JSON.parse(r.stdout);
  });

  afterAll(async () => {
    await cg?.remove();
    await new Promise((r) => (server ? server.close(r) : r(undefined)));
    await removeDirs(dirs);
  });

  it('cannot read /etc/shadow, and /etc holds nothing but the loader cache', () => {
    expect(seen.shadow).toEqual({ ok: false, error: 'FileNotFoundError' });
    // Only the loader cache is bound (it lists library paths, nothing secret).
    expect(seen.etc).toEqual({ ok: true, value: ['ld.so.cache'] });
  });

  it('sees a root with only the system dirs and its own three directories', () => {
    const allowed = ['bin', 'dev', 'etc', 'function', 'lib', 'lib32', 'lib64', 'libx32', 'opt', 'proc', 'run', 'sbin', 'tmp', 'usr'];
    expect(allowed).toEqual(expect.arrayContaining(seen.rootDir));
    expect(seen.rootDir).toEqual(expect.arrayContaining(['function', 'opt', 'run', 'tmp', 'usr']));
  });

  it('sees only its own few processes in /proc', () => {
    expect(seen.pids.length).toBeLessThanOrEqual(3);
    expect(seen.pids[0]).toBe(1);
  });

  it('cannot connect to a TCP server on the host loopback', () => {
    expect(seen.tcp.ok).toBe(false);
    expect(connections).toBe(0);
  });

  it('runs as uid and gid 65534 with no supplementary groups', () => {
    expect(seen.uid).toEqual([65534, 65534]);
    expect(seen.gid).toEqual([65534, 65534]);
    expect(seen.groups).toEqual([]);
  });

  it('has no capabilities in any set, bounding set included, and no_new_privs', () => {
    const zero = '0000000000000000';
    expect(seen.caps).toEqual({ CapInh: zero, CapPrm: zero, CapEff: zero, CapBnd: zero, CapAmb: zero });
    expect(seen.noNewPrivs).toBe('1');
  });

  it('cannot see host files outside the bound dirs (daemon config under /tmp, registry under /var/lib)', () => {
    expect(seen.secret).toEqual({ ok: false, error: 'FileNotFoundError' });
    expect(seen.varSecret).toEqual({ ok: false, error: 'FileNotFoundError' });
  });

  it('reads its code dir but cannot write it', async () => {
    expect(seen.codeRead.ok).toBe(true);
    expect(seen.codeWrite.ok).toBe(false);
    expect(existsSync(path.join(dirs!.codeDir, 'evil.py'))).toBe(false);
  });

  it('has a writable /tmp of its own, invisible to the host', () => {
    expect(seen.tmpWrite.ok).toBe(true);
    expect(seen.tmpList).toEqual(['probe.txt']); // not the host's /tmp (which holds our temp dirs)
    expect(existsSync('/tmp/probe.txt')).toBe(false);
  });

  it('can use /dev/shm (Python multiprocessing needs it)', () => {
    expect(seen.shmWrite.ok).toBe(true);
  });

  it('cannot write its instance dir (bound read-only: nothing writable is on the host disk)', async () => {
    expect(seen.instanceWrite).toEqual({ ok: false, error: 'OSError' });
    expect(existsSync(path.join(dirs!.instanceDir, 'probe.txt'))).toBe(false);
  });

  it('gets exactly the environment it was given', () => {
    expect(seen.env).toEqual(env);
  });

  it('has its own hostname', () => {
    expect(seen.hostname).toBe('faas');
  });

  it.skipIf(!manager)('runs inside its instance cgroup (the cgroup accounted its CPU time)', async () => {
    expect((await cg!.usage()).cpuSeconds).toBeGreaterThan(0);
  });

  it.each(['python', 'node'] as const)('the real %s shim starts in the sandbox and says ready over the socket', async (runtime) => {
    const { path: interpreter } = resolveInterpreter(runtime);
    const shim = runtime === 'python' ? 'shim.py' : 'shim.js';
    const sock = path.join(dirs!.instanceDir, 'shim.sock');
    const srv = net.createServer();
    const first = new Promise<Record<string, unknown>>((resolve, reject) => {
      srv.once('connection', (s) => {
        let buf = Buffer.alloc(0);
        s.on('data', (d: Buffer) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length >= 8 && buf.length >= 8 + buf.readUInt32BE(0)) {
            resolve(JSON.parse(buf.subarray(8, 8 + buf.readUInt32BE(0)).toString('utf8')));
            s.destroy();
          }
        });
        s.on('error', reject);
      });
    });
    await new Promise<void>((r) => srv.listen(sock, r));
    try {
      // Connecting to a Unix socket needs write permission on it; root made it 0755.
      await chmod(sock, 0o666);
      const run = launch(buildLaunchCommand(spec({ ...dirs!, shimDir: path.join(ROOT, 'runtimes', runtime) }, { interpreter, args: [`${SANDBOX_PATHS.shimDir}/${shim}`] })));
      const ready = await Promise.race([first, run.done.then((r) => Promise.reject(new Error(`shim exited ${r.code}: ${r.stderr}`)))]);
      expect(ready).toMatchObject({ type: 'ready', runtime });
    } finally {
      await new Promise((r) => srv.close(r));
    }
  });
});

describe.skipIf(!manager || !hasBwrap)(`cgroup limits (${detected?.version ?? 'none'})`, () => {
  let dirs: Dirs | undefined;
  beforeAll(async () => {
    dirs = await makeDirs();
  });
  afterAll(() => removeDirs(dirs));

  function dirOf(cg: InstanceCgroup, controller: string): string {
    const file = manager!.version === 'v2' ? cg.procsFiles[0]! : cg.procsFiles.find((f) => f.includes(`/${controller}/${PREFIX}/`))!;
    return path.dirname(file);
  }
  const read = async (f: string): Promise<string> => (await readFile(f, 'utf8')).trim();

  it('a process that allocates 200 MB under a 64 MiB limit is OOM-killed and oomKilled() says so', async () => {
    const cg = await newCgroup('oom', { memoryBytes: 64 * MiB });
    expect(await cg.oomKilled()).toBe(false);
    const script = "x = [b'\\x01' * (1 << 20) for _ in range(200)]\nprint('survived')";
    const r = await launch(buildLaunchCommand(spec(dirs!, { args: ['-c', script], cgroup: cg }))).done;
    expect(r.stdout).not.toContain('survived');
    // bwrap reports a child killed by signal N as exit status 128 + N.
    expect(r.code).toBe(137);
    expect(await cg.oomKilled()).toBe(true);
  });

  it('a pids limit of 20 stops a loop that tries to start 100 processes', async () => {
    const cg = await newCgroup('pids', { pidsMax: 20 });
    const script = [
      'import json, subprocess',
      'ok, failed, procs = 0, 0, []',
      'for _ in range(100):',
      '    try:',
      "        procs.append(subprocess.Popen(['/bin/sleep', '30'])); ok += 1",
      '    except OSError:',
      '        failed += 1',
      "print(json.dumps({'ok': ok, 'failed': failed}))",
      'for p in procs: p.kill()',
    ].join('\n');
    const r = await launch(buildLaunchCommand(spec(dirs!, { args: ['-c', script], cgroup: cg }))).done;
    const counts = JSON.parse(r.stdout) as { ok: number; failed: number };
    expect(counts.ok).toBeLessThan(20);
    expect(counts.failed).toBeGreaterThanOrEqual(80);
  });

  it('killAll kills every process in the cgroup, daemonized grandchildren included', async () => {
    const cg = await newCgroup('killall');
    // Each sleeper is double-forked into its own session: a process-group kill would miss it.
    const script = [
      'import subprocess, sys, time',
      "for _ in range(5): subprocess.Popen(['/bin/sh', '-c', 'sleep 60 &'], start_new_session=True).wait()",
      "print('ready', flush=True)",
      'time.sleep(60)',
    ].join('\n');
    const run = launch(buildLaunchCommand(spec(dirs!, { level: 'standard', args: ['-c', script], cgroup: cg })));
    await vi.waitFor(() => expect(run.stdout()).toContain('ready'), { timeout: 10_000 });
    const before = (await read(cg.procsFiles[0]!)).split('\n');
    expect(before.length).toBeGreaterThanOrEqual(6);
    await cg.killAll();
    for (const f of cg.procsFiles) expect(await read(f)).toBe('');
    expect((await run.done).signal).toBe('SIGKILL');
  });

  it('remove leaves no directory behind in any hierarchy, and a second remove is a no-op', async () => {
    const cg = await newCgroup('remove');
    const run = launch(buildLaunchCommand(spec(dirs!, { level: 'standard', args: ['-c', 'import time; time.sleep(60)'], cgroup: cg })));
    await vi.waitFor(async () => expect(await read(cg.procsFiles[0]!)).not.toBe(''));
    await cg.remove();
    for (const f of cg.procsFiles) expect(existsSync(path.dirname(f))).toBe(false);
    await cg.remove();
    expect((await run.done).signal).toBe('SIGKILL');
  });

  it('writes the CPU quota (0.5 cores = 50 ms per 100 ms period)', async () => {
    const cg = await newCgroup('cpu-quota', { cpus: 0.5 });
    if (manager!.version === 'v2') expect(await read(path.join(dirOf(cg, 'cpu'), 'cpu.max'))).toBe('50000 100000');
    else {
      expect(await read(path.join(dirOf(cg, 'cpu'), 'cpu.cfs_period_us'))).toBe('100000');
      expect(await read(path.join(dirOf(cg, 'cpu'), 'cpu.cfs_quota_us'))).toBe('50000');
    }
  });

  it('writes the memory limit with swap off, and the pids limit', async () => {
    const cg = await newCgroup('limits', { memoryBytes: 64 * MiB, pidsMax: 20 });
    const mem = dirOf(cg, 'memory');
    if (manager!.version === 'v2') {
      expect(await read(path.join(mem, 'memory.max'))).toBe(String(64 * MiB));
      if (existsSync(path.join(mem, 'memory.swap.max'))) expect(await read(path.join(mem, 'memory.swap.max'))).toBe('0');
    } else {
      expect(await read(path.join(mem, 'memory.limit_in_bytes'))).toBe(String(64 * MiB));
      if (existsSync(path.join(mem, 'memory.memsw.limit_in_bytes'))) {
        expect(await read(path.join(mem, 'memory.memsw.limit_in_bytes'))).toBe(String(64 * MiB));
      }
      expect(await read(path.join(mem, 'memory.swappiness'))).toBe('0');
    }
    expect(await read(path.join(dirOf(cg, 'pids'), 'pids.max'))).toBe('20');
  });

  it('usage reports the memory and CPU time of the processes in it', async () => {
    const cg = await newCgroup('usage');
    const script = "x = b'\\x01' * (32 << 20)\nn = 0\nfor i in range(3_000_000): n += i\nprint('done', flush=True)\nimport time; time.sleep(60)";
    const run = launch(buildLaunchCommand(spec(dirs!, { level: 'standard', args: ['-c', script], cgroup: cg })));
    await vi.waitFor(() => expect(run.stdout()).toContain('done'), { timeout: 10_000 });
    const u = await cg.usage();
    expect(u.memoryBytes).toBeGreaterThan(32 * MiB);
    expect(u.cpuSeconds).toBeGreaterThan(0.05);
  });

  it("removeStale kills and removes a previous run's cgroups but not this run's", async () => {
    const previous = (await CgroupManager.detect({ prefix: PREFIX })).manager!;
    const stale = await previous.create('stale-1', { memoryBytes: 0, cpus: 0, pidsMax: 0 });
    cgroups.add(stale);
    const mine = await newCgroup('mine');
    const run = launch(buildLaunchCommand(spec(dirs!, { level: 'standard', args: ['-c', 'import time; time.sleep(60)'], cgroup: stale })));
    await vi.waitFor(async () => expect(await read(stale.procsFiles[0]!)).not.toBe(''));
    expect(await manager!.removeStale()).toBe(1);
    expect((await run.done).signal).toBe('SIGKILL');
    for (const f of stale.procsFiles) expect(existsSync(path.dirname(f))).toBe(false);
    for (const f of mine.procsFiles) expect(existsSync(f)).toBe(true);
  });
});

describe.skipIf(!manager)('standard isolation', () => {
  let dirs: Dirs | undefined;
  beforeAll(async () => {
    dirs = await makeDirs();
  });
  afterAll(() => removeDirs(dirs));

  const SCRIPT = `
import json, os, resource
print(json.dumps({'uid': os.getuid(), 'cgroup': open('/proc/self/cgroup').read(), 'env': dict(os.environ),
  'nofile': resource.getrlimit(resource.RLIMIT_NOFILE), 'core': resource.getrlimit(resource.RLIMIT_CORE)}))`;

  // biome-ignore lint/suspicious/noExplicitAny: the script's JSON, asserted field by field
  async function observe(cg: InstanceCgroup, env: Record<string, string>): Promise<Record<string, any>> {
    const r = await launch(buildLaunchCommand(spec(dirs!, { level: 'standard', args: ['-c', SCRIPT], cgroup: cg, env }))).done;
    expect(r.stderr).toBe('');
    return JSON.parse(r.stdout);
  }

  it('joins its cgroup in every hierarchy before the interpreter starts, with host paths and the daemon uid', async () => {
    const cg = await newCgroup('std-join');
    const seen = await observe(cg, { LANG: 'C.UTF-8' });
    const controllers = manager!.version === 'v2' ? ['0:'] : [':memory:', ':cpu:', ':pids:'];
    for (const c of controllers) expect(seen.cgroup).toMatch(new RegExp(`${c}.*/${PREFIX}/std-join\n`));
    expect(seen.uid).toBe(process.getuid!());
    expect(buildLaunchCommand(spec(dirs!, { level: 'standard', cgroup: cg })).paths.codeDir).toBe(dirs!.codeDir);
  });

  it('gets rlimits of 1024 open files and no core dumps', async () => {
    const seen = await observe(await newCgroup('std-rlimits'), { LANG: 'C.UTF-8' });
    expect(seen.nofile).toEqual([1024, 1024]);
    expect(seen.core).toEqual([0, 0]);
  });

  it('gets exactly the environment it was given, nothing of the daemon', async () => {
    const env = { LANG: 'C.UTF-8', PATH: '/usr/bin:/bin', FAAS_MARK: "it's $HOME" };
    const seen = await observe(await newCgroup('std-env'), env);
    expect(seen.env).toEqual(env);
  });
});

describe('isolation level none', () => {
  it('runs the interpreter directly with exactly the given environment', async () => {
    const env = { LANG: 'C.UTF-8', FAAS_MARK: '1' };
    const cmd = buildLaunchCommand({
      level: 'none',
      interpreter: PY,
      args: ['-c', 'import os, json; print(json.dumps(dict(os.environ)))'],
      shimDir: '/s',
      codeDir: '/c',
      instanceDir: '/tmp',
      env,
      uid: 0,
      gid: 0,
    });
    expect(cmd.command).toBe(PY);
    expect(cmd.paths).toEqual({ shimDir: '/s', codeDir: '/c', instanceDir: '/tmp' });
    const r = await launch(cmd).done;
    expect(JSON.parse(r.stdout)).toEqual(env);
  });
});

describe('buildLaunchCommand', () => {
  const base: LaunchSpec = {
    level: 'strict',
    interpreter: PY,
    args: ['/opt/faas/runtime/shim.py'],
    shimDir: '/srv/shim',
    codeDir: '/srv/code',
    instanceDir: '/srv/run/i',
    env: { LANG: 'C.UTF-8' },
    uid: 65534,
    gid: 65534,
  };

  it('gives the shim sandbox paths in strict mode and spawns with an empty environment', () => {
    const cmd = buildLaunchCommand(base);
    expect(cmd.paths).toEqual(SANDBOX_PATHS);
    expect(cmd.env).toEqual({});
    expect(cmd.args).toContain(BWRAP);
  });

  it('binds the install tree of an interpreter that lives outside /usr', async () => {
    const prefix = await mkdtemp('/tmp/faasd-interp-');
    try {
      await mkdir(path.join(prefix, 'bin'));
      await mkdir(path.join(prefix, 'lib'));
      await writeFile(path.join(prefix, 'bin', 'python3'), '');
      const args = buildLaunchCommand({ ...base, interpreter: path.join(prefix, 'bin', 'python3') }).args;
      const i = args.indexOf(prefix);
      expect(args.slice(i - 1, i + 2)).toEqual(['--ro-bind', prefix, prefix]);
    } finally {
      await rm(prefix, { recursive: true, force: true });
    }
  });

  it.each(['LD_PRELOAD', 'PWD', 'BAD-NAME'])('refuses %s in the environment', (k) => {
    expect(() => buildLaunchCommand({ ...base, env: { [k]: 'x' } })).toThrow(FaasError);
  });

  it('refuses to run a strict sandbox as root', () => {
    expect(() => buildLaunchCommand({ ...base, uid: 0 })).toThrow(/non-root/);
  });
});

describe('resolveInterpreter', () => {
  it('picks the real python binary, not a pyenv shim, and reads its version', () => {
    const r = resolveInterpreter('python');
    expect(r.path).toMatch(/^\/usr\/bin\/python3(\.\d+)?$/);
    expect(r.version).toMatch(/^3\.\d+\.\d+$/);
  });

  it('picks a node binary outside /root and version managers', () => {
    const r = resolveInterpreter('node');
    expect(r.path).not.toMatch(/^\/root\/|\/\.nvm\//);
    expect(r.version).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('rejects a configured version-manager shim with CONFIG_INVALID', async () => {
    const dir = await mkdtemp('/tmp/faasd-shim-');
    try {
      const shim = path.join(dir, '.pyenv', 'shims', 'python3');
      await mkdir(path.dirname(shim), { recursive: true });
      await writeFile(shim, '#!/bin/sh\nexec /usr/bin/python3 "$@"\n', { mode: 0o755 });
      expect(() => resolveInterpreter('python', shim)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a binary of the wrong runtime', () => {
    expect(() => resolveInterpreter('node', PY)).toThrow(/not a node interpreter/);
  });
});

// Detection logic on fake cgroup trees (plain directories): this machine has only one real
// layout (hybrid v1), so the v2 branches are exercised here. Writes to a fake tree create
// plain files, which is enough to see what would be written.
describe('CgroupManager.detect on fake cgroup trees', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp('/tmp/faasd-fakecg-');
  });
  afterAll(() => rm(root, { recursive: true, force: true }));
  afterEach(() => {
    fsFault.writeFile = null;
  });

  async function tree(name: string, files: Record<string, string>): Promise<string> {
    const dir = path.join(root, name);
    for (const [f, text] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
      await writeFile(path.join(dir, f), text);
    }
    return dir;
  }

  it('uses a pure v2 root whose controllers include memory, cpu and pids, enabling them for the faasd parent', async () => {
    const dir = await tree('v2', { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma\n', 'cgroup.subtree_control': '' });
    const d = await CgroupManager.detect({ root: dir });
    expect(d.version).toBe('v2');
    expect(d.manager!.parents).toEqual([path.join(dir, 'faasd')]);
    expect(await readFile(path.join(dir, 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu +pids');
    expect(await readFile(path.join(dir, 'faasd', 'cgroup.subtree_control'), 'utf8')).toBe('+memory +cpu +pids');
  });

  it('writes v2 limits as memory.max, cpu.max and pids.max and reads oom_kill from memory.events', async () => {
    const dir = await tree('v2-limits', { 'cgroup.controllers': 'cpu memory pids', 'cgroup.subtree_control': 'cpu memory pids' });
    const m = (await CgroupManager.detect({ root: dir, prefix: 'p' })).manager!;
    const cg = await m.create('i-1', { memoryBytes: 64 * MiB, cpus: 0.25, pidsMax: 20 });
    const inst = path.join(dir, 'p', 'i-1');
    expect(cg.procsFiles).toEqual([path.join(inst, 'cgroup.procs')]);
    expect(await readFile(path.join(inst, 'memory.max'), 'utf8')).toBe(String(64 * MiB));
    expect(await readFile(path.join(inst, 'cpu.max'), 'utf8')).toBe('25000 100000');
    expect(await readFile(path.join(inst, 'pids.max'), 'utf8')).toBe('20');
    await writeFile(path.join(inst, 'memory.events'), 'low 0\nhigh 0\nmax 12\noom 1\noom_kill 1\noom_group_kill 0\n');
    expect(await cg.oomKilled()).toBe(true);
  });

  it('falls back to v1 on a hybrid host whose v2 mount has no controllers', async () => {
    const dir = await tree('hybrid', {
      'unified/cgroup.controllers': '',
      'memory/faasd/memory.limit_in_bytes': '',
      'cpu/faasd/cpu.cfs_quota_us': '',
      'pids/faasd/pids.max': '',
    });
    const d = await CgroupManager.detect({ root: dir });
    expect(d.version).toBe('v1');
    expect(d.manager!.parents).toEqual(['memory', 'cpu', 'pids'].map((c) => path.join(dir, c, 'faasd')));
    expect(d.detail).toContain('unified lacks memory, cpu, pids');
  });

  it('reports no usable cgroups when v2 lacks controllers and v1 is absent', async () => {
    const dir = await tree('none', { 'cgroup.controllers': 'cpu io' });
    const d = await CgroupManager.detect({ root: dir });
    expect(d.manager).toBeNull();
    expect(d.detail).toMatch(/lacks memory, pids.*cgroup v1 memory/);
  });

  it('does not use v2 when the root subtree_control cannot be written (a real EISDIR fault)', async () => {
    const dir = await tree('v2-broken', { 'cgroup.controllers': 'cpu memory pids' });
    await mkdir(path.join(dir, 'cgroup.subtree_control'));
    const d = await CgroupManager.detect({ root: dir });
    expect(d.manager).toBeNull();
    expect(d.detail).toContain('cgroup.subtree_control: EISDIR');
  });

  it('explains the "no internal processes" rule on EBUSY (mocked: this kernel has no v2 controllers to refuse)', async () => {
    const dir = await tree('v2-busy', { 'cgroup.controllers': 'cpu memory pids', 'cgroup.subtree_control': '' });
    fsFault.writeFile = (file) => (file === path.join(dir, 'cgroup.subtree_control') ? Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' }) : null);
    const d = await CgroupManager.detect({ root: dir });
    expect(d.manager).toBeNull();
    expect(d.detail).toContain('has processes of its own; move them into a leaf cgroup');
  });

  it('refuses a v2 parent that holds processes', async () => {
    const dir = await tree('v2-procs', { 'cgroup.controllers': 'cpu memory pids', 'cgroup.subtree_control': 'cpu memory pids', 'faasd/cgroup.procs': '4242\n' });
    const d = await CgroupManager.detect({ root: dir });
    expect(d.manager).toBeNull();
    expect(d.detail).toContain('holds processes (4242)');
  });

  it('lists the instance cgroups a previous run left (fake tree, no processes)', async () => {
    const dir = await tree('stale', { 'cgroup.controllers': 'cpu memory pids', 'cgroup.subtree_control': 'cpu memory pids' });
    await mkdir(path.join(dir, 'faasd', 'old-1'), { recursive: true });
    await mkdir(path.join(dir, 'faasd', 'old-2'), { recursive: true });
    const m = (await CgroupManager.detect({ root: dir })).manager!;
    expect(await m.removeStale()).toBe(2);
    expect(await readdir(path.join(dir, 'faasd'))).not.toContain('old-1');
  });
});
