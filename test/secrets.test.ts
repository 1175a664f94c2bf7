// Secrets end to end (issue 15): the /secrets API, sealing at rest, delivery as read-only files
// at /var/faasd/secrets/<name> (and /var/openfaas/secrets/<name>) in process and container mode,
// and the value appearing nowhere else: no log line, no API answer, no instance environment,
// no file under the function storage, not the registry file.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import Docker from 'dockerode';
import { describe, expect, it, vi } from 'vitest';
import { daemonId } from '../src/execution/setup.js';
import { createLogger } from '../src/logger.js';
import { runBase } from '../src/os/run-dir.js';
import { probeDocker } from '../src/system/docker-probe.js';
import { ADMIN, DEMO, startConfiguredDaemon, startTestDaemon, tempDir, testConfig } from './helpers/daemon.js';
import { isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('secrets delivery suites skipped: strict isolation needs root (CI runs them as root)');

/** A daemon whose every log line (debug included) and every API answer is kept, to search for values. */
async function observedDaemon(opts: Parameters<typeof testConfig>[0] = {}) {
  const lines: string[] = [];
  const logger = createLogger('debug', { write: (s: string) => void lines.push(s) });
  const config = testConfig(opts);
  const d = await startConfiguredDaemon(config, { logger });
  const answers: string[] = [];
  const api = async (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: unknown, headers: Record<string, string> = ADMIN) => {
    const res = await d.app.inject({ method, url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });
    answers.push(JSON.stringify(res.headers), res.body);
    return res;
  };
  return { d, config, lines, answers, api };
}

const secretValue = () => `pw-${crypto.randomBytes(12).toString('hex')}`;
const sha = (s: string) => crypto.createHash('sha256').update(s).digest('hex');

/** Reads its secret at both paths and says what it found (a digest, never the value). */
const READER = `import hashlib, os
def handle(request):
    a = open('/var/faasd/secrets/db-password', 'rb').read()
    b = open('/var/openfaas/secrets/db-password', 'rb').read()
    try:
        open('/var/faasd/secrets/db-password', 'wb')
        write = 'written'
    except Exception as e:
        write = type(e).__name__
    st = os.stat('/var/faasd/secrets/db-password')
    return {"sha": hashlib.sha256(a).hexdigest(), "same": a == b, "write": write, "mode": oct(st.st_mode & 0o777),
            "env": os.environ.get("FAASD_SECRETS_DIR"), "listing": sorted(os.listdir('/var/faasd/secrets'))}
`;

/** Tries every way to another function's secret. */
const PRYING = `import os
def handle(request):
    out = {}
    for p in ['/var/faasd/secrets/db-password', '/var/openfaas/secrets/db-password'] + request.get_json().get('paths', []):
        try:
            open(p, 'rb').read()
            out[p] = 'read'
        except Exception as e:
            out[p] = type(e).__name__
    out['listing'] = sorted(os.listdir('/var/faasd/secrets'))
    return out
`;

function filesUnder(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true, recursive: true }).flatMap((e) => (e.isFile() ? [path.join(e.parentPath, e.name)] : []));
}

/** Every process in the tree under `pid`. */
function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(d)]);
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    out.push(p);
    for (const c of children.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}

async function deployFn(api: Awaited<ReturnType<typeof observedDaemon>>['api'], name: string, code: string, config: Record<string, unknown> = {}) {
  const res = await api('POST', '/functions', { name, code, config }, DEMO);
  expect(res.statusCode, res.body).toBe(201);
  return res;
}

