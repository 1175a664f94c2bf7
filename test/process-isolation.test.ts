// Strict isolation, observed from inside a running function (what a hostile function sees).
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runBase } from '../src/os/run-dir.js';
import { daemonId } from '../src/execution/setup.js';
import { startTestDaemon as startBase } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

if (!isRoot) console.warn('strict isolation suite skipped: needs root (CI runs it as root)');

const PROBE = `
import os, socket, json

def can_read(p):
    try:
        with open(p, 'rb') as f:
            f.read(1)
        return True
    except Exception:
        return False

def can_write(p):
    try:
        with open(p, 'w') as f:
            f.write('x')
        return True
    except Exception:
        return False

def can_connect(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    try:
        s.connect(('127.0.0.1', port))
        return True
    except Exception:
        return False
    finally:
        s.close()

def handle(request):
    q = request.get_json()
    pids = [p for p in os.listdir('/proc') if p.isdigit()]
    return {
        'uid': os.getuid(),
        'gid': os.getgid(),
        'pids': len(pids),
        'shadow': can_read('/etc/shadow'),
        'passwd': can_read('/etc/passwd'),
        'config': can_read(q['config']),
        'registry': can_read(q['registry']),
        'other_fn': os.path.exists(q['other']),
        'write_code': can_write('/function/evil.py'),
        'write_tmp': can_write('/tmp/ok.txt'),
        'gateway': can_connect(q['port']),
        'env': dict(os.environ),
        'auth': request.get_header('authorization'),
        'status': open('/proc/self/status').read(),
        'hostname': socket.gethostname(),
        'root_entries': sorted(os.listdir('/')),
        'var_tree': sorted(os.path.join(r, x) for r, ds, fs in os.walk('/var') for x in ds + fs),
    }
`;

const PREWARM = { process: { python: 1, node: 1 }, container: { python: 0, node: 0 } };

