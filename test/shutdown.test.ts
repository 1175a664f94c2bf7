// Graceful shutdown over a real socket.
import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { DEMO, startTestDaemon } from './helpers/daemon.js';
import { deploy, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('shutdown suite skipped: it runs functions in strict sandboxes, which need root');

describe.skipIf(!isRoot)('graceful shutdown', () => {
  it('finishes an in-flight 1 s invocation, refuses new ones, and stops every instance', async () => {
    const d = await startTestDaemon({ listen: true });
    await deploy(d, 'long', 'import time\ndef handle(r):\n    time.sleep(1)\n    return "finished"');
    await deploy(d, 'other', 'def handle(r):\n    return 1', { config: { min_instances: 1 } });
    const call = (name: string) => fetch(`${d.url}/invoke/${name}`, { method: 'POST', headers: { ...DEMO, 'content-type': 'application/json' }, body: '{}' });
    const inflight = call('long');
    await vi.waitFor(() => expect(d.manager.instancesOf('long').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    const closing = d.close();
    await new Promise((r) => setTimeout(r, 100));
    // A new call is refused: the listener is closed (connection refused) or the gateway says 503.
    const late = await call('other').then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(late);
    const res = await inflight;
    expect(res.status).toBe(200);
    expect(await res.json()).toBe('finished');
    await closing;
    expect(d.manager.listInstances()).toHaveLength(0);
  });

  it('kills invocations still running at the shutdown deadline', async () => {
    const d = await startTestDaemon({ listen: true, config: { system: { shutdown_timeout: 0.5 } } });
    await deploy(d, 'forever', 'import time\ndef handle(r):\n    time.sleep(60)\n    return 1');
    const inflight = fetch(`${d.url}/invoke/forever`, { method: 'POST', headers: DEMO }).then(
      (r) => r.status,
      () => 'dropped',
    );
    await vi.waitFor(() => expect(d.manager.instancesOf('forever').some((i) => i.state === 'busy')).toBe(true), { timeout: 10_000 });
    const t0 = Date.now();
    await d.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    expect([502, 503, 'dropped']).toContain(await inflight);
  });

  it('a connection that never sends a request does not hold the shutdown past its deadline', async () => {
    const d = await startTestDaemon({ listen: true, config: { system: { shutdown_timeout: 0.5 } } });
    const { port } = new URL(d.url);
    const sock = net.connect(Number(port), '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const ended = new Promise((r) => sock.once('close', r));
    const t0 = Date.now();
    await d.close();
    expect(Date.now() - t0).toBeLessThan(5000);
    await ended;
  });
});