describe('secrets API', () => {
  it('sets, lists, changes and deletes secrets, with the scopes, codes and fields of the contract, and never answers a value', async () => {
    const { d, config, answers, api } = await observedDaemon();
    const value = secretValue();
    expect(fs.existsSync(config.system.secrets_key_path)).toBe(false);
    expect(config.system.secrets_key_path).toBe(path.join(path.dirname(config.system.registry_path), 'secrets.key'));

    expect((await api('POST', '/secrets', { name: 'db-password', value }, DEMO)).statusCode).toBe(403);
    const created = await api('POST', '/secrets', { name: 'db-password', value });
    expect(created.statusCode, created.body).toBe(201);
    expect(created.headers.location).toBe('/secrets/db-password');
    expect(created.json()).toEqual({ name: 'db-password', created_at: expect.any(String), updated_at: created.json().created_at, used_by: [] });
    // The key file is made on first use, readable by faasd only.
    expect(fs.statSync(config.system.secrets_key_path).mode & 0o777).toBe(0o600);
    expect(fs.statSync(config.system.secrets_key_path).size).toBe(32);

    const dup = await api('POST', '/secrets', { name: 'db-password', value: 'other' });
    expect(dup.statusCode).toBe(409);
    expect(dup.json()).toMatchObject({ error: 'SecretExists', field: 'name' });
    for (const [body, field] of [
      [{ name: 'Bad_Name', value: 'x' }, 'name'],
      [{ name: 'x'.repeat(64), value: 'x' }, 'name'],
      [{ name: 'ok-name' }, 'value'],
      [{ name: 'ok-name', value: '' }, 'value'],
      [{ name: 'ok-name', value: 42 }, 'value'],
      [{ name: 'ok-name', value: 'é'.repeat(32 * 1024 + 1) }, 'value'],
      [{ name: 'ok-name', value: 'x', value_base64: 'eA==' }, 'value_base64'],
      [{ name: 'ok-name', value_base64: 'not base64!' }, 'value_base64'],
      [{ name: 'ok-name', value_base64: 'eA=' }, 'value_base64'],
      [{ name: 'ok-name', value_base64: '' }, 'value_base64'],
      [{ name: 'ok-name', value_base64: Buffer.alloc(64 * 1024 + 1).toString('base64') }, 'value_base64'],
    ] as const) {
      const res = await api('POST', '/secrets', body);
      expect(res.statusCode, JSON.stringify(body).slice(0, 80)).toBe(400);
      expect(res.json().field).toBe(field);
    }
    expect((await api('POST', '/secrets', { name: 'big', value: 'x'.repeat(64 * 1024) })).statusCode).toBe(201);
    // A malformed body is not quoted back.
    const bad = await d.app.inject({ method: 'POST', url: '/secrets', headers: { ...ADMIN, 'content-type': 'application/json' }, payload: `{"name": "x", "value": ${value}}` });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ error: 'BadRequest', field: 'body' });
    expect(bad.body).not.toContain(value);

    expect((await api('PUT', '/secrets/missing', { value: 'x' })).json()).toMatchObject({ error: 'SecretNotFound' });
    expect((await api('PUT', '/secrets/missing', { value: 'x' })).statusCode).toBe(404);
    expect((await api('DELETE', '/secrets/missing')).statusCode).toBe(404);
    expect((await api('PUT', '/secrets/db-password', { value: 'x' }, DEMO)).statusCode).toBe(403);

    // A function may name only secrets that exist.
    const missing = await api('POST', '/functions', { name: 'reader', code: READER, config: { secrets: ['db-password', 'api-token'] } }, DEMO);
    expect(missing.statusCode).toBe(422);
    expect(missing.json()).toMatchObject({ error: 'DeployFailed', field: 'config.secrets', secret: 'api-token' });
    expect(missing.json().message).toContain('"api-token"');
    const badList = await api('POST', '/functions', { name: 'reader', code: READER, config: { secrets: ['Not Valid'] } }, DEMO);
    expect(badList.statusCode).toBe(400);
    expect(badList.json().field).toBe('config.secrets[0]');
    await deployFn(api, 'reader', READER, { secrets: ['db-password'] });
    expect((await api('GET', '/functions/reader', undefined, DEMO)).json().config.secrets).toEqual(['db-password']);

    const list = await api('GET', '/secrets', undefined, DEMO);
    expect(list.statusCode).toBe(200);
    expect(list.json()).toEqual({
      secrets: [
        { name: 'big', created_at: expect.any(String), updated_at: expect.any(String), used_by: [] },
        { name: 'db-password', created_at: expect.any(String), updated_at: expect.any(String), used_by: ['reader'] },
      ],
      count: 2,
    });
    expect((await api('GET', '/secrets/db-password', undefined, DEMO)).json()).toMatchObject({ name: 'db-password', used_by: ['reader'] });

    await new Promise((r) => setTimeout(r, 5));
    const changed = await api('PUT', '/secrets/db-password', { value: `${value}-2` });
    expect(changed.statusCode, changed.body).toBe(200);
    expect(changed.json().updated_at > changed.json().created_at).toBe(true);

    const inUse = await api('DELETE', '/secrets/db-password');
    expect(inUse.statusCode).toBe(409);
    expect(inUse.json()).toMatchObject({ error: 'SecretInUse', secret: 'db-password', used_by: ['reader'] });
    expect(inUse.json().message).toContain('"reader"');
    expect((await api('PUT', '/functions/reader', { config: { secrets: [] } }, DEMO)).statusCode).toBe(200);
    expect((await api('DELETE', '/secrets/db-password', undefined, DEMO)).statusCode).toBe(403);
    expect((await api('DELETE', '/secrets/db-password')).statusCode).toBe(204);
    expect((await api('GET', '/secrets', undefined, DEMO)).json().count).toBe(1);

    for (const a of answers) expect(a).not.toContain(value);
  });

  it('refuses to start on a key file others can read or of the wrong length, and one under the function storage', async () => {
    const dir = tempDir();
    const key = path.join(dir, 'secrets.key');
    fs.writeFileSync(key, crypto.randomBytes(32), { mode: 0o644 });
    fs.chmodSync(key, 0o644);
    await expect(startTestDaemon({ dir })).rejects.toThrow(/secrets key file .*secrets\.key.* has mode 0644.*chmod 600/);
    fs.writeFileSync(key, crypto.randomBytes(16));
    fs.chmodSync(key, 0o600);
    await expect(startTestDaemon({ dir })).rejects.toThrow(/is 16 bytes, expected exactly 32/);
    fs.rmSync(key);
    const storage = path.join(dir, 'functions');
    await expect(startTestDaemon({ dir, config: { system: { secrets_key_path: path.join(storage, 'k') } } })).rejects.toThrow(/under system.function_storage_path/);
    // A relative path is taken from the config file's directory.
    expect(testConfig({ dir, config: { system: { secrets_key_path: 'keys/faasd.key' } } }).system.secrets_key_path).toBe(path.join(dir, 'keys', 'faasd.key'));
  });
});