describe.skipIf(!isRoot).each([
  ['a cold-started instance', {}],
  ['a pre-warmed instance specialised for the function', { prewarm: PREWARM }],
] as const)('strict isolation from inside a function, on %s', (_kind, extra) => {
  const startTestDaemon = async (opts: Parameters<typeof startBase>[0] = {}) => {
    const d = await startBase({ ...opts, config: { ...(opts.config ?? {}), ...extra } });
    if ('prewarm' in extra) {
      await vi.waitFor(() => expect([d.manager.prewarmed('process', 'python'), d.manager.prewarmed('process', 'node')], 'pre-warmed instances').toEqual([1, 1]), { timeout: 10_000 });
    }
    return d;
  };
  const expectStart = (res: { headers: Record<string, unknown> }) => expect(res.headers['x-faas-start']).toBe('prewarm' in extra ? 'prewarmed' : 'cold');

  it('a Python function cannot see or reach anything of the host, the daemon or other functions', async () => {
    process.env.FAASD_SECRET_MARKER = 'do-not-leak-42';
    const d = await startTestDaemon({ listen: true });
    await deploy(d, 'other-fn', 'def handle(r):\n    return "secret code of another function"');
    await deploy(d, 'probe', PROBE, { config: { environment: { GREETING: 'hi' } } });
    const port = Number(new URL(d.url).port);
    const otherDir = path.join(d.config.system.function_storage_path, 'other-fn', 'v1');
    // Make the daemon's files world-readable, as under /etc and /var/lib: strict mode must hide
    // them by what it mounts, not by permissions.
    const cfgDir = path.dirname(d.config.source_file!);
    fs.chmodSync(cfgDir, 0o755);
    fs.chmodSync(d.config.source_file!, 0o644);
    fs.chmodSync(d.config.system.registry_path, 0o644);
    fs.chmodSync(d.config.system.function_storage_path, 0o755);
    fs.chmodSync(path.dirname(otherDir), 0o755);
    expect(fs.statSync(d.config.source_file!).mode & 0o004).toBe(4);
    expect(fs.existsSync(otherDir)).toBe(true);
    const res = await fetch(`${d.url}/invoke/probe`, {
      method: 'POST',
      headers: { authorization: 'Bearer demo-key', 'content-type': 'application/json' },
      body: JSON.stringify({ config: d.config.source_file, registry: d.config.system.registry_path, other: otherDir, port }),
    });
    expectStart({ headers: { 'x-faas-start': res.headers.get('x-faas-start') } });
    const seen = (await res.json()) as Record<string, unknown> & { env: Record<string, string>; status: string };
    expect(res.status).toBe(200);
    expect(seen.uid).toBe(65534);
    expect(seen.gid).toBe(65534);
    expect(seen.pids).toBeLessThanOrEqual(4);
    expect(seen.shadow).toBe(false);
    expect(seen.passwd).toBe(false);
    expect(seen.config).toBe(false);
    expect(seen.registry).toBe(false);
    expect(seen.other_fn).toBe(false);
    expect(seen.write_code).toBe(false);
    expect(seen.write_tmp).toBe(true);
    expect(seen.gateway).toBe(false);
    expect(seen.auth).toBeNull();
    expect(seen.env.GREETING).toBe('hi');
    expect(JSON.stringify(seen.env)).not.toContain('do-not-leak-42');
    expect(Object.keys(seen.env).some((k) => k.startsWith('NODE_') && k !== 'NODE_ENV')).toBe(false);
    expect(seen.status).toMatch(/^CapEff:\s*0+$/m);
    expect(seen.status).toMatch(/^NoNewPrivs:\s*1$/m);
    expect(seen.root_entries).not.toContain('root');
    expect(seen.root_entries).not.toContain('home');
    // The host's /var is not there: only the (empty) secrets mount points of this instance.
    expect(seen.var_tree).toEqual(['/var/faasd', '/var/faasd/secrets', '/var/openfaas', '/var/openfaas/secrets']);
  });

  it('a JavaScript function is sandboxed the same way', async () => {
    const d = await startTestDaemon();
    await deploy(
      d,
      'js-probe',
      `const fs = require('fs');
       exports.handler = async () => {
         const tryRead = (p) => { try { fs.readFileSync(p); return true } catch { return false } };
         const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return true } catch { return false } };
         return { uid: process.getuid(), shadow: tryRead('/etc/shadow'), code: tryWrite('/function/x.js'), tmp: tryWrite('/tmp/x'),
                  pids: fs.readdirSync('/proc').filter((p) => /^\\d+$/.test(p)).length, env: Object.keys(process.env).sort() };
       }`,
      { runtime: 'node' },
    );
    const res = await invoke(d, 'js-probe');
    expect(res.statusCode, res.body).toBe(200);
    expectStart(res);
    expect(res.json()).toMatchObject({ uid: 65534, shadow: false, code: false, tmp: true });
    expect(res.json().pids).toBeLessThanOrEqual(4);
    expect(res.json().env).not.toContain('NODE_EXTRA_CA_CERTS');
  });

  it('a memory limit is a cgroup limit on the instance (read back from the kernel)', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'limited', 'def handle(r):\n    return 1', { config: { memory: '96Mi', cpu_limit: '250m' } });
    const res = await invoke(d, 'limited', {});
    expectStart(res);
    const id = res.headers['x-faas-instance-id'] as string;
    const inst = d.manager.instancesOf('limited').find((i) => i.id === id)!;
    const usage = await inst.running!.usage();
    expect(usage?.memoryBytes).toBeGreaterThan(0);
    expect(usage!.memoryBytes).toBeLessThanOrEqual(96 * 1024 * 1024);
  });

  it('a function that tries to fill the disk cannot write anywhere backed by the host disk; /tmp is bounded by its memory', async () => {
    const d = await startTestDaemon();
    await deploy(
      d,
      'filler',
      `import os
def fill(p, mb):
    written = 0
    try:
        with open(p, 'wb') as f:
            chunk = b'x' * (1024 * 1024)
            for _ in range(mb):
                f.write(chunk)
                f.flush()
                written += 1
        return written
    except Exception as e:
        return type(e).__name__ + ':' + str(written)
def handle(r):
    out = {p: fill(p, 64) for p in ('/run/faas/fill', '/run/faas/../fill', '/function/fill', '/opt/faas/runtime/fill', '/etc/fill', '/usr/fill', '/fill')}
    out['tmp'] = fill('/tmp/fill', 256)
    return out`,
      { config: { memory: '128Mi' } },
    );
    const runDir = path.join(runBase(), daemonId(d.config));
    const free = () => fs.statfsSync(runDir).bavail * fs.statfsSync(runDir).bsize;
    const before = free();
    const res = await invoke(d, 'filler', {});
    expectStart(res);
    // Either the call answers (every write refused, /tmp stopped short) or the /tmp write got the
    // instance OOM-killed: both keep the host's disk untouched.
    if (res.statusCode === 200) {
      const out = res.json() as Record<string, unknown>;
      for (const p of ['/run/faas/fill', '/run/faas/../fill', '/function/fill', '/opt/faas/runtime/fill', '/etc/fill', '/usr/fill', '/fill']) {
        expect(out[p], p).toMatch(/^(OSError|PermissionError|FileNotFoundError):0$/);
      }
      expect(out.tmp).not.toBe(256);
    } else {
      expect(res.statusCode, res.body).toBe(502);
      expect(res.json().error).toBe('OutOfMemory');
    }
    // Nothing landed in the instance's host directory, and the host's disk did not shrink by the
    // 64 MB a single successful write would have taken (other tests may write a little meanwhile).
    for (const inst of fs.readdirSync(path.join(runDir, 'process'))) {
      const dir = path.join(runDir, 'process', inst);
      if (!fs.statSync(dir).isDirectory() || inst.startsWith('.')) continue;
      // A pre-warmed instance's code slot holds the function's own files, bound read-only; its
      // secrets directory holds the (read-only, here empty) directory the sandbox sees.
      if (inst.endsWith('.secrets')) {
        expect(fs.readdirSync(dir)).toEqual(['files']);
        expect(fs.readdirSync(path.join(dir, 'files'))).toEqual([]);
        continue;
      }
      const expected = inst.endsWith('.code') ? ['main.py'] : ['shim.sock'];
      expect(fs.readdirSync(dir).filter((f) => !expected.includes(f))).toEqual([]);
    }
    expect(before - free()).toBeLessThan(32 * 1024 * 1024);
  });

  it('allocating 400 MB under memory 64Mi is 502 OutOfMemory, and the next call works', async () => {
    const d = await startTestDaemon();
    await deploy(d, 'hog', 'def handle(r):\n    if r.get_json().get("hog"):\n        x = bytearray(400 * 1024 * 1024)\n        return len(x)\n    return "small"', { config: { memory: '64Mi' } });
    const res = await invoke(d, 'hog', { hog: true });
    expectStart(res);
    expect(res.statusCode).toBe(502);
    expect(res.json().error).toBe('OutOfMemory');
    expect((await invoke(d, 'hog', { hog: false })).json()).toBe('small');
  });
});
