// What --check-system and --create-config say about container images, on a real engine.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { localRuntimeImages, probeDocker } from '../src/system/docker-probe.js';
import { tempDir, writeConfig } from './helpers/daemon.js';

const BIN = path.resolve(__dirname, '..', 'bin', 'faasd.js');
const env = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const engine = await probeDocker(new Docker());
const local = engine.ok ? await localRuntimeImages() : {};
const required = process.env.FAAS_REQUIRE_DOCKER === '1';
if (!engine.ok && !required) console.warn(`runtime image CLI suite skipped: no Docker engine (${engine.detail})`);

const faasd = (args: string[], cwd?: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8', timeout: 60_000 });

describe.skipIf(!engine.ok && !required)('runtime images in the CLI', () => {
  it('--check-system says for each configured image whether it is present, and names one that is neither present nor pullable', () => {
    expect(local.python, 'scripts/build-runtime-images.sh has built the local images').toBeDefined();
    const dir = tempDir();
    const file = writeConfig(dir, { system: { container_images: { python: local.python, node: 'faasd-test/not-anywhere:1' } } });
    const r = faasd(['--check-system', '-c', file]);
    const lines = r.stdout.split('\n');
    expect(lines.find((l) => l.includes('image python'))).toMatch(new RegExp(`^\\[ok\\s*\\] image python\\s+${local.python!.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} present locally`));
    const node = lines.find((l) => l.includes('image node'));
    expect(node).toMatch(/^\[warn\] image node\s+faasd-test\/not-anywhere:1 not present locally and not pullable/);
    // Process mode is the default: a missing container image does not fail the check.
    expect(r.status).toBe(0);
    const strict = faasd(['--check-system', '-c', writeConfig(tempDir(), { system: { default_mode: 'container', container_images: { python: local.python, node: 'faasd-test/not-anywhere:1' } } })]);
    expect(strict.stdout).toMatch(/^\[fail\] image node/m);
    expect(strict.status).toBe(1);
  });

  it('--create-config proposes the locally built runtime images when the engine has them', () => {
    const dir = tempDir();
    const r = faasd(['--create-config'], dir);
    expect(r.status).toBe(0);
    const text = fs.readFileSync(path.join(dir, 'faas_config.yaml'), 'utf8');
    expect(text).toContain(`python: ${local.python}`);
    expect(text).toContain(`node: ${local.node}`);
    expect(r.stdout).toContain('local runtime images');
  });
});
