import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ADMIN, DEMO, startTestDaemon, tempDir } from './helpers/daemon.js';

const hello = {
  name: 'hello-world',
  code: 'def handle(request):\n    return {"message": "Hello, World!", "data": request.get_json()}',
  config: { execution_mode: 'process', timeout: 30, memory: '128Mi' },
};

describe('function API', () => {
  it('creates a function (201) and reads it back with code, config, version and timestamps', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: hello });
    expect(res.statusCode).toBe(201);
    expect(res.headers.location).toBe('/functions/hello-world');
    const body = res.json();
    expect(body).toMatchObject({ name: 'hello-world', runtime: 'python', version: 1, source: 'api', code: hello.code });
    expect(body.config).toMatchObject({ execution_mode: 'process', timeout: 30, memory: '128Mi', min_instances: 0, max_instances: 10 });
    const got = await d.app.inject({ method: 'GET', url: '/functions/hello-world', headers: DEMO });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ name: 'hello-world', version: 1, code: hello.code });
    expect(typeof got.json().created_at).toBe('string');
  });

  it('lists functions without their code', async () => {
    const d = await startTestDaemon();
    await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: hello });
    await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'js-fn', runtime: 'nodejs', code: 'exports.handler = async () => 1' } });
    const res = await d.app.inject({ method: 'GET', url: '/functions', headers: DEMO });
    expect(res.statusCode).toBe(200);
    expect(res.json().functions.map((f: { name: string }) => f.name)).toEqual(['hello-world', 'js-fn']);
    expect(res.json().functions[1].runtime).toBe('node');
    expect(res.json().functions[0].code).toBeUndefined();
  });

  it('a partial PUT bumps the version, keeps unchanged fields and writes a new code directory', async () => {
    const d = await startTestDaemon();
    await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: hello });
    const res = await d.app.inject({ method: 'PUT', url: '/functions/hello-world', headers: DEMO, payload: { config: { timeout: 5 } } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ version: 2, code: hello.code });
    expect(res.json().config).toMatchObject({ timeout: 5, memory: '128Mi' });
    const res2 = await d.app.inject({ method: 'PUT', url: '/functions/hello-world', headers: DEMO, payload: { code: 'def handle(r):\n    return 2' } });
    expect(res2.json()).toMatchObject({ version: 3, code: 'def handle(r):\n    return 2' });
    const fs = await import('node:fs');
    expect(fs.readFileSync(`${d.config.system.function_storage_path}/hello-world/v3/main.py`, 'utf8')).toBe('def handle(r):\n    return 2');
  });

  it('a config key sent as null goes back to its default on update (unset for a key without one)', async () => {
    const d = await startTestDaemon();
    const created = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { ...hello, config: { timeout: 5, concurrency: 4, memory: '256Mi', max_instances: null } } });
    expect(created.statusCode).toBe(201);
    expect(created.json().config).toMatchObject({ timeout: 5, concurrency: 4, memory: '256Mi', max_instances: 10 });
    const res = await d.app.inject({ method: 'PUT', url: '/functions/hello-world', headers: DEMO, payload: { config: { timeout: null, concurrency: null } } });
    expect(res.statusCode).toBe(200);
    expect(res.json().config).toMatchObject({ timeout: 30, memory: '256Mi' });
    expect(res.json().config).not.toHaveProperty('concurrency');
    expect(d.functions.get('hello-world').config).not.toHaveProperty('concurrency');
    // null is "the default", not a value: a wrong type is still named
    const bad = await d.app.inject({ method: 'PUT', url: '/functions/hello-world', headers: DEMO, payload: { config: { timeout: 'soon' } } });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'BadRequest', field: 'config.timeout' });
  });

  it('DELETE removes the function and its code; a second DELETE is 404', async () => {
    const d = await startTestDaemon();
    await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: hello });
    const res = await d.app.inject({ method: 'DELETE', url: '/functions/hello-world', headers: DEMO });
    expect(res.statusCode).toBe(204);
    const fs = await import('node:fs');
    expect(fs.existsSync(`${d.config.system.function_storage_path}/hello-world`)).toBe(false);
    const again = await d.app.inject({ method: 'DELETE', url: '/functions/hello-world', headers: DEMO });
    expect(again.statusCode).toBe(404);
    expect(again.json().error).toBe('FunctionNotFound');
  });

  it('a duplicate name is 409', async () => {
    const d = await startTestDaemon();
    await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: hello });
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: hello });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error: 'FunctionExists', field: 'name' });
  });

  it('an unknown function is 404', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'GET', url: '/functions/nope', headers: DEMO });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toMatchObject({ error: 'FunctionNotFound' });
  });

  it.each([
    [{ ...hello, name: 'Bad_Name' }, 'name'],
    [{ ...hello, name: '-x' }, 'name'],
    [{ name: 'x' }, 'code'],
    [{ ...hello, code: '   ' }, 'code'],
    [{ ...hello, runtime: 'cobol' }, 'runtime'],
    [{ ...hello, config: { timeout: 'soon' } }, 'config.timeout'],
    [{ ...hello, config: { memory: '12 parsecs' } }, 'config.memory'],
    [{ ...hello, config: { cpu_limit: 'fast' } }, 'config.cpu_limit'],
    [{ ...hello, config: { execution_mode: 'VM!' } }, 'config.execution_mode'],
    [{ ...hello, config: { min_instances: 5, max_instances: 2 } }, 'config.min_instances'],
    [{ ...hello, config: { dependencies: ['--index-url=http://evil'] } }, 'config.dependencies[0]'],
    [{ ...hello, config: { environment: { 'BAD-NAME': 'x' } } }, 'config.environment.BAD-NAME'],
    [{ ...hello, config: { colour: 'blue' } }, 'config.colour'],
    [{ ...hello, extra: 1 }, 'extra'],
    [{ ...hello, handler: 'not valid!' }, 'handler'],
  ])('bad input %j is 400 naming the field %s', async (payload, field) => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json().error).toBe('BadRequest');
    expect(res.json().field).toBe(field);
    expect(res.json().message).toContain(field);
  });

  it('a well-formed execution mode this daemon has no driver for is 422 naming the field', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { ...hello, config: { execution_mode: 'vm' } } });
    expect(res.statusCode).toBe(422);
    expect(res.json()).toMatchObject({ error: 'DeployFailed', field: 'config.execution_mode' });
  });

  it('malformed JSON is 400 naming the body', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: { ...DEMO, 'content-type': 'application/json' }, payload: '{"name": ' });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: 'BadRequest', field: 'body' });
  });

  it('a non-JSON body is 415', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: { ...DEMO, 'content-type': 'text/plain' }, payload: 'hello' });
    expect(res.statusCode).toBe(415);
    expect(res.json().error).toBe('UnsupportedMediaType');
  });

  it('code over the configured size is 413 naming the field', async () => {
    const d = await startTestDaemon({ config: { system: { max_code_size: 2048 } } });
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { ...hello, code: '#'.repeat(3000) } });
    expect(res.statusCode).toBe(413);
    expect(res.json()).toMatchObject({ error: 'PayloadTooLarge', field: 'code' });
  });

  it('a body far over the limit is refused with 413 before it is parsed', async () => {
    const d = await startTestDaemon({ config: { system: { max_code_size: 2048 } } });
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { ...hello, code: '#'.repeat(200_000) } });
    expect(res.statusCode).toBe(413);
  });
});

