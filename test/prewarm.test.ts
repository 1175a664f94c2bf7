// Pre-warmed generic instances: a cold start takes one and only pays for init.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

const PREWARM = { process: { python: 1, node: 1 }, container: { python: 0, node: 0 } };

if (!isRoot) console.warn('prewarm suite skipped: strict instances need root');

describe.skipIf(!isRoot)('pre-warmed instances (process mode)', () => {
  it('the first call to a new function is served by a pre-warmed instance, and the pool refills', async () => {
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await vi.waitFor(() => expect([d.manager.prewarmed('process', 'python'), d.manager.prewarmed('process', 'node')], 'the generic pools fill').toEqual([1, 1]), { timeout: 10_000 });
    await deploy(d, 'py-pw', 'import os\ndef handle(r):\n    return {"v": os.environ.get("GREETING"), "files": sorted(os.listdir("/function"))}', { config: { environment: { GREETING: 'hi' } } });
    const res = await invoke(d, 'py-pw', {});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-faas-start']).toBe('prewarmed');
    expect(res.headers['x-faas-cold-start']).toBe('true');
    expect(res.json()).toEqual({ v: 'hi', files: ['main.py'] });
    const warm = await invoke(d, 'py-pw', {});
    expect(warm.headers['x-faas-start']).toBe('warm');
    await deploy(d, 'js-pw', 'exports.handler = async () => "js"', { runtime: 'node' });
    const js = await invoke(d, 'js-pw');
    expect(js.headers['x-faas-start']).toBe('prewarmed');
    expect(js.json()).toBe('js');
    // Refilled, and grown by the demand just seen (one take each: the configured 1 + 1).
    await vi.waitFor(() => expect([d.manager.prewarmed('process', 'python'), d.manager.prewarmed('process', 'node')], 'the generic pools refill').toEqual([2, 2]), { timeout: 10_000 });
    const stats = (await d.app.inject({ method: 'GET', url: '/stats', headers: { authorization: 'Bearer demo-key' } })).json();
    expect(stats.invocations).toMatchObject({ cold_starts: 2, prewarmed_starts: 2 });
  });

  it('a multi-file function (helpers in subdirectories) is served by a pre-warmed instance with all its files', async () => {
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await expect.poll(() => [d.manager.prewarmed('process', 'python'), d.manager.prewarmed('process', 'node')], { message: 'the generic pools fill', timeout: 10_000 }).toEqual([1, 1]);
    const py = await d.app.inject({
      method: 'POST',
      url: '/functions',
      headers: { authorization: 'Bearer demo-key' },
      payload: {
        name: 'py-multi',
        files: {
          'main.py': 'from lib.deep.words import shout\ndef handle(r):\n    return shout("pre")',
          'lib/__init__.py': '',
          'lib/deep/__init__.py': '',
          'lib/deep/words.py': 'def shout(s):\n    return s.upper()',
        },
      },
    });
    expect(py.statusCode, py.body).toBe(201);
    const res = await invoke(d, 'py-multi', {});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-faas-start']).toBe('prewarmed');
    expect(res.json()).toBe('PRE');
    const js = await d.app.inject({
      method: 'POST',
      url: '/functions',
      headers: { authorization: 'Bearer demo-key' },
      payload: { name: 'js-multi', runtime: 'node', files: { 'index.js': "const { n } = require('./src/n');\nexports.handler = async () => n", 'src/n.js': 'exports.n = 42;' } },
    });
    expect(js.statusCode, js.body).toBe(201);
    const jres = await invoke(d, 'js-multi');
    expect(jres.headers['x-faas-start']).toBe('prewarmed');
    expect(jres.json()).toBe(42);
  });

  it('a function with its own dependencies gets a normal cold start', async () => {
    const dir = tempDir();
    const pkg = path.join(dir, 'dep');
    fs.mkdirSync(pkg);
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'dep', version: '1.0.0' }));
    fs.writeFileSync(path.join(pkg, 'index.js'), 'module.exports = 5');
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await expect.poll(() => d.manager.prewarmed('process', 'node'), { message: 'the generic pool fills', timeout: 10_000 }).toBe(1);
    await deploy(d, 'with-deps', "exports.handler = async () => require('dep')", { runtime: 'node', config: { dependencies: [pkg] } });
    const res = await invoke(d, 'with-deps');
    expect(res.json()).toBe(5);
    expect(res.headers['x-faas-start']).toBe('cold');
    expect(d.manager.prewarmed('process', 'node')).toBe(1);
  });

  it('a pre-warmed instance specialised for one function never serves another', async () => {
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await expect.poll(() => d.manager.prewarmed('process', 'python'), { message: 'the generic pool fills', timeout: 10_000 }).toBe(1);
    await deploy(d, 'first', 'def handle(r):\n    return "first"');
    await deploy(d, 'second', 'def handle(r):\n    return "second"');
    const a = await invoke(d, 'first', {});
    const b = await invoke(d, 'second', {});
    expect(a.json()).toBe('first');
    expect(b.json()).toBe('second');
    expect(a.headers['x-faas-instance-id']).not.toBe(b.headers['x-faas-instance-id']);
    expect(d.manager.instancesOf('first').map((i) => i.id)).toEqual([a.headers['x-faas-instance-id']]);
  });
});

