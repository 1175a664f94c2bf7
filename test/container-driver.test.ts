// Container mode driver against a real Docker engine: start/invoke/exit reasons, isolation
// seen from inside a function, hardening flags as the engine reports them, orphan removal,
// image preparation. Needs an engine (scripts/ensure-docker.sh) and the local runtime images
// (scripts/build-runtime-images.sh). Without an engine the suite is skipped, unless
// FAAS_REQUIRE_DOCKER=1 (CI), where that is a failure.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Docker from 'dockerode';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { InstanceSpec, RunningInstance, RuntimeName } from '../src/execution/driver.js';
import { ContainerDriver, removeOrphans, type ContainerDriverOptions } from '../src/execution/drivers/container/container-driver.js';
import type { InvokeResult } from '../src/execution/protocol/shim-channel.js';

const RUNTIMES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'runtimes');
const IMAGES: Record<RuntimeName, string> = {
  python: process.env.FAAS_TEST_PYTHON_IMAGE || 'faasd-runtime/python:3.11-local',
  node: process.env.FAAS_TEST_NODE_IMAGE || 'faasd-runtime/node:20-local',
};
const MiB = 1024 * 1024;
const logger = pino({ level: 'silent' });
const docker = new Docker();

async function engineProblem(): Promise<string | null> {
  try {
    // dockerode honours abortSignal; the typings do not declare the options argument.
    await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(3000) });
    return null;
  } catch (e) {
    return (e as Error).message || String(e);
  }
}

const problem = await engineProblem();
const requireDocker = process.env.FAAS_REQUIRE_DOCKER === '1';
if (problem && !requireDocker) {
  console.warn(`container driver suite skipped: no Docker engine reachable (${problem}); run scripts/ensure-docker.sh, or set FAAS_REQUIRE_DOCKER=1 to make this a failure`);
}

// Runs wherever an engine is required (CI): it passes there only when the engine answered.
describe.runIf(requireDocker)('container driver prerequisites', () => {
  it('a Docker engine is reachable (FAAS_REQUIRE_DOCKER=1)', () => {
    expect(problem, `FAAS_REQUIRE_DOCKER=1 but no Docker engine answered a ping within 3 s: ${problem}. Start one with scripts/ensure-docker.sh`).toBeNull();
  });
});

const runId = crypto.randomBytes(4).toString('hex');
const daemonId = `test-${runId}`;
let runRoot = '';
let driver: ContainerDriver;
let seq = 0;

function newDriver(over: Partial<ContainerDriverOptions> = {}): ContainerDriver {
  const d = new ContainerDriver({ docker, images: IMAGES, runRoot, runtimesDir: RUNTIMES_DIR, daemonId, startTimeoutMs: 15_000, logger, ...over });
  onTestFinished(() => d.close());
  return d;
}

/** A function's code directory, readable by uid 65534 like the registry's. */
async function codeDir(files: Record<string, string>): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'faasd-ct-code-'));
  await fs.chmod(dir, 0o755);
  for (const [name, text] of Object.entries(files)) await fs.writeFile(path.join(dir, name), text, { mode: 0o644 });
  onTestFinished(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

function spec(runtime: RuntimeName, dir: string, over: Partial<InstanceSpec> = {}): InstanceSpec {
  seq += 1;
  return {
    instanceId: `ct-${runId}-${seq}`,
    functionName: `fn-${seq}`,
    version: 1,
    runtime,
    codeDir: dir,
    file: runtime === 'python' ? 'main.py' : 'index.js',
    environment: {},
    memoryBytes: 128 * MiB,
    cpus: 1,
    pidsLimit: 64,
    ...over,
  };
}

async function startFn(runtime: RuntimeName, code: string, over: Partial<InstanceSpec> = {}, d: ContainerDriver = driver): Promise<RunningInstance> {
  const dir = await codeDir({ [runtime === 'python' ? 'main.py' : 'index.js']: code });
  const inst = await d.start(spec(runtime, dir, over));
  onTestFinished(() => inst.stop());
  return inst;
}

function invoke(inst: RunningInstance, body: unknown = {}, over: { method?: string; path?: string } = {}): Promise<InvokeResult> {
  return inst.invoke({
    id: crypto.randomUUID(),
    method: over.method ?? 'POST',
    path: over.path ?? '/',
    query: {},
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(JSON.stringify(body)),
    timeoutMs: 10_000,
  });
}

const json = (r: InvokeResult): unknown => JSON.parse(r.body.toString('utf8'));

async function containersOf(instanceId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`faasd.instance=${instanceId}`] } });
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(
    () => true,
    () => false,
  );
}