describe('one function schema for the API, faas_config.yaml and the registry', () => {
  // [config, key path below the config, the YAML entry's config lines, line of the bad key]
  it.each([
    [{ memory: 'lots' }, 'memory', '    memory: lots', 4],
    [{ timeout: -1 }, 'timeout', '    timeout: -1', 4],
    [{ environment: { '1BAD': 'x' } }, 'environment.1BAD', '    environment:\n      1BAD: x', 5],
    [{ dependencies: ['--pre'] }, 'dependencies[0]', '    dependencies:\n      - --pre', 5],
    [{ colour: 'blue' }, 'colour', '    colour: blue', 4],
  ])('%j gets the same field and explanation from the API and from the YAML file', async (config, key, yamlLines, line) => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'hello', code: 'def handle(r): return 1', config } });
    expect(res.statusCode).toBe(400);
    expect(res.json().field).toBe(`config.${key}`);
    const apiMessage: string = res.json().message;
    expect(apiMessage.startsWith(`config.${key}: `)).toBe(true);
    const explanation = apiMessage.slice(`config.${key}: `.length);
    expect(explanation).toMatch(/expected /);

    const file = path.join(tempDir(), 'faas_config.yaml');
    fs.writeFileSync(file, `functions:\n  hello:\n    code: "def handle(r): return 1"\n${yamlLines}\n`);
    expect(() => loadConfig({ file, env: {} })).toThrow(`${file}:${line}: function "hello": functions.hello.${key}: ${explanation}`);
  });

  it('a registry row whose config no longer validates is left out of the list, reported, and named on read', async () => {
    const d = await startTestDaemon();
    for (const name of ['good', 'spoilt']) {
      const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name, code: 'def handle(r): return 1' } });
      expect(res.statusCode).toBe(201);
    }
    const db = new Database(d.config.system.registry_path);
    db.prepare(`UPDATE functions SET config = json_set(config, '$.memory', 'lots') WHERE name = 'spoilt'`).run();
    db.close();
    const warn = vi.spyOn(process, 'emitWarning').mockImplementation(() => undefined);
    const list = await d.app.inject({ method: 'GET', url: '/functions', headers: DEMO });
    expect(list.statusCode).toBe(200);
    expect(list.json().functions.map((f: { name: string }) => f.name)).toEqual(['good']);
    expect(String(warn.mock.calls[0]?.[0])).toContain('function "spoilt" (version 1) no longer validates: config.memory: got "lots", expected a size');
    warn.mockRestore();
    const one = await d.app.inject({ method: 'GET', url: '/functions/spoilt', headers: DEMO });
    expect(one.statusCode).toBe(500);
    expect(one.json()).toMatchObject({ error: 'ConfigInvalid', function: 'spoilt' });
    expect(one.json().message).toContain('config.memory: got "lots"');
  });
});

