// Container mode end to end through the daemon, against a real Docker engine.
import { spawn } from 'node:child_process';
import net from 'node:net';
import path from 'node:path';
import Docker from 'dockerode';
import pino from 'pino';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { daemonId } from '../src/execution/setup.js';
import { probeDocker } from '../src/system/docker-probe.js';
import { DEMO, startConfiguredDaemon, startTestDaemon, tempDir, writeConfig } from './helpers/daemon.js';
import { deploy, invoke } from './helpers/functions.js';

const docker = new Docker();
const engine = await probeDocker(docker);
const required = process.env.FAAS_REQUIRE_DOCKER === '1';
const IMAGES = {
  python: process.env.FAAS_TEST_PYTHON_IMAGE ?? 'faasd-runtime/python:3.11-local',
  node: process.env.FAAS_TEST_NODE_IMAGE ?? 'faasd-runtime/node:20-local',
};
const containerSystem = { default_mode: 'container', container_images: IMAGES, cold_start_timeout: 30 };

if (!engine.ok && !required) console.warn(`container-mode suite skipped: no Docker engine (${engine.detail}); CI sets FAAS_REQUIRE_DOCKER=1`);

describe('container engine', () => {
  it.runIf(required)('is reachable (FAAS_REQUIRE_DOCKER=1)', () => {
    expect(engine.ok, engine.detail).toBe(true);
  });
});

async function containersOf(label: string, value: string) {
  return docker.listContainers({ all: true, filters: { label: [`${label}=${value}`] } });
}

