// Pre-warmed generic instances: a cold start takes one and only pays for init.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, invoke, isRoot, waitFor } from './helpers/functions.js';

const PREWARM = { process: { python: 1, node: 1 }, container: { python: 0, node: 0 } };

if (!isRoot) console.warn('prewarm suite skipped: strict instances need root');

describe.skipIf(!isRoot)('pre-warmed instances (process mode)', () => {
  it('the first call to a new function is served by a pre-warmed instance, and the pool refills', async () => {
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await waitFor(() => d.manager.prewarmed('process', 'python') === 1 && d.manager.prewarmed('process', 'node') === 1, 'the generic pools to fill');
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
    await waitFor(() => d.manager.prewarmed('process', 'python') === 1 && d.manager.prewarmed('process', 'node') === 1, 'the generic pools to refill');
    const stats = (await d.app.inject({ method: 'GET', url: '/stats', headers: { authorization: 'Bearer demo-key' } })).json();
    expect(stats.invocations).toMatchObject({ cold_starts: 2, prewarmed_starts: 2 });
  });

  it('a function with its own dependencies gets a normal cold start', async () => {
    const dir = tempDir();
    const pkg = path.join(dir, 'dep');
    fs.mkdirSync(pkg);
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'dep', version: '1.0.0' }));
    fs.writeFileSync(path.join(pkg, 'index.js'), 'module.exports = 5');
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await waitFor(() => d.manager.prewarmed('process', 'node') === 1, 'the generic pool to fill');
    await deploy(d, 'with-deps', "exports.handler = async () => require('dep')", { runtime: 'node', config: { dependencies: [pkg] } });
    const res = await invoke(d, 'with-deps');
    expect(res.json()).toBe(5);
    expect(res.headers['x-faas-start']).toBe('cold');
    expect(d.manager.prewarmed('process', 'node')).toBe(1);
  });

  it('a pre-warmed instance specialised for one function never serves another', async () => {
    const d = await startTestDaemon({ config: { prewarm: PREWARM } });
    await waitFor(() => d.manager.prewarmed('process', 'python') === 1, 'the generic pool to fill');
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