describe.skipIf(!isRoot)('secrets in process mode (strict)', () => {
  it('a function reads its secret; another cannot; the value is in no log line, answer, environment, function file or registry file', async () => {
    const { d, config, lines, answers, api } = await observedDaemon();
    const value = secretValue();
    expect((await api('POST', '/secrets', { name: 'db-password', value })).statusCode).toBe(201);
    await deployFn(api, 'reader', READER, { secrets: ['db-password'] });
    await deployFn(api, 'prying', PRYING);

    const res = await api('POST', '/invoke/reader', {}, DEMO);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ sha: sha(value), same: true, write: expect.stringMatching(/^(OSError|PermissionError)$/), mode: '0o400', env: '/var/faasd/secrets', listing: ['db-password'] });
    const readerId = String(res.headers['x-faas-instance-id']);
    const runRoot = path.join(runBase(), daemonId(config), 'process');
    const hostFile = path.join(runRoot, `${readerId}.secrets`, 'files', 'db-password');
    expect(fs.readFileSync(hostFile, 'utf8')).toBe(value);
    expect(fs.statSync(path.dirname(path.dirname(hostFile))).mode & 0o777).toBe(0o700);

    const pry = await api('POST', '/invoke/prying', { paths: [hostFile, path.dirname(hostFile)] }, DEMO);
    expect(pry.statusCode, pry.body).toBe(200);
    expect(pry.json()).toEqual({
      '/var/faasd/secrets/db-password': 'FileNotFoundError',
      '/var/openfaas/secrets/db-password': 'FileNotFoundError',
      [hostFile]: 'FileNotFoundError',
      [path.dirname(hostFile)]: 'FileNotFoundError',
      listing: [],
    });

    // The instance's processes: not in their environment or command line.
    const inst = (await api('GET', '/instances', undefined, DEMO)).json().instances.find((i: { id: string }) => i.id === readerId);
    const pids = processTree(inst.pid);
    expect(pids.length).toBeGreaterThan(1);
    for (const pid of pids) {
      expect(fs.readFileSync(`/proc/${pid}/environ`).toString('latin1')).not.toContain(value);
      expect(fs.readFileSync(`/proc/${pid}/cmdline`).toString('latin1')).not.toContain(value);
    }
    for (const url of ['/functions/reader', '/functions', '/secrets', '/instances', '/functions/reader/logs', '/stats', '/health']) {
      expect((await api('GET', url, undefined, DEMO)).statusCode).toBe(200);
    }

    // Updating the secret replaces the instances that use it: the next call sees the new value.
    const value2 = secretValue();
    expect((await api('PUT', '/secrets/db-password', { value: value2 })).statusCode).toBe(200);
    const after = await api('POST', '/invoke/reader', {}, DEMO);
    expect(after.json().sha).toBe(sha(value2));
    expect(after.headers['x-faas-instance-id']).not.toBe(readerId);
    // The old instance's secrets directory goes with it.
    await vi.waitFor(() => expect(fs.existsSync(path.dirname(path.dirname(hostFile)))).toBe(false), { timeout: 10_000 });

    for (const v of [value, value2]) {
      for (const line of lines) expect(line).not.toContain(v);
      for (const a of answers) expect(a).not.toContain(v);
      for (const f of filesUnder(config.system.function_storage_path)) expect(fs.readFileSync(f).toString('latin1'), f).not.toContain(v);
      for (const f of fs.readdirSync(path.dirname(config.system.registry_path)).filter((n) => n.startsWith('registry.db'))) {
        expect(fs.readFileSync(path.join(path.dirname(config.system.registry_path), f)).toString('latin1'), f).not.toContain(v);
      }
    }
    expect(lines.some((l) => l.includes('secret updated'))).toBe(true);

    // Deleting the function stops its instances and removes their secrets directories.
    expect((await api('DELETE', '/functions/reader', undefined, DEMO)).statusCode).toBe(204);
    await vi.waitFor(() => expect(fs.readdirSync(runRoot).filter((n) => n.startsWith('reader-'))).toEqual([]), { timeout: 10_000 });
    await d.close();
    expect(fs.existsSync(runRoot)).toBe(false);
  }, 60_000);

  it('a pre-warmed instance gets the secrets of the function it is given', async () => {
    const { d, api } = await observedDaemon({ config: { prewarm: { process: { python: 1, node: 0 }, container: { python: 0, node: 0 } } } });
    await vi.waitFor(() => expect(d.manager.prewarmed('process', 'python')).toBe(1), { timeout: 15_000 });
    const value = secretValue();
    await api('POST', '/secrets', { name: 'db-password', value });
    await deployFn(api, 'reader', READER, { secrets: ['db-password'] });
    const res = await api('POST', '/invoke/reader', {}, DEMO);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.headers['x-faas-start']).toBe('prewarmed');
    expect(res.json()).toMatchObject({ sha: sha(value), same: true, mode: '0o400' });
  }, 30_000);

  it('a function declared in faas_config.yaml may name a secret set later, and gets it once it is set', async () => {
    const { d, lines, api } = await observedDaemon({ config: { functions: { reader: { code: READER, secrets: ['db-password'] } } } });
    expect(lines.some((l) => l.includes('names secrets that do not exist yet'))).toBe(true);
    const before = await api('POST', '/invoke/reader', {}, DEMO);
    expect(before.statusCode).toBe(500);
    expect(before.json().message).toContain('No such file or directory');
    const value = secretValue();
    expect((await api('POST', '/secrets', { name: 'db-password', value })).json().used_by).toEqual(['reader']);
    const after = await api('POST', '/invoke/reader', {}, DEMO);
    expect(after.statusCode, after.body).toBe(200);
    expect(after.json().sha).toBe(sha(value));
    await vi.waitFor(() => expect(d.manager.listInstances().filter((i) => i.function === 'reader')).toHaveLength(1), { timeout: 10_000 });
  }, 30_000);

  it('a registry copied without its key file reveals no secret', async () => {
    const first = await observedDaemon();
    const value = secretValue();
    await first.api('POST', '/secrets', { name: 'db-password', value });
    await deployFn(first.api, 'reader', READER, { secrets: ['db-password'] });
    expect((await first.api('POST', '/invoke/reader', {}, DEMO)).json().sha).toBe(sha(value));
    await first.d.close();
    const registry = first.config.system.registry_path;
    expect(fs.readFileSync(registry).toString('latin1')).not.toContain(value);

    const dir = tempDir();
    fs.copyFileSync(registry, path.join(dir, 'registry.db'));
    const copy = await observedDaemon({ dir });
    expect(copy.lines.some((l) => l.includes('does not open these secrets'))).toBe(true);
    expect((await copy.api('GET', '/secrets', undefined, DEMO)).json().secrets.map((s: { name: string }) => s.name)).toEqual(['db-password']);
    const res = await copy.api('POST', '/invoke/reader', {}, DEMO);
    expect(res.statusCode).toBe(500);
    expect(res.json().message).toContain('No such file or directory');
    // No fresh key while secrets sealed with the missing one exist.
    const refused = await copy.api('POST', '/secrets', { name: 'other', value: 'x' });
    expect(refused.statusCode).toBe(500);
    expect(refused.json().message).toContain('is missing');
    expect(fs.existsSync(copy.config.system.secrets_key_path)).toBe(false);
  }, 60_000);
});