describe.skipIf(!engine.ok)('container mode through the daemon', () => {
  it('runs the quick start with "execution_mode": "container"', async () => {
    const d = await startTestDaemon({ config: { system: { container_images: IMAGES } } });
    await deploy(d, 'hello-world', 'def handle(request):\n    return {"message": "Hello, World!", "data": request.get_json()}', {
      config: { execution_mode: 'container', timeout: 30, memory: '128Mi' },
    });
    const res = await invoke(d, 'hello-world', { name: 'AITest', test: true });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ message: 'Hello, World!', data: { name: 'AITest', test: true } });
    expect(res.headers['x-faas-cold-start']).toBe('true');
    const again = await invoke(d, 'hello-world', {});
    expect(again.headers['x-faas-cold-start']).toBe('false');
    const list = (await d.app.inject({ method: 'GET', url: '/instances', headers: DEMO })).json().instances;
    expect(list[0]).toMatchObject({ function: 'hello-world', mode: 'container', state: 'idle' });
    expect(list[0].container_id).toMatch(/^[0-9a-f]{12,}$/);
  });

  it('runs JavaScript with the Lambda convention and function errors', async () => {
    const d = await startTestDaemon({ config: { system: containerSystem } });
    await deploy(d, 'js-c', "exports.handler = async (e) => e.json().fail ? (() => { throw new Error('bad js') })() : ({ statusCode: 202, headers: { 'x-c': '1' }, body: e.path })", {
      runtime: 'node',
    });
    const res = await invoke(d, 'js-c', { fail: false }, { path: '/a/b' });
    expect(res.statusCode, res.body).toBe(202);
    expect(res.headers['x-c']).toBe('1');
    expect(res.body).toBe('/a/b');
    const err = await invoke(d, 'js-c', { fail: true });
    expect(err.statusCode).toBe(500);
    expect(err.json()).toMatchObject({ error: 'FunctionError', message: expect.stringContaining('bad js') });
  });

  it('16 parallel calls with max_instances 4 are answered by 2 to 4 containers', async () => {
    const d = await startTestDaemon({ config: { system: containerSystem } });
    await deploy(d, 'slow-c', 'import time\ndef handle(r):\n    time.sleep(0.3)\n    return 1', { config: { max_instances: 4 } });
    const results = await Promise.all(Array.from({ length: 16 }, () => invoke(d, 'slow-c', {})));
    expect(results.map((r) => r.statusCode)).toEqual(Array(16).fill(200));
    const ids = new Set(results.map((r) => r.headers['x-faas-instance-id']));
    expect(ids.size).toBeGreaterThan(1);
    expect(ids.size).toBeLessThanOrEqual(4);
  }, 60_000);

  it('timeout: 504, the container is removed, the next call works', async () => {
    const d = await startTestDaemon({ config: { system: containerSystem } });
    await deploy(d, 'sleepy-c', 'import time\ndef handle(r):\n    if r.get_json().get("sleep"):\n        time.sleep(30)\n    return "awake"', { config: { timeout: 1 } });
    const first = await invoke(d, 'sleepy-c', { sleep: false });
    const res = await invoke(d, 'sleepy-c', { sleep: true });
    expect(res.statusCode).toBe(504);
    expect(res.json().error).toBe('Timeout');
    const id = first.headers['x-faas-instance-id'] as string;
    await expect.poll(async () => (await containersOf('faasd.instance', id)).length, { message: 'the timed-out container is removed', timeout: 10_000 }).toBe(0);
    expect((await invoke(d, 'sleepy-c', { sleep: false })).statusCode).toBe(200);
  }, 60_000);

  it('OOM: 400 MB under 64Mi is 502 OutOfMemory, then the next call works', async () => {
    const d = await startTestDaemon({ config: { system: containerSystem } });
    await deploy(d, 'hog-c', 'def handle(r):\n    if r.get_json().get("hog"):\n        x = bytearray(400 * 1024 * 1024)\n        return len(x)\n    return "small"', { config: { memory: '64Mi' } });
    const res = await invoke(d, 'hog-c', { hog: true });
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('OutOfMemory');
    expect((await invoke(d, 'hog-c', { hog: false })).json()).toBe('small');
  }, 60_000);

  it('crash: 502 InstanceCrashed, then recovery', async () => {
    const d = await startTestDaemon({ config: { system: containerSystem } });
    await deploy(d, 'crash-c', 'import os\ndef handle(r):\n    if r.get_json().get("die"):\n        os._exit(9)\n    return "ok"');
    const res = await invoke(d, 'crash-c', { die: true });
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('InstanceCrashed');
    expect((await invoke(d, 'crash-c', { die: false })).json()).toBe('ok');
  }, 60_000);

  // The same probe against a container started for the function, and against a pre-warmed
  // generic container specialised for it (issue 7: specialised instances are isolated alike).
  it.each([
    ['a cold-started container', 'cold', { process: { python: 0, node: 0 }, container: { python: 0, node: 0 } }],
    ['a pre-warmed container specialised for the function', 'prewarmed', { process: { python: 0, node: 0 }, container: { python: 1, node: 0 } }],
  ] as const)(
    'isolation from inside %s: no network, read-only root, uid 65534, no caller key, no daemon env, no other function',
    async (_what, startKind, prewarm) => {
      process.env.FAASD_SECRET_MARKER = 'container-do-not-leak';
      const d = await startTestDaemon({ config: { system: containerSystem, prewarm } });
      if (startKind === 'prewarmed') await expect.poll(() => d.manager.prewarmed('container', 'python'), { message: 'a generic container', timeout: 30_000 }).toBe(1);
      await deploy(d, 'other-c', 'def handle(r):\n    return 1');
      await deploy(
        d,
        'probe-c',
        `import os, socket
def handle(request):
    def can_write(p):
        try:
            open(p, 'w').write('x'); return True
        except Exception:
            return False
    def can_connect():
        s = socket.socket(); s.settimeout(1)
        try:
            s.connect(('1.1.1.1', 53)); return True
        except Exception:
            return False
    return {'uid': os.getuid(), 'etc': can_write('/etc/x'), 'usr': can_write('/usr/x'), 'code': can_write('/function/x'),
            'tmp': can_write('/tmp/x'), 'net': can_connect(), 'ifaces': sorted(os.listdir('/sys/class/net')),
            'env': dict(os.environ), 'auth': request.get_header('authorization'), 'fn': sorted(os.listdir('/function')),
            'other': os.path.exists('${''}/function/../other-c')}
`,
      );
      const res = await invoke(d, 'probe-c', {});
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['x-faas-start']).toBe(startKind);
      const seen = res.json();
      expect(seen).toMatchObject({ uid: 65534, etc: false, usr: false, code: false, tmp: true, net: false, auth: null, other: false });
      expect(seen.ifaces).toEqual(['lo']);
      expect(seen.fn).toContain('main.py');
      expect(JSON.stringify(seen.env)).not.toContain('container-do-not-leak');
      const cid = d.manager.listInstances().find((i) => i.function === 'probe-c')!.container_id!;
      const info = await docker.getContainer(cid).inspect();
      expect(info.HostConfig.ReadonlyRootfs).toBe(true);
      expect(info.HostConfig.NetworkMode).toBe('none');
      expect(info.HostConfig.CapDrop).toEqual(['ALL']);
      expect(info.HostConfig.SecurityOpt).toContain('no-new-privileges');
      expect(info.Config.User).toBe('65534:65534');
      expect(info.HostConfig.Memory).toBe(128 * 1024 * 1024);
      expect(info.HostConfig.MemorySwap).toBe(128 * 1024 * 1024);
      expect(info.Config.Labels['faasd.managed']).toBe('true');
      if (startKind === 'cold') expect(info.Config.Labels['faasd.function']).toBe('probe-c');
      else {
        // Labels are fixed when the generic container is created; it is renamed after its instance.
        expect(info.Config.Labels['faasd.prewarmed']).toBe('true');
        const instanceId = d.manager.listInstances().find((i) => i.function === 'probe-c')!.id;
        await expect.poll(async () => (await docker.getContainer(cid).inspect()).Name, { message: 'the rename', timeout: 10_000 }).toBe(`/faasd-${instanceId}`);
      }
      expect((info.HostConfig.Binds ?? []).concat((info.Mounts ?? []).map((m) => m.Source)).join(' ')).not.toContain('docker.sock');
    },
    60_000,
  );

  it('an engine that answers only after boot brings container mode up then, without a restart', async () => {
    // The daemon's engine address is a socket nobody listens on at boot; later a plain
    // Unix-socket relay to the real engine appears there, as a late-starting dockerd would.
    const dir = tempDir();
    const sock = path.join(dir, 'docker.sock');
    const d = await startTestDaemon({ config: { system: { container_images: IMAGES } }, start: { docker: new Docker({ socketPath: sock }), engineRetryMs: 200 } });
    const code = 'def handle(r):\n    return "late"';
    const refused = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'late-c', runtime: 'python3.11', code, config: { execution_mode: 'container' } } });
    expect(refused.statusCode).toBe(422);
    expect(refused.json().message).toMatch(/container mode is not available/);

    const open = new Set<net.Socket>();
    const relay = net.createServer((client) => {
      const engine = net.connect('/var/run/docker.sock');
      for (const s of [client, engine]) {
        open.add(s);
        s.on('close', () => open.delete(s));
      }
      client.pipe(engine).pipe(client);
      client.on('error', () => engine.destroy());
      engine.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(sock, resolve));
    // Registered after the daemon's own close: runs first, so cut the daemon's engine
    // connections (it keeps one per container) rather than wait for them.
    onTestFinished(async () => {
      await d.close();
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    });

    await expect.poll(async () => (await d.app.inject({ method: 'GET', url: '/health' })).json().drivers.container.ok, { message: 'container mode comes up', timeout: 20_000 }).toBe(true);
    await deploy(d, 'late-c', code, { config: { execution_mode: 'container' } });
    const res = await invoke(d, 'late-c', {});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toBe('late');
  }, 60_000);

  it('a restarted daemon removes its orphaned containers and leaves others alone', async () => {
    const dir = tempDir();
    const file = writeConfig(dir, { system: containerSystem, functions: { kept: { code: 'def handle(r):\n    return 1', min_instances: 1 } } });
    const config = loadConfig({ file, env: {} });
    const id = daemonId(config);
    // A container faasd did not create, with a look-alike label of another daemon.
    const foreign = await docker.createContainer({
      Image: IMAGES.python,
      Cmd: ['/usr/bin/python3', '-c', 'import time; time.sleep(60)'],
      Labels: { 'faasd.managed': 'true', 'faasd.daemon': 'someone-else' },
      HostConfig: { NetworkMode: 'none' },
    });
    onTestFinished(() => foreign.remove({ force: true }).catch(() => undefined));
    await foreign.start();

    // A daemon that crashes: the real CLI, killed with SIGKILL once its min instance runs.
    const first = spawn(process.execPath, [path.resolve(__dirname, '..', 'bin', 'faasd.js'), '-c', file, '--port', '0'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/root' },
      stdio: 'ignore',
    });
    onTestFinished(() => void first.kill('SIGKILL'));
    const orphan = await vi.waitFor(
      async () => {
        const running = (await containersOf('faasd.daemon', id)).find((c) => c.State === 'running');
        expect(running, 'the min instance runs').toBeDefined();
        return running!;
      },
      { timeout: 30_000 },
    );
    const gone = new Promise((r) => first.once('exit', r));
    first.kill('SIGKILL');
    await gone;

    await startConfiguredDaemon(config);
    const after = await containersOf('faasd.daemon', id);
    expect(after.map((c) => c.Id)).not.toContain(orphan.Id);
    expect((await foreign.inspect()).State.Running).toBe(true);
  }, 90_000);
});