describe('authentication and scopes', () => {
  it('no key is 401 with WWW-Authenticate: Bearer', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'GET', url: '/functions' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
    expect(res.json().error).toBe('Unauthorized');
  });

  it('an unknown key is 401', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'GET', url: '/functions', headers: { authorization: 'Bearer wrong-key' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toContain('invalid_token');
  });

  it('a known key without the scope is 403', async () => {
    const d = await startTestDaemon({
      config: { api_keys: [{ name: 'caller', key: 'only-invoke-key', scopes: ['invoke'] }] },
    });
    const res = await d.app.inject({ method: 'GET', url: '/functions', headers: { authorization: 'Bearer only-invoke-key' } });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: 'Forbidden', required_scope: 'manage' });
  });

  it('configured keys replace the quick-start keys; key_sha256 keys work', async () => {
    const crypto = await import('node:crypto');
    const secret = 'a-long-secret-key-123';
    const d = await startTestDaemon({
      config: { api_keys: [{ name: 'ops', key_sha256: crypto.createHash('sha256').update(secret).digest('hex'), scopes: ['manage'] }] },
    });
    expect((await d.app.inject({ method: 'GET', url: '/functions', headers: DEMO })).statusCode).toBe(401);
    expect((await d.app.inject({ method: 'GET', url: '/functions', headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(200);
    const health = await d.app.inject({ method: 'GET', url: '/health' });
    expect(health.json().using_demo_keys).toBe(false);
  });

  it('/health needs no key and reports the quick-start keys as a warning', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'GET', url: '/health' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ registry: { ok: true }, using_demo_keys: true });
    expect(res.json().warnings.join(' ')).toContain('demo-key');
  });

  it('/invoke needs the invoke scope', async () => {
    const d = await startTestDaemon({ config: { api_keys: [{ name: 'm', key: 'manage-only-key', scopes: ['manage'] }] } });
    const res = await d.app.inject({ method: 'POST', url: '/invoke/x', headers: { authorization: 'Bearer manage-only-key' } });
    expect(res.statusCode).toBe(403);
    void ADMIN;
  });

  it('unknown routes are JSON 404', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'GET', url: '/nowhere' });
    expect(res.statusCode).toBe(404);
    expect(res.json().error).toBe('NotFound');
  });
});
