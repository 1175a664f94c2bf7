// Broken code is refused at deploy (422 with the line), checked in a sandbox, never run.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { DEMO, startTestDaemon } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('deploy-check suite skipped: the check runs in a strict sandbox, which needs root');

describe.skipIf(!isRoot)('deploy-time code check', () => {
  const create = (d: Awaited<ReturnType<typeof startTestDaemon>>, name: string, code: string, extra: Record<string, unknown> = {}) =>
    d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name, code, ...extra } });

  it('a Python syntax error is 422 DeployFailed with the line and message, and no function is created', async () => {
    const d = await startTestDaemon();
    const res = await create(d, 'py-syntax', 'import json\n\ndef handle(request)\n    return 1\n');
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'DeployFailed', field: 'code', file: 'main.py', line: 3, error_type: 'SyntaxError' });
    expect(res.json().message).toContain('main.py line 3');
    expect(res.json().message).toContain('def handle(request)');
    expect((await d.app.inject({ method: 'GET', url: '/functions/py-syntax', headers: DEMO })).statusCode).toBe(404);
  });

  it('Python code without the handler it names is 422 naming the handler', async () => {
    const d = await startTestDaemon();
    const missing = await create(d, 'py-nohandler', 'def handler(request):\n    return 1\n');
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({ error: 'DeployFailed', error_type: 'HandlerNotFound' });
    expect(missing.json().message).toContain("'handle'");
    const named = await create(d, 'py-named', 'def main(request):\n    return "main"\n', { handler: 'main' });
    expect(named.statusCode, named.body).toBe(201);
    expect((await invoke(d, 'py-named', {})).json()).toBe('main');
    // Bindings the check cannot see statically are accepted (the shim finds them at load).
    expect((await create(d, 'py-dynamic', 'globals()["handle"] = lambda r: "dyn"\n')).statusCode).toBe(201);
    expect((await invoke(d, 'py-dynamic', {})).json()).toBe('dyn');
  });

  it('a JavaScript syntax error, or a module that exports nothing, is 422 with the line', async () => {
    const d = await startTestDaemon();
    const syntax = await create(d, 'js-syntax', 'const a = 1;\nexports.handler = async (e) => { return (a; }\n', { runtime: 'node' });
    expect(syntax.statusCode).toBe(422);
    expect(syntax.json()).toMatchObject({ error: 'DeployFailed', file: 'index.js', line: 2, error_type: 'SyntaxError' });
    const esm = await create(d, 'js-esm', 'export default async () => 1\n', { runtime: 'node' });
    expect(esm.statusCode).toBe(422);
    expect(esm.json().message).toContain("Unexpected token 'export'");
    const nothing = await create(d, 'js-nothing', 'const handler = async () => 1\n', { runtime: 'node' });
    expect(nothing.statusCode).toBe(422);
    expect(nothing.json().message).toContain('exports nothing');
  });

  it('an update with broken code is refused and the previous version keeps serving', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'stable', 'def handle(r):\n    return "v1"');
    const res = await d.app.inject({ method: 'PUT', url: '/functions/stable', headers: DEMO, payload: { code: 'def handle(r):\n    return "v2"\n  oops' } });
    expect(res.statusCode).toBe(422);
    expect(res.json().line).toBe(3);
    const fn = (await d.app.inject({ method: 'GET', url: '/functions/stable', headers: DEMO })).json();
    expect(fn.version).toBe(1);
    expect((await invoke(d, 'stable', {})).json()).toBe('v1');
  });

  it("deploying runs none of the function's code: only a call does", async () => {
    const d = await startTestDaemon({ config: { system: { process_isolation_level: 'standard' } } });
    // At "standard" isolation a function can write host files: the marker shows whether the
    // module ran. The check only compiles it.
    const marker = path.join('/tmp', `faasd-check-marker-${process.pid}-${Date.now()}`);
    onTestFinished(() => fs.rmSync(marker, { force: true }));
    await deploy(d, 'side-effect', `open(${JSON.stringify(marker)}, 'w').write('loaded')\ndef handle(r):\n    return 1\n`);
    expect(fs.existsSync(marker)).toBe(false);
    expect((await invoke(d, 'side-effect', {})).statusCode).toBe(200);
    expect(fs.existsSync(marker)).toBe(true);
  });
});