describe('container mode unavailable', () => {
  it('FAAS_DISABLE_CONTAINER makes container deploys fail with 422 while process mode works, and /health says so', async () => {
    const d = await startTestDaemon({ env: { FAAS_DISABLE_CONTAINER: '1' } });
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'c', code: 'def handle(r):\n    return 1', config: { execution_mode: 'container' } } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'DeployFailed', field: 'config.execution_mode' });
    expect(res.json().message).toContain('FAAS_DISABLE_CONTAINER');
    const health = (await d.app.inject({ method: 'GET', url: '/health' })).json();
    expect(health.drivers.container.ok).toBe(false);
    expect(health.warnings.join(' ')).toContain('container mode unavailable');
    expect((await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'p', code: 'def handle(r):\n    return 1' } })).statusCode).toBe(201);
  });

  it.skipIf(!engine.ok)(
    'a missing image that cannot be pulled fails the deploy with 422 naming the image',
    async () => {
      const d = await startTestDaemon({ config: { system: { container_images: { python: 'faasd-test/does-not-exist:1', node: IMAGES.node } } } });
      const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'noimg', code: 'def handle(r):\n    return 1', config: { execution_mode: 'container' } } });
      expect(res.statusCode).toBe(422);
      expect(res.json().message).toContain('faasd-test/does-not-exist:1');
    },
    60_000,
  );
});

