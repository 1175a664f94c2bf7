// Dependencies are installed at deploy, from local packages (no registry needed).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO, startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';
import { makeNpmPackage, makeWheel } from './helpers/packages.js';

if (!isRoot) console.warn('dependency suite skipped: functions run in strict sandboxes, which need root');

describe.skipIf(!isRoot)('function dependencies', () => {
  it('a Python dependency (a local wheel) is installed at deploy and importable by the function', async () => {
    const wheel = await makeWheel(tempDir());
    const d = await startTestDaemon();
    await deploy(d, 'py-deps', 'import tinypkg\ndef handle(r):\n    return tinypkg.shout("hey")', { config: { dependencies: [wheel] } });
    expect(fs.existsSync(path.join(d.config.system.function_storage_path, 'py-deps', 'v1', '.deps', 'tinypkg'))).toBe(true);
    const res = await invoke(d, 'py-deps', {});
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toBe('HEY!');
  });

  it('a JavaScript dependency (a local package directory) is installed at deploy and requirable', async () => {
    const pkg = makeNpmPackage(tempDir());
    const d = await startTestDaemon();
    await deploy(d, 'js-deps', "const pad = require('left-pad-local');\nexports.handler = async () => pad('7', 3)", { runtime: 'node', config: { dependencies: [pkg] } });
    const res = await invoke(d, 'js-deps');
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toBe('**7');
  });

  it('a failed install fails the deploy with 422 and the installer output, and creates nothing', async () => {
    const d = await startTestDaemon();
    const missing = `/nonexistent/${crypto.randomBytes(4).toString('hex')}.whl`;
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'bad-deps', code: 'def handle(r):\n    return 1', config: { dependencies: [missing] } } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'DeployFailed', field: 'config.dependencies', installer: 'pip' });
    expect(res.json().message).toContain('pip');
    expect(res.json().output.length).toBeGreaterThan(0);
    expect((await d.app.inject({ method: 'GET', url: '/functions/bad-deps', headers: DEMO })).statusCode).toBe(404);
    expect(fs.existsSync(path.join(d.config.system.function_storage_path, 'bad-deps', 'v1'))).toBe(false);
  });

  it('a failed install on update keeps the previous version serving', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'keep-old', 'def handle(r):\n    return "v1"');
    const res = await d.app.inject({
      method: 'PUT',
      url: '/functions/keep-old',
      headers: DEMO,
      payload: { code: 'def handle(r):\n    return "v2"', config: { dependencies: ['/nonexistent/x.whl'] } },
    });
    expect(res.statusCode).toBe(422);
    const got = await d.app.inject({ method: 'GET', url: '/functions/keep-old', headers: DEMO });
    expect(got.json().version).toBe(1);
    expect((await invoke(d, 'keep-old', {})).json()).toBe('v1');
  });
});
