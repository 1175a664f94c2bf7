// Dependencies are installed at deploy, from local packages (no registry needed).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEMO, startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

/** A pure-Python wheel is a zip with METADATA, WHEEL and RECORD: build one without pip or network. */
async function makeWheel(dir: string): Promise<string> {
  const { execFileSync } = await import('node:child_process');
  const script = `
import zipfile, hashlib, base64, sys
files = {
  "tinypkg/__init__.py": b"def shout(s):\\n    return s.upper() + '!'\\n",
  "tinypkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\\nName: tinypkg\\nVersion: 1.0\\n",
  "tinypkg-1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\\nGenerator: faasd-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
def rec(n, d):
    h = base64.urlsafe_b64encode(hashlib.sha256(d).digest()).rstrip(b"=").decode()
    return f"{n},sha256={h},{len(d)}"
with zipfile.ZipFile(sys.argv[1], "w") as z:
    lines = []
    for n, d in files.items():
        z.writestr(n, d); lines.append(rec(n, d))
    lines.append("tinypkg-1.0.dist-info/RECORD,,")
    z.writestr("tinypkg-1.0.dist-info/RECORD", "\\n".join(lines) + "\\n")
`;
  const wheel = path.join(dir, 'tinypkg-1.0-py3-none-any.whl');
  execFileSync('/usr/bin/python3', ['-c', script, wheel]);
  return wheel;
}

function makeNpmPackage(dir: string): string {
  const pkg = path.join(dir, 'left-pad-local');
  fs.mkdirSync(pkg, { recursive: true });
  fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'left-pad-local', version: '1.0.0', main: 'index.js' }));
  fs.writeFileSync(path.join(pkg, 'index.js'), "module.exports = (s, n) => String(s).padStart(n, '*');\n");
  return pkg;
}

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