/** A Unix-socket relay to the real engine that can be frozen: a hung dockerd, for real. */
async function engineRelay(dir: string) {
  const sock = path.join(dir, 'docker.sock');
  const open = new Set<net.Socket>();
  const state = { frozen: false, requests: [] as string[] };
  const relay = net.createServer((client) => {
    const upstream = net.connect('/var/run/docker.sock');
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (d: Buffer) => {
      // Request lines ("GET /v1.47/_ping HTTP/1.1"), counted; a frozen engine never answers.
      for (const m of d.toString('latin1').matchAll(/^(GET|POST|DELETE|PUT|HEAD) (\S+) HTTP\/1\.[01]$/gm)) state.requests.push(`${m[1]} ${m[2]}`);
      if (!state.frozen) upstream.write(d);
    });
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => relay.listen(sock, resolve));
  return {
    docker: new Docker({ socketPath: sock }),
    state,
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    },
  };
}

describe.skipIf(!engine.ok)('/health and the engine', () => {
  it('/health never calls the engine: it reads what a background probe found', async () => {
    const relay = await engineRelay(tempDir());
    const d = await startTestDaemon({ config: { system: { container_images: IMAGES } }, start: { docker: relay.docker, engineProbeMs: 3_600_000 } });
    onTestFinished(async () => {
      await d.close();
      await relay.close();
    });
    await vi.waitFor(() => expect(d.manager.health().container?.images?.length).toBe(2), { timeout: 10_000 });
    const before = relay.state.requests.length;
    for (let i = 0; i < 20; i++) {
      const h = await d.app.inject({ method: 'GET', url: '/health' });
      expect(h.statusCode).toBe(200);
      expect(h.json().drivers.container).toMatchObject({
        ok: true,
        images: [
          { image: IMAGES.python, state: 'present' },
          { image: IMAGES.node, state: 'present' },
        ],
      });
    }
    expect(relay.state.requests.slice(before)).toEqual([]);
  });

  it('a hung engine shows as down in /health, which keeps answering, and as up again when it recovers', async () => {
    const relay = await engineRelay(tempDir());
    const d = await startTestDaemon({ config: { system: { container_images: IMAGES } }, start: { docker: relay.docker, engineProbeMs: 200 } });
    onTestFinished(async () => {
      await d.close();
      await relay.close();
    });
    relay.state.frozen = true;
    await vi.waitFor(
      async () => {
        const h = (await d.app.inject({ method: 'GET', url: '/health' })).json();
        expect(h.drivers.container.ok).toBe(false);
        expect(h.drivers.container.detail).toContain('no answer');
        expect(h.status).toBe('degraded');
      },
      { timeout: 15_000, interval: 100 },
    );
    relay.state.frozen = false;
    await vi.waitFor(async () => expect((await d.app.inject({ method: 'GET', url: '/health' })).json().drivers.container.ok).toBe(true), { timeout: 15_000, interval: 100 });
  }, 40_000);
});

