// Versions: every deploy is kept (who, when, what changed, a digest), rollback makes an old
// version live again as a new one, pinned calls run a retained older version in its own pool,
// and content beyond system.versions_retained is pruned from the registry and the disk.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { DEMO, startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

const v = (n: number) => `def handle(request):\n    return "v${n}"\n`;

async function put(d: Awaited<ReturnType<typeof startTestDaemon>>, name: string, payload: Record<string, unknown>) {
  const res = await d.app.inject({ method: 'PUT', url: `/functions/${name}`, headers: DEMO, payload });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

async function versions(d: Awaited<ReturnType<typeof startTestDaemon>>, name: string) {
  const res = await d.app.inject({ method: 'GET', url: `/functions/${name}/versions`, headers: DEMO });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

if (!isRoot) console.warn('versions suite skipped: functions run in strict sandboxes, which need root');

describe.skipIf(!isRoot)('versions and rollback', () => {
  it('lists every version with who made it, what changed and a digest; rollback makes an old one live as a new version', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'ver', v(1));
    await put(d, 'ver', { code: v(2) });
    await put(d, 'ver', { config: { timeout: 9 } });
    const list = await versions(d, 'ver');
    expect(list).toMatchObject({ function: 'ver', live: 3, count: 3 });
    expect(list.versions.map((x: { version: number; change: string; created_by: string; live: boolean; retained: boolean }) => [x.version, x.change, x.created_by, x.live, x.retained])).toEqual([
      [3, 'config: timeout', 'demo', true, true],
      [2, 'changed main.py', 'demo', false, true],
      [1, 'created', 'demo', false, true],
    ]);
    expect(list.versions[0].digest).toBe(list.versions[1].digest); // same files
    expect(list.versions[1].digest).not.toBe(list.versions[2].digest);
    expect((await invoke(d, 'ver', {})).json()).toBe('v2');

    // One version's content.
    const one = await d.app.inject({ method: 'GET', url: '/functions/ver/versions/1', headers: DEMO });
    expect(one.statusCode).toBe(200);
    expect(one.json()).toMatchObject({ version: 1, code: v(1), change: 'created', config: { timeout: 30 } });

    const rb = await d.app.inject({ method: 'POST', url: '/functions/ver/rollback', headers: DEMO, payload: { version: 1 } });
    expect(rb.statusCode, rb.body).toBe(200);
    expect(rb.json()).toMatchObject({ version: 4, code: v(1), config: { timeout: 30 } });
    await expect.poll(async () => (await invoke(d, 'ver', {})).json()).toBe('v1');
    const after = await versions(d, 'ver');
    expect(after.versions[0]).toMatchObject({ version: 4, change: 'rollback to 1', live: true, digest: list.versions[2].digest });

    // With no version: the one before the live one.
    const back = await d.app.inject({ method: 'POST', url: '/functions/ver/rollback', headers: DEMO });
    expect(back.statusCode, back.body).toBe(200);
    expect(back.json()).toMatchObject({ version: 5, code: v(2), config: { timeout: 9 } });
    expect((await versions(d, 'ver')).versions[0].change).toBe('rollback to 3');
    await expect.poll(async () => (await invoke(d, 'ver', {})).json()).toBe('v2');

    const missing = await d.app.inject({ method: 'POST', url: '/functions/ver/rollback', headers: DEMO, payload: { version: 42 } });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'VersionNotFound', field: 'version' });
    const bad = await d.app.inject({ method: 'POST', url: '/functions/ver/rollback', headers: DEMO, payload: { version: 'one' } });
    expect(bad.statusCode).toBe(400);
    const invokeOnly = await d.app.inject({ method: 'POST', url: '/functions/ver/rollback', headers: { authorization: 'Bearer nope' }, payload: { version: 1 } });
    expect(invokeOnly.statusCode).toBe(401);
  });

  it('a rollback lets a running call finish on the old version while new calls get the rolled-back one', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'slow', 'import time\ndef handle(request):\n    time.sleep(1.5)\n    return "old"\n');
    await put(d, 'slow', { code: 'import time\ndef handle(request):\n    time.sleep(1.5)\n    return "new"\n' });
    const running = invoke(d, 'slow', {});
    await expect.poll(() => d.manager.instancesOf('slow').some((i) => i.state === 'busy')).toBe(true);
    const rb = await d.app.inject({ method: 'POST', url: '/functions/slow/rollback', headers: DEMO, payload: { version: 1 } });
    expect(rb.statusCode, rb.body).toBe(200);
    expect((await running).json()).toBe('new');
    expect((await invoke(d, 'slow', {})).json()).toBe('old');
  });

  it('pinned calls run a retained older version in its own pool, by name@N or X-Faas-Version', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'pin', v(1));
    await put(d, 'pin', { code: v(2) });
    await put(d, 'pin', { code: v(3) });
    const byPath = await d.app.inject({ method: 'POST', url: '/invoke/pin@1', headers: DEMO });
    expect(byPath.statusCode, byPath.body).toBe(200);
    expect(byPath.json()).toBe('v1');
    const byHeader = await d.app.inject({ method: 'POST', url: '/invoke/pin', headers: { ...DEMO, 'x-faas-version': '2' } });
    expect(byHeader.json()).toBe('v2');
    const live = await d.app.inject({ method: 'POST', url: '/invoke/pin@3/sub', headers: DEMO });
    expect(live.json()).toBe('v3');
    expect((await invoke(d, 'pin', {})).json()).toBe('v3');
    const inst = await d.app.inject({ method: 'GET', url: '/instances', headers: DEMO });
    expect(
      inst
        .json()
        .instances.map((i: { function: string }) => i.function)
        .sort(),
    ).toEqual(['pin', 'pin@1', 'pin@2']);

    expect((await d.app.inject({ method: 'POST', url: '/invoke/pin@9', headers: DEMO })).statusCode).toBe(404);
    const junk = await d.app.inject({ method: 'POST', url: '/invoke/pin@x', headers: DEMO });
    expect(junk.statusCode).toBe(400);
    expect(junk.json()).toMatchObject({ field: 'version' });
    const both = await d.app.inject({ method: 'POST', url: '/invoke/pin@1', headers: { ...DEMO, 'x-faas-version': '2' } });
    expect(both.statusCode).toBe(400);

    // Deleting the function stops its pinned pools too.
    expect((await d.app.inject({ method: 'DELETE', url: '/functions/pin', headers: DEMO })).statusCode).toBe(204);
    await expect.poll(() => d.manager.listInstances().length).toBe(0);
    // A new function of the same name starts its history again.
    await deploy(d, 'pin', v(7));
    expect((await versions(d, 'pin')).versions.map((x: { version: number }) => x.version)).toEqual([1]);
  });

  it('an async call may name a retained version: it runs that version even after a newer one goes live', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'later', v(1));
    await put(d, 'later', { code: v(2) });
    const queued = await d.app.inject({ method: 'POST', url: '/async/later@1', headers: DEMO });
    expect(queued.statusCode, queued.body).toBe(202);
    const byHeader = await d.app.inject({ method: 'POST', url: '/async/later', headers: { ...DEMO, 'x-faas-version': '1' } });
    const live = await d.app.inject({ method: 'POST', url: '/async/later', headers: DEMO });
    await put(d, 'later', { code: v(3) });
    const done = async (id: string) =>
      vi.waitFor(
        async () => {
          const job = (await d.app.inject({ method: 'GET', url: `/invocations/${id}`, headers: DEMO })).json();
          expect(job.status).toBe('succeeded');
          return job;
        },
        { timeout: 20_000, interval: 50 },
      );
    const pinned = await done(queued.json().id);
    expect(pinned).toMatchObject({ function: 'later', version: 1, result: { status_code: 200, body: '"v1"' } });
    expect((await done(byHeader.json().id)).result.body).toBe('"v1"');
    expect((await done(live.json().id)).version).toBeNull();
    // Unknown versions and bad numbers are refused when queued, not when run.
    const unknown = await d.app.inject({ method: 'POST', url: '/async/later@9', headers: DEMO });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json()).toMatchObject({ error: 'VersionNotFound', field: 'version' });
    const bad = await d.app.inject({ method: 'POST', url: '/async/later@x', headers: DEMO });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ field: 'version' });
  });

  it('keeps the content of the last versions_retained versions: older ones are pruned from the registry and the disk', async () => {
    const dir = tempDir();
    const d = await startTestDaemon({ dir, config: { system: { versions_retained: 2 } } });
    await deploy(d, 'keep', v(1));
    for (const n of [2, 3, 4]) await put(d, 'keep', { code: v(n) });
    const list = await versions(d, 'keep');
    expect(list.versions.map((x: { version: number; retained: boolean }) => [x.version, x.retained])).toEqual([
      [4, true],
      [3, true],
      [2, false],
      [1, false],
    ]);
    const fnDir = path.join(d.config.system.function_storage_path, 'keep');
    await expect.poll(() => fs.readdirSync(fnDir).sort()).toEqual(['v3', 'v4']);
    const gone = await d.app.inject({ method: 'POST', url: '/functions/keep/rollback', headers: DEMO, payload: { version: 1 } });
    expect(gone.statusCode).toBe(410);
    expect(gone.json()).toMatchObject({ error: 'VersionPruned', field: 'version' });
    expect(gone.json().message).toContain('versions_retained');
    expect((await d.app.inject({ method: 'POST', url: '/invoke/keep@2', headers: DEMO })).statusCode).toBe(410);
    expect((await d.app.inject({ method: 'POST', url: '/invoke/keep@3', headers: DEMO })).json()).toBe('v3');
    await d.close();

    // The history survives a restart, and a retained version's lost directory is rebuilt for a pinned call.
    fs.rmSync(path.join(fnDir, 'v3'), { recursive: true });
    const d2 = await startTestDaemon({ dir, config: { system: { versions_retained: 2 } } });
    expect((await versions(d2, 'keep')).versions).toHaveLength(4);
    expect((await d2.app.inject({ method: 'POST', url: '/invoke/keep@3', headers: DEMO })).json()).toBe('v3');
  });

  it('a pinned pool left idle for warm_instance_ttl is closed', async () => {
    const d = await startTestDaemon({ config: { system: { warm_instance_ttl: 1 } } });
    await deploy(d, 'idle', v(1));
    await put(d, 'idle', { code: v(2) });
    expect((await d.app.inject({ method: 'POST', url: '/invoke/idle@1', headers: DEMO })).json()).toBe('v1');
    expect(d.manager.queueDepths().map((q) => q.function)).toContain('idle@1');
    await expect.poll(() => d.manager.queueDepths().map((q) => q.function), { timeout: 10_000 }).toEqual(['idle']);
    // And it comes back on the next pinned call.
    expect((await d.app.inject({ method: 'POST', url: '/invoke/idle@1', headers: DEMO })).json()).toBe('v1');
  });

  it('versions_retained below 2 is refused at boot, naming the key', async () => {
    await expect(startTestDaemon({ config: { system: { versions_retained: 1 } } })).rejects.toThrow(/versions_retained/);
  });
});