describe.skipIf(problem !== null)('container driver (Docker)', () => {
  beforeAll(async () => {
    for (const image of Object.values(IMAGES)) {
      const ok = await docker
        .getImage(image)
        .inspect()
        .then(
          () => true,
          () => false,
        );
      if (!ok) throw new Error(`test image ${image} is missing: build it with scripts/build-runtime-images.sh`);
    }
    runRoot = await fs.mkdtemp(path.join(os.tmpdir(), 'faasd-ct-run-'));
    await fs.chmod(runRoot, 0o711);
    driver = new ContainerDriver({ docker, images: IMAGES, runRoot, runtimesDir: RUNTIMES_DIR, daemonId, startTimeoutMs: 15_000, logger });
    await driver.prepare('python');
    await driver.prepare('node');
  });

  afterAll(async () => {
    await driver?.close();
    // Whatever a failed test left behind.
    if (problem === null) await removeOrphans(docker, daemonId, logger).catch(() => 0);
    if (runRoot) await fs.rm(runRoot, { recursive: true, force: true });
  });

  it('runs a Python handler: JSON in, JSON out, method and path passed through', async () => {
    const inst = await startFn('python', 'def handle(request):\n    return {"message": "Hello, World!", "data": request.get_json(), "method": request.method, "path": request.path}\n');
    expect(inst.containerId).toMatch(/^[0-9a-f]{64}$/);
    const res = await invoke(inst, { name: 'AITest', test: true }, { method: 'PUT', path: '/a/b' });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toContain('application/json');
    expect(json(res)).toEqual({ message: 'Hello, World!', data: { name: 'AITest', test: true }, method: 'PUT', path: '/a/b' });
    // Warm: the same instance answers again.
    expect(json(await invoke(inst, { n: 2 }))).toMatchObject({ data: { n: 2 } });
  });

  it('runs a JavaScript handler (exports.handler, async, Lambda-style return)', async () => {
    const inst = await startFn(
      'node',
      "exports.handler = async (event, context) => ({ statusCode: 201, headers: { 'x-fn': context.functionName }, body: { echo: event.json(), method: event.method } })\n",
    );
    const res = await invoke(inst, { a: [1, 2] });
    expect(res.status).toBe(201);
    expect(res.headers['x-fn']).toMatch(/^fn-/);
    expect(json(res)).toEqual({ echo: { a: [1, 2] }, method: 'POST' });
  });

  it('passes the function environment through init, not through the container env', async () => {
    const inst = await startFn('python', 'import os\ndef handle(r):\n    return os.environ.get("GREETING")\n', { environment: { GREETING: 'bonjour' } });
    expect(json(await invoke(inst))).toBe('bonjour');
    const info = await docker.getContainer(inst.containerId!).inspect();
    expect(info.Config.Env.join('\n')).not.toContain('GREETING');
  });

  it('a handler that raises is a FUNCTION_ERROR with its traceback; the instance keeps serving', async () => {
    const inst = await startFn('python', 'def handle(r):\n    if r.get_json().get("fail"):\n        raise ValueError("bad input here")\n    return "fine"\n');
    const err = await invoke(inst, { fail: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FUNCTION_ERROR', message: expect.stringContaining('bad input here') });
    expect(JSON.stringify((err as { details: unknown }).details)).toContain('Traceback');
    expect(json(await invoke(inst, { fail: false }))).toBe('fine');

    const js = await startFn('node', "exports.handler = () => { throw new TypeError('nope from js') }\n");
    await expect(invoke(js)).rejects.toMatchObject({ code: 'FUNCTION_ERROR', message: expect.stringContaining('nope from js') });
  });

  it('code that fails to load rejects start() with FUNCTION_ERROR and leaves nothing behind', async () => {
    const dir = await codeDir({ 'main.py': 'def handle(request)\n    return 1\n' });
    const s = spec('python', dir);
    await expect(driver.start(s)).rejects.toMatchObject({ code: 'FUNCTION_ERROR', message: expect.stringMatching(/SyntaxError/) });
    expect(await containersOf(s.instanceId)).toHaveLength(0);
    expect(await exists(path.join(runRoot, s.instanceId))).toBe(false);
  });

  it('an interpreter that cannot start is INSTANCE_CRASHED with the container stderr; nothing left', async () => {
    const d = newDriver({ interpreterPaths: { python: '/usr/bin/no-such-python' } });
    const dir = await codeDir({ 'main.py': 'def handle(r):\n    return 1\n' });
    const s = spec('python', dir);
    const err = await d.start(s).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INSTANCE_CRASHED', message: expect.stringContaining('no-such-python') });
    expect(await containersOf(s.instanceId)).toHaveLength(0);
    expect(await exists(path.join(runRoot, s.instanceId))).toBe(false);
  });

  it('a code directory that does not exist is INSTANCE_CRASHED naming it (never created by the engine)', async () => {
    const missing = path.join(os.tmpdir(), `faasd-ct-missing-${runId}`);
    const s = spec('python', missing);
    const err = await driver.start(s).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INSTANCE_CRASHED', message: expect.stringContaining(missing) });
    expect(await exists(missing)).toBe(false);
    expect(await containersOf(s.instanceId)).toHaveLength(0);
    expect(await exists(path.join(runRoot, s.instanceId))).toBe(false);
  });

  it('a start that exceeds the start timeout is INSTANCE_TIMEOUT; nothing left', async () => {
    const d = newDriver({ startTimeoutMs: 150 });
    const dir = await codeDir({ 'main.py': 'def handle(r):\n    return 1\n' });
    const s = spec('python', dir);
    await expect(d.start(s)).rejects.toMatchObject({ code: 'INSTANCE_TIMEOUT' });
    await expect.poll(async () => (await containersOf(s.instanceId)).length, { message: 'the timed-out container is removed', timeout: 10_000 }).toBe(0);
    await expect.poll(() => exists(path.join(runRoot, s.instanceId)), { message: 'the instance directory is removed', timeout: 10_000 }).toBe(false);
  });

  it('a function that exits is reason crash with its status (Python os._exit, Node SIGKILL)', async () => {
    const py = await startFn('python', 'import os, sys\ndef handle(r):\n    sys.stderr.flush()\n    os._exit(3)\n');
    await expect(invoke(py)).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(await py.exited).toMatchObject({ reason: 'crash', code: 3, signal: null });

    const js = await startFn('node', "exports.handler = () => { process.kill(process.pid, 'SIGKILL') }\n");
    await expect(invoke(js)).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(await js.exited).toMatchObject({ reason: 'crash', code: 137, signal: 'SIGKILL' });
  });

  it('allocating 400 MB under a 64Mi limit is reason oom', async () => {
    const inst = await startFn('python', 'def handle(r):\n    x = b"a" * (400 << 20)\n    return len(x)\n', { memoryBytes: 64 * MiB });
    await expect(invoke(inst)).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(await inst.exited).toMatchObject({ reason: 'oom', code: 137 });
  });

  it('kill() is reason killed; stop() removes the container and the directory, and is idempotent', async () => {
    const inst = await startFn('python', 'def handle(r):\n    return 1\n');
    const dir = path.join(runRoot, inst.id);
    expect(await exists(dir)).toBe(true);
    const exit = await inst.kill();
    expect(exit).toMatchObject({ reason: 'killed', code: 137, signal: 'SIGKILL' });
    expect(await inst.exited).toBe(exit);
    await Promise.all([inst.stop(), inst.stop()]);
    await inst.stop();
    expect(await containersOf(inst.id)).toHaveLength(0);
    expect(await exists(dir)).toBe(false);

    const other = await startFn('node', 'module.exports = () => 1\n');
    await other.stop();
    expect((await other.exited).reason).toBe('stopped');
    expect(await containersOf(other.id)).toHaveLength(0);
  });

  it('isolation seen from inside: no network, read-only root, writable /tmp, uid 65534, clean env, only its own code', async () => {
    process.env.FAASD_TEST_SECRET = 's3cret';
    onTestFinished(() => {
      delete process.env.FAASD_TEST_SECRET;
    });
    const otherCode = await codeDir({ 'main.py': 'SECRET = "other function"\n' });
    const probe = `
import errno, os, socket

def attempt(fn):
    try:
        fn()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e.errno, int) and e.errno > 0 else type(e).__name__
    except Exception as e:
        return type(e).__name__

def connect(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
    finally:
        s.close()

def write(p):
    with open(p, "w") as f:
        f.write("x")

def tmp():
    write("/tmp/probe.txt")
    with open("/tmp/probe.txt") as f:
        assert f.read() == "x"

def handle(request):
    paths = request.get_json()
    status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
    return {
        "interfaces": sorted(name for _, name in socket.if_nameindex()),
        "connect_public": attempt(lambda: connect("1.1.1.1", 53)),
        "connect_bridge_gateway": attempt(lambda: connect("172.17.0.1", 80)),
        "connect_loopback": attempt(lambda: connect("127.0.0.1", 8000)),
        "dns": attempt(lambda: socket.getaddrinfo("example.com", 80)),
        "write_etc": attempt(lambda: write("/etc/faasd-probe")),
        "write_usr": attempt(lambda: write("/usr/faasd-probe")),
        "write_root": attempt(lambda: write("/faasd-probe")),
        "write_tmp": attempt(tmp),
        "write_function": attempt(lambda: write("/function/new.py")),
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
        "cap_eff": status["CapEff"].strip(), "cap_bnd": status["CapBnd"].strip(), "no_new_privs": status["NoNewPrivs"].strip(),
        "env": dict(os.environ),
        "function_files": sorted(os.listdir("/function")),
        "other_code_visible": os.path.exists(paths["other"]),
        "run_root_visible": os.path.exists(paths["runRoot"]),
        "repo_visible": os.path.exists(paths["repo"]),
        "docker_socket": [p for p in ("/var/run/docker.sock", "/run/docker.sock") if os.path.exists(p)],
        "list_run_faas": attempt(lambda: os.listdir("/run/faas")),
        "mounts": [line.split()[4] for line in open("/proc/self/mountinfo")],
    }
`;
    const inst = await startFn('python', probe, { environment: { GREETING: 'hi' } });
    const res = await invoke(inst, { other: otherCode, runRoot, repo: RUNTIMES_DIR });
    const r = json(res) as Record<string, unknown>;
    // Network: only loopback, nothing reachable.
    expect(r.interfaces).toEqual(['lo']);
    expect(r.connect_public).not.toBe('ok');
    expect(r.connect_bridge_gateway).not.toBe('ok');
    expect(r.connect_loopback).toBe('ECONNREFUSED');
    expect(r.dns).not.toBe('ok');
    // Filesystem: read-only root and code, writable /tmp.
    expect(r.write_etc).toBe('EROFS');
    expect(r.write_usr).toBe('EROFS');
    expect(r.write_root).toBe('EROFS');
    expect(r.write_tmp).toBe('ok');
    expect(r.write_function).toBe('EROFS');
    // Identity and privileges.
    expect(r).toMatchObject({ uid: 65534, euid: 65534, gid: 65534, cap_eff: '0000000000000000', cap_bnd: '0000000000000000', no_new_privs: '1' });
    // Supplementary groups: none but its own (the engine adds the primary group).
    expect((r.groups as number[]).filter((g) => g !== 65534)).toEqual([]);
    // Environment: the clean set plus the function's own, nothing of the daemon's.
    const env = r.env as Record<string, string>;
    expect(env.FAASD_TEST_SECRET).toBeUndefined();
    expect(JSON.stringify(env)).not.toContain('s3cret');
    expect(env.GREETING).toBe('hi');
    expect(env.HOME).toBe('/tmp');
    // FAASD_SECRETS_DIR: where its secret files are (a path, never a value).
    const allowed = new Set(['FAAS_SOCKET', 'FAASD_SECRETS_DIR', 'PATH', 'HOME', 'LANG', 'HOSTNAME', 'GREETING', 'PYTHONDONTWRITEBYTECODE', 'PYTHONUNBUFFERED', 'PYTHONNOUSERSITE']);
    expect(Object.keys(env).filter((k) => !allowed.has(k))).toEqual([]);
    // Only its own code; no other function's directory, no host paths, no Docker socket.
    expect(r.function_files).toEqual(['main.py']);
    expect(r).toMatchObject({ other_code_visible: false, run_root_visible: false, repo_visible: false, docker_socket: [] });
    // The socket directory is 0711: usable, not listable.
    expect(r.list_run_faas).toBe('EACCES');
    const mounts = r.mounts as string[];
    for (const m of ['/run/faas', '/opt/faas/runtime', '/function', '/tmp']) expect(mounts).toContain(m);
    const unexpected = mounts.filter(
      (m) =>
        ![
          '/',
          '/run/faas',
          '/opt/faas/runtime',
          '/function',
          '/tmp',
          '/var/faasd/secrets',
          '/var/openfaas/secrets',
          '/etc/resolv.conf',
          '/etc/hostname',
          '/etc/hosts',
          '/sbin/docker-init',
          '/dev',
          '/proc',
          '/sys',
        ].includes(m) && !/^\/(proc|dev|sys)\//.test(m),
    );
    expect(unexpected).toEqual([]);
  });

  it('hardening flags as the engine reports them (none and bridge networks)', async () => {
    const inst = await startFn('python', 'def handle(r):\n    return 1\n', { memoryBytes: 64 * MiB, pidsLimit: 32, cpus: 0.5, functionName: 'hardened', version: 7 });
    const info = await docker.getContainer(inst.containerId!).inspect();
    expect(info.Name).toBe(`/faasd-${inst.id}`);
    expect(info.HostConfig).toMatchObject({
      NetworkMode: 'none',
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Memory: 64 * MiB,
      MemorySwap: 64 * MiB,
      PidsLimit: 32,
      NanoCpus: 5e8,
      Init: true,
      AutoRemove: false,
      Privileged: false,
      Tmpfs: { '/tmp': 'rw,nosuid,nodev,size=64m' },
    });
    expect(info.Config.User).toBe('65534:65534');
    expect(info.Config.Labels).toMatchObject({ 'faasd.managed': 'true', 'faasd.function': 'hardened', 'faasd.instance': inst.id, 'faasd.daemon': daemonId });
    expect(info.Config.Entrypoint).toEqual(['/usr/bin/python3']);
    expect(info.Config.Cmd).toEqual(['/opt/faas/runtime/shim.py']);
    const env = info.Config.Env;
    expect(env).toContain('FAAS_SOCKET=/run/faas/shim.sock');
    expect(env).toContain('HOME=/tmp');
    expect(env.join('\n')).not.toContain('s3cret');
    const mounts = info.Mounts.map((m) => ({ type: m.Type, dest: m.Destination, rw: m.RW })).sort((a, b) => a.dest.localeCompare(b.dest));
    expect(mounts).toEqual([
      { type: 'bind', dest: '/function', rw: false },
      { type: 'bind', dest: '/opt/faas/runtime', rw: false },
      { type: 'bind', dest: '/run/faas', rw: false },
      { type: 'bind', dest: '/var/faasd/secrets', rw: false },
      { type: 'bind', dest: '/var/openfaas/secrets', rw: false },
    ]);
    expect(JSON.stringify(info.Mounts)).not.toContain('docker.sock');
    expect(json(await invoke(inst))).toBe(1);

    const bridged = await startFn('node', 'module.exports = () => 2\n', { network: 'bridge' });
    const binfo = await docker.getContainer(bridged.containerId!).inspect();
    expect(binfo.HostConfig.NetworkMode).toBe('bridge');
    expect(binfo.HostConfig.ReadonlyRootfs).toBe(true);
    expect(binfo.Config.Entrypoint).toEqual(['/usr/bin/node']);
    expect(json(await invoke(bridged))).toBe(2);
  });

  it('usage() reads the cgroup: positive memory and CPU time', async () => {
    const inst = await startFn('python', 'def handle(r):\n    return sum(range(200000))\n');
    await invoke(inst);
    const u = await inst.usage();
    expect(u).not.toBeNull();
    expect(u!.memoryBytes).toBeGreaterThan(MiB);
    expect(u!.memoryBytes).toBeLessThan(128 * MiB);
    expect(u!.cpuSeconds).toBeGreaterThan(0);
    await inst.stop();
    expect(await inst.usage()).toBeNull();
  });

  it('removeOrphans removes only containers labelled with this daemon id', async () => {
    const orphanDaemon = `orphans-${runId}`;
    const make = (labels: Record<string, string>) => docker.createContainer({ Image: IMAGES.python, Cmd: ['/usr/bin/python3', '-c', 'pass'], Labels: labels, HostConfig: { NetworkMode: 'none' } });
    const mine = await make({ 'faasd.managed': 'true', 'faasd.daemon': orphanDaemon, 'faasd.instance': `orphan-${runId}` });
    const unlabelled = await make({});
    const foreign = await make({ 'faasd.managed': 'true', 'faasd.daemon': `someone-else-${runId}` });
    onTestFinished(async () => {
      for (const c of [mine, unlabelled, foreign]) await c.remove({ force: true }).catch(() => undefined);
    });
    await mine.start(); // a running one too: force-removed
    expect(await removeOrphans(docker, orphanDaemon, logger)).toBe(1);
    await expect(mine.inspect()).rejects.toMatchObject({ statusCode: 404 });
    expect((await unlabelled.inspect()).Id).toBe(unlabelled.id);
    expect((await foreign.inspect()).Id).toBe(foreign.id);
    expect(await removeOrphans(docker, orphanDaemon, logger)).toBe(0);
  });

  it('prepare() of an image that is neither local nor pullable throws DEPLOY_FAILED naming it', async () => {
    const image = `faasd-test-missing/nope-${runId}:never`;
    const d = newDriver({ images: { python: image, node: IMAGES.node } });
    const err = await d.prepare('python').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DEPLOY_FAILED', details: { image } });
    expect((err as Error).message).toContain(`image ${image} for python functions is not available`);
    // start() prepares too, with the same answer, and leaves nothing behind.
    const dir = await codeDir({ 'main.py': 'def handle(r):\n    return 1\n' });
    const s = spec('python', dir);
    await expect(d.start(s)).rejects.toMatchObject({ code: 'DEPLOY_FAILED' });
    expect(await exists(path.join(runRoot, s.instanceId))).toBe(false);
  });

  it('health() reports the engine and each image, from a background probe; close() stops every instance and refuses new starts', async () => {
    const d = newDriver();
    await vi.waitFor(() => expect(d.health()).toMatchObject({ ok: true, detail: expect.stringMatching(/^docker \d+\.\d+/) }));
    expect(d.health().images).toEqual([
      { runtime: 'python', image: IMAGES.python, state: 'present', detail: 'present locally' },
      { runtime: 'node', image: IMAGES.node, state: 'present', detail: 'present locally' },
    ]);
    const a = await startFn('python', 'def handle(r):\n    return 1\n', {}, d);
    const b = await startFn('node', 'module.exports = () => 1\n', {}, d);
    await d.close();
    expect((await a.exited).reason).toBe('stopped');
    expect((await b.exited).reason).toBe('stopped');
    expect(await containersOf(a.id)).toHaveLength(0);
    expect(await containersOf(b.id)).toHaveLength(0);
    await expect(d.start(spec('python', '/nonexistent'))).rejects.toMatchObject({ code: 'DRAINING' });
    expect((await d.health()).ok).toBe(false);
  });
});