describe.skipIf(!engine.ok)('a runtime image that is not there', () => {
  it('/health names an image that is neither present nor pullable; failed pulls back off and are logged once per streak', async () => {
    const lines: Array<{ msg: string; image?: string; level: number }> = [];
    const logger = pino({ level: 'debug' }, { write: (l: string) => void lines.push(JSON.parse(l)) });
    const dir = tempDir();
    const missing = 'faasd-test/does-not-exist:1';
    const config = loadConfig({
      file: writeConfig(dir, { system: { container_images: { python: missing, node: IMAGES.node } }, prewarm: { process: { python: 0, node: 0 }, container: { python: 1, node: 0 } } }),
      env: {},
    });
    const d = await startConfiguredDaemon(config, { logger });
    await vi.waitFor(
      async () => {
        const h = (await d.app.inject({ method: 'GET', url: '/health' })).json();
        expect(h.drivers.container.images).toContainEqual(expect.objectContaining({ image: missing, state: 'missing' }));
        expect(h.warnings.join('\n')).toContain(missing);
      },
      { timeout: 20_000 },
    );
    // The pre-warm pool keeps asking for the image; within its backoff a deploy fails at once, naming it.
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'noimg', code: 'def handle(r):\n    return 1', config: { execution_mode: 'container' } } });
    expect(res.statusCode).toBe(422);
    expect(res.json().message).toContain(missing);
    await new Promise((r) => setTimeout(r, 4000));
    const about = lines.filter((l) => l.image === missing);
    expect(about.filter((l) => l.msg === 'pulling image')).toHaveLength(1);
    expect(about.filter((l) => l.msg === 'image pull failed; retrying with backoff')).toHaveLength(1);
    expect(about.filter((l) => l.level >= 40)).toHaveLength(1); // one warning for the whole streak
  }, 60_000);
});
