import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO, startTestDaemon, tempDir } from './helpers/daemon.js';
import { isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('registry durability: min_instances at boot skipped: strict instances need root (CI runs it as root)');

describe('registry durability', () => {
  it('a function created through the API is there after the daemon restarts on the same registry', async () => {
    const dir = tempDir();
    const first = await startTestDaemon({ dir });
    const res = await first.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'keeper', code: 'def handle(r):\n    return 1' } });
    expect(res.statusCode).toBe(201);
    await first.app.inject({ method: 'PUT', url: '/functions/keeper', headers: DEMO, payload: { config: { timeout: 7 } } });
    await first.close();

    const second = await startTestDaemon({ dir });
    const got = await second.app.inject({ method: 'GET', url: '/functions/keeper', headers: DEMO });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ name: 'keeper', version: 2, config: { timeout: 7 } });
  });

  it('a lost code directory (wiped /tmp) is rebuilt from the registry at boot', async () => {
    const dir = tempDir();
    const first = await startTestDaemon({ dir });
    await first.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'phoenix', code: 'def handle(r):\n    return 1' } });
    await first.close();
    fs.rmSync(path.join(dir, 'functions'), { recursive: true, force: true });
    const second = await startTestDaemon({ dir });
    expect(fs.readFileSync(path.join(second.config.system.function_storage_path, 'phoenix', 'v1', 'main.py'), 'utf8')).toBe('def handle(r):\n    return 1');
  });

  it('functions declared in the config are upserted at boot with source yaml, and updated when the file changes', async () => {
    const dir = tempDir();
    const decl = (code: string) => ({ functions: { declared: { runtime: 'python3.11', code, timeout: 12, memory: '256Mi' } } });
    const first = await startTestDaemon({ dir, config: decl('def handle(r):\n    return 1') });
    const a = (await first.app.inject({ method: 'GET', url: '/functions/declared', headers: DEMO })).json();
    expect(a).toMatchObject({ version: 1, source: 'yaml', runtime: 'python', config: { timeout: 12, memory: '256Mi' } });
    await first.close();

    const same = await startTestDaemon({ dir, config: decl('def handle(r):\n    return 1') });
    expect((await same.app.inject({ method: 'GET', url: '/functions/declared', headers: DEMO })).json().version).toBe(1);
    await same.close();

    const changed = await startTestDaemon({ dir, config: decl('def handle(r):\n    return 2') });
    expect((await changed.app.inject({ method: 'GET', url: '/functions/declared', headers: DEMO })).json()).toMatchObject({ version: 2, code: 'def handle(r):\n    return 2' });
  });

  it.skipIf(!isRoot)('min_instances of registered functions are warmed at boot', async () => {
    const dir = tempDir();
    const d = await startTestDaemon({ dir, config: { functions: { warm: { code: 'def handle(r):\n    return 1', min_instances: 1 } } } });
    await expect.poll(() => d.manager.instancesOf('warm').map((i) => i.state), { message: 'the min instance is idle', timeout: 10_000 }).toEqual(['idle']);
  });

  it('the registry file is readable by the daemon only and uses WAL', async () => {
    const dir = tempDir();
    const d = await startTestDaemon({ dir });
    expect(fs.statSync(d.config.system.registry_path).mode & 0o077).toBe(0);
    expect(fs.existsSync(`${d.config.system.registry_path}-wal`)).toBe(true);
  });

  it('answers over a real socket', async () => {
    const d = await startTestDaemon({ listen: true });
    const res = await fetch(`${d.url}/functions`, { headers: DEMO });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-faas-request-id')).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('registry list', () => {
  it("a listed function's files are read when first used, and are those of the version it listed", async () => {
    const dir = tempDir();
    const { RegistryStore } = await import('../src/registry/store.js');
    const { defaultConfig } = await import('../src/model/function-model.js');
    const store = new RegistryStore(path.join(dir, 'registry.db'));
    try {
      const now = new Date().toISOString();
      const v1 = {
        name: 'lazy',
        runtime: 'python' as const,
        handler: null,
        code: 'v1',
        files: { 'main.py': Buffer.from('v1'), 'lib/x.py': Buffer.from('x') },
        config: defaultConfig('process'),
        version: 1,
        source: 'api' as const,
        created_at: now,
        updated_at: now,
      };
      store.insert(v1, { createdBy: 'test', change: 'created' });
      const [listed] = store.list();
      store.update({ ...v1, code: 'v2', files: { 'main.py': Buffer.from('v2') }, version: 2 }, 1, { createdBy: 'test', change: 'changed main.py' });
      // Read after the update: still version 1's content, whole.
      expect(listed!.version).toBe(1);
      expect(listed!.code).toBe('v1');
      expect(Object.keys(listed!.files).sort()).toEqual(['lib/x.py', 'main.py']);
      expect(store.list()[0]!.files['main.py']!.toString()).toBe('v2');
      // A copy with new content (as the deployer makes) keeps its own.
      const copy = { ...listed!, code: 'v3' };
      expect(copy.code).toBe('v3');
      expect(listed!.code).toBe('v1');
    } finally {
      store.close();
    }
  });
});