describe('secrets in process mode (isolation none)', () => {
  it('without a mount namespace the function finds its secrets through FAASD_SECRETS_DIR', async () => {
    const { api } = await observedDaemon({ config: { system: { process_isolation_level: 'none' } } });
    const value = secretValue();
    await api('POST', '/secrets', { name: 'db-password', value });
    const code = `import hashlib, os
def handle(request):
    d = os.environ['FAASD_SECRETS_DIR']
    return {"sha": hashlib.sha256(open(os.path.join(d, 'db-password'), 'rb').read()).hexdigest(), "var": os.path.exists('/var/faasd/secrets/db-password')}
`;
    await deployFn(api, 'reader', code, { secrets: ['db-password'] });
    const res = await api('POST', '/invoke/reader', {}, DEMO);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ sha: sha(value), var: false });

    // Bytes that are not text (a DER key, a keystore) go as value_base64 and arrive byte for byte.
    const bytes = Buffer.concat([Buffer.from([0, 0xff, 0xfe, 0x0a, 0x0d]), crypto.randomBytes(300)]);
    expect((await api('POST', '/secrets', { name: 'tls-key', value_base64: bytes.toString('base64') })).statusCode).toBe(201);
    await deployFn(api, 'key-reader', code.replaceAll('db-password', 'tls-key'), { secrets: ['tls-key'] });
    expect((await api('POST', '/invoke/key-reader', {}, DEMO)).json()).toEqual({ sha: crypto.createHash('sha256').update(bytes).digest('hex'), var: false });
  }, 30_000);
});

