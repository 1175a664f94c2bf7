// One daemon per registry (an exclusive lock held for the daemon's life), and run
// directories that do not pile up.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { daemonId } from '../src/execution/setup.js';
import { runBase } from '../src/os/run-dir.js';
import { RegistryLock } from '../src/os/registry-lock.js';
import { startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, invoke } from './helpers/functions.js';

const BIN = path.resolve(__dirname, '..', 'bin', 'faasd.js');

describe('one daemon per registry', () => {
  it('a second faasd on the same registry exits at once naming the registry and the PID, and the first keeps every instance', async () => {
    const dir = tempDir();
    const first = await startTestDaemon({ dir, listen: true });
    await deploy(first, 'steady', 'def handle(r):\n    return "still here"', { config: { min_instances: 2 } });
    await expect.poll(() => first.manager.listInstances().filter((i) => i.state === 'idle').length, { timeout: 20_000 }).toBe(2);
    // Each instance with its process: the same list later means the same processes.
    const instances = () =>
      first.manager
        .listInstances()
        .map((i) => `${i.id}:${i.pid}`)
        .sort();
    const before = instances();
    const runDir = path.join(runBase(), daemonId(first.config));
    const runEntries = fs.readdirSync(runDir).sort();

    const t0 = Date.now();
    const second = spawnSync(process.execPath, [BIN, '-c', path.join(dir, 'faas_config.yaml'), '--port', '0'], {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(second.status).toBe(1);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(second.stderr).toContain(first.config.system.registry_path);
    expect(second.stderr).toContain(`PID ${process.pid}`);

    // Nothing of the first daemon was touched: same instances (same processes), same run directory.
    expect(instances()).toEqual(before);
    expect(fs.readdirSync(runDir).sort()).toEqual(runEntries);
    for (let i = 0; i < 4; i++) {
      const res = await invoke(first, 'steady', {});
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toBe('still here');
    }
    expect(instances()).toEqual(before);
  });

  it('the lock is released when the daemon stops: a new daemon then starts on the same registry', async () => {
    const dir = tempDir();
    const first = await startTestDaemon({ dir });
    await first.close();
    const again = await startTestDaemon({ dir });
    expect(again.functions.healthy()).toBe(true);
  });
});

describe('run directories', () => {
  it("a stopped daemon's run directory is gone, and a booting one removes those of daemons that are not running", async () => {
    const base = runBase();
    fs.mkdirSync(base, { recursive: true });
    // A daemon that died without cleaning up: its registry's lock is free.
    const deadRegistry = path.join(tempDir(), 'registry.db');
    const deadRun = path.join(base, 'test-dead-daemon');
    fs.mkdirSync(path.join(deadRun, 'processes'), { recursive: true });
    fs.writeFileSync(path.join(deadRun, 'registry'), `${deadRegistry}\n`);
    // A daemon that is running: its registry's lock is held (by this test).
    const liveRegistry = path.join(tempDir(), 'registry.db');
    const liveLock = RegistryLock.acquire(liveRegistry);
    const liveRun = path.join(base, 'test-live-daemon');
    fs.mkdirSync(liveRun, { recursive: true });
    fs.writeFileSync(path.join(liveRun, 'registry'), `${liveRegistry}\n`);
    onTestFinished(() => {
      liveLock.release();
      fs.rmSync(liveRun, { recursive: true, force: true });
      fs.rmSync(deadRun, { recursive: true, force: true });
    });

    const d = await startTestDaemon();
    const own = path.join(base, daemonId(d.config));
    expect(fs.existsSync(own)).toBe(true);
    expect(fs.existsSync(deadRun)).toBe(false);
    expect(fs.existsSync(liveRun)).toBe(true);

    await d.close();
    expect(fs.existsSync(own)).toBe(false);
  });
});