const docker = await import('../src/system/docker-probe.js').then((m) => m.probeDocker());
const IMAGES = { python: 'faasd-runtime/python:3.11-local', node: 'faasd-runtime/node:20-local' };
if (!docker.ok) console.warn(`container prewarm suite skipped: no Docker engine (${docker.detail})`);

describe.skipIf(!docker.ok)('pre-warmed instances (container mode)', () => {
  const CPREWARM = { process: { python: 0, node: 0 }, container: { python: 1, node: 1 } };

  it('a new container function is served by a pre-warmed container given its limits, and the pool refills', async () => {
    const d = await startTestDaemon({ config: { prewarm: CPREWARM, system: { container_images: IMAGES } } });
    await vi.waitFor(() => expect([d.manager.prewarmed('container', 'python'), d.manager.prewarmed('container', 'node')], 'generic containers').toEqual([1, 1]), { timeout: 30_000 });
    await deploy(d, 'cpw', 'import os\ndef handle(r):\n    return sorted(os.listdir("/function"))', { config: { execution_mode: 'container', memory: '96Mi' } });
    const res = await invoke(d, 'cpw', {});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-faas-start']).toBe('prewarmed');
    expect(res.json()).toEqual(['main.py']);
    const { default: Docker } = await import('dockerode');
    const cid = d.manager.listInstances().find((i) => i.function === 'cpw')!.container_id!;
    const info = await new Docker().getContainer(cid).inspect();
    expect(info.HostConfig.Memory).toBe(96 * 1024 * 1024);
    expect(info.HostConfig.MemorySwap).toBe(96 * 1024 * 1024);
    await deploy(d, 'cpw-js', 'exports.handler = async () => "js"', { runtime: 'node', config: { execution_mode: 'container' } });
    const js = await invoke(d, 'cpw-js');
    expect(js.headers['x-faas-start']).toBe('prewarmed');
    expect(js.json()).toBe('js');
    await expect.poll(() => d.manager.prewarmed('container', 'python'), { message: 'the pool refills', timeout: 30_000 }).toBe(1);
  }, 60_000);

  it('a multi-file container function gets its subdirectories in a pre-warmed container', async () => {
    const d = await startTestDaemon({ config: { prewarm: CPREWARM, system: { container_images: IMAGES } } });
    await expect.poll(() => d.manager.prewarmed('container', 'python'), { message: 'a generic container', timeout: 30_000 }).toBe(1);
    const res = await d.app.inject({
      method: 'POST',
      url: '/functions',
      headers: { authorization: 'Bearer demo-key' },
      payload: { name: 'cmulti', files: { 'main.py': 'from pkg.m import v\ndef handle(r):\n    return v', 'pkg/__init__.py': '', 'pkg/m.py': 'v = "deep"' }, config: { execution_mode: 'container' } },
    });
    expect(res.statusCode, res.body).toBe(201);
    const call = await invoke(d, 'cmulti', {});
    expect(call.statusCode, call.body).toBe(200);
    expect(call.headers['x-faas-start']).toBe('prewarmed');
    expect(call.json()).toBe('deep');
  }, 60_000);

  it('a specialised container obeys its memory limit (400 MB under 64Mi is 502 OutOfMemory)', async () => {
    const d = await startTestDaemon({ config: { prewarm: CPREWARM, system: { container_images: IMAGES } } });
    await expect.poll(() => d.manager.prewarmed('container', 'python'), { message: 'a generic container', timeout: 30_000 }).toBe(1);
    await deploy(d, 'chog', 'def handle(r):\n    x = bytearray(400 * 1024 * 1024)\n    return len(x)', { config: { execution_mode: 'container', memory: '64Mi' } });
    const res = await invoke(d, 'chog', {});
    expect(res.headers['x-faas-start']).toBe('prewarmed');
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('OutOfMemory');
  }, 60_000);

  it('network: bridge gets a normal cold start', async () => {
    const d = await startTestDaemon({ config: { prewarm: CPREWARM, system: { container_images: IMAGES } } });
    await expect.poll(() => d.manager.prewarmed('container', 'python'), { message: 'a generic container', timeout: 30_000 }).toBe(1);
    await deploy(d, 'cbridge', 'def handle(r):\n    return 1', { config: { execution_mode: 'container', network: 'bridge' } });
    const res = await invoke(d, 'cbridge', {});
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-faas-start']).toBe('cold');
  }, 60_000);
});