const docker = new Docker();
const engine = await probeDocker(docker);
const dockerRequired = process.env.FAAS_REQUIRE_DOCKER === '1';
if (!engine.ok && !dockerRequired) console.warn(`secrets container-mode case skipped: no Docker engine (${engine.detail}); CI sets FAAS_REQUIRE_DOCKER=1`);
const IMAGES = {
  python: process.env.FAAS_TEST_PYTHON_IMAGE ?? 'faasd-runtime/python:3.11-local',
  node: process.env.FAAS_TEST_NODE_IMAGE ?? 'faasd-runtime/node:20-local',
};

describe.skipIf(!engine.ok && !dockerRequired)('secrets in container mode', () => {
  it('a container reads its secret at both paths, another cannot, an update reaches it, and nothing is left behind', async () => {
    const { d, config, lines, answers, api } = await observedDaemon({ config: { system: { container_images: IMAGES, default_mode: 'container' } } });
    const value = secretValue();
    await api('POST', '/secrets', { name: 'db-password', value });
    await deployFn(api, 'reader', READER, { secrets: ['db-password'] });
    await deployFn(api, 'prying', PRYING);
    const res = await api('POST', '/invoke/reader', {}, DEMO);
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toEqual({ sha: sha(value), same: true, write: expect.stringMatching(/^(OSError|PermissionError)$/), mode: '0o400', env: '/var/faasd/secrets', listing: ['db-password'] });
    const pry = await api('POST', '/invoke/prying', {}, DEMO);
    expect(pry.json()).toEqual({ '/var/faasd/secrets/db-password': 'FileNotFoundError', '/var/openfaas/secrets/db-password': 'FileNotFoundError', listing: [] });

    const inst = (await api('GET', '/instances', undefined, DEMO)).json().instances.find((i: { id: string }) => i.id === res.headers['x-faas-instance-id']);
    const info = await docker.getContainer(inst.container_id).inspect();
    expect(JSON.stringify(info)).not.toContain(value);
    const runRoot = path.join(runBase(), daemonId(config), 'container');
    const sources = info.Mounts.filter((m) => m.Destination.endsWith('/secrets')).map((m) => m.Source);
    expect(sources).toHaveLength(2);
    for (const s of sources) expect(s.startsWith(runRoot)).toBe(true);

    const value2 = secretValue();
    await api('PUT', '/secrets/db-password', { value: value2 });
    const after = await api('POST', '/invoke/reader', {}, DEMO);
    expect(after.json().sha).toBe(sha(value2));
    expect(after.headers['x-faas-instance-id']).not.toBe(res.headers['x-faas-instance-id']);

    for (const v of [value, value2]) {
      for (const line of lines) expect(line).not.toContain(v);
      for (const a of answers) expect(a).not.toContain(v);
      for (const f of filesUnder(config.system.function_storage_path)) expect(fs.readFileSync(f).toString('latin1'), f).not.toContain(v);
    }
    await d.close();
    expect(fs.existsSync(runRoot)).toBe(false);
  }, 90_000);
});
