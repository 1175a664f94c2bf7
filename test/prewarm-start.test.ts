// What a pre-warmed start must keep, however it is made faster (issue 17, target 3): the first
// call's answer is the function's, its secrets and limits are in place before any of its code
// runs (module top included), and a function that fails to load answers with its load error,
// in process and container mode, for both runtimes.
import { describe, expect, it } from 'vitest';
import { ADMIN, startTestDaemon } from './helpers/daemon.js';
import { deploy, invoke, isRoot } from './helpers/functions.js';

const docker = await import('../src/system/docker-probe.js').then((m) => m.probeDocker());
const IMAGES = { python: 'faasd-runtime/python:3.11-local', node: 'faasd-runtime/node:20-local' };

/** Reads its secret and lists its directories at import time, before any call. */
const PY_TOP = `import os
SECRET = open('/var/faasd/secrets/token').read() if os.path.exists('/var/faasd/secrets/token') else None
LISTING = sorted(os.listdir('/var/faasd/secrets'))
FILES = sorted(os.listdir('/function'))
def handle(request):
    return {"secret": SECRET, "listing": LISTING, "files": FILES, "echo": request.get_json()}
`;
const JS_TOP = `const fs = require('node:fs');
const SECRET = fs.existsSync('/var/faasd/secrets/token') ? fs.readFileSync('/var/faasd/secrets/token', 'utf8') : null;
const LISTING = fs.readdirSync('/var/faasd/secrets').sort();
const FILES = fs.readdirSync('/function').sort();
exports.handler = async (event) => ({ secret: SECRET, listing: LISTING, files: FILES, echo: event.json() });
`;
const FILE = { python: 'main.py', node: 'index.js' } as const;
const TOP = { python: PY_TOP, node: JS_TOP } as const;
/** Loads at deploy (where the check runs it without FAAS_SOCKET), fails in an instance. */
const BROKEN = {
  python: 'import os\nif os.environ.get("FAAS_SOCKET"):\n    raise ValueError("broken at import")\ndef handle(r):\n    return 1\n',
  node: 'if (process.env.FAAS_SOCKET) throw new RangeError("broken at import");\nexports.handler = async () => 1;\n',
} as const;
/** Touches 200 MB at import: over a 64Mi limit only if the limit is there before the module runs. */
const HOG = {
  python: 'X = b"x" * (200 * 1024 * 1024)\ndef handle(r):\n    return len(X)\n',
  node: 'const X = Buffer.alloc(200 * 1024 * 1024, 1);\nexports.handler = async () => X.length;\n',
} as const;

const modes = [
  { mode: 'process' as const, skip: !isRoot, config: { prewarm: { process: { python: 1, node: 1 }, container: { python: 0, node: 0 } } } },
  {
    mode: 'container' as const,
    skip: !docker.ok,
    config: { prewarm: { process: { python: 0, node: 0 }, container: { python: 1, node: 1 } }, system: { container_images: IMAGES } },
  },
];

for (const { mode, skip, config } of modes) {
  describe.skipIf(skip)(`a pre-warmed start (${mode} mode)`, () => {
    async function daemon() {
      const d = await startTestDaemon({ config });
      await expect.poll(() => [d.manager.prewarmed(mode, 'python'), d.manager.prewarmed(mode, 'node')], { message: 'the generic pools fill', timeout: 30_000 }).toEqual([1, 1]);
      return d;
    }
    const settle = (d: Awaited<ReturnType<typeof daemon>>) =>
      expect.poll(() => [d.manager.prewarmed(mode, 'python'), d.manager.prewarmed(mode, 'node')], { message: 'the pools refill', timeout: 30_000 }).toEqual([1, 1]);

    it('answers the first call with the function result, its secret and no other already readable at import time', async () => {
      const d = await daemon();
      const set = await d.app.inject({ method: 'POST', url: '/secrets', headers: ADMIN, payload: { name: 'token', value: 's3cr3t-value' } });
      expect(set.statusCode, set.body).toBe(201);
      for (const runtime of ['python', 'node'] as const) {
        await deploy(d, `top-${runtime}`, TOP[runtime], { runtime, config: { execution_mode: mode, secrets: ['token'] } });
        await deploy(d, `bare-${runtime}`, TOP[runtime], { runtime, config: { execution_mode: mode } });
        for (const [name, secret, listing] of [
          [`top-${runtime}`, 's3cr3t-value', ['token']],
          [`bare-${runtime}`, null, []],
        ] as const) {
          await settle(d);
          const res = await invoke(d, name, { n: 7 });
          expect(res.statusCode, res.body).toBe(200);
          expect(res.headers['x-faas-start']).toBe('prewarmed');
          expect(res.json()).toMatchObject({ secret, listing, echo: { n: 7 } });
          expect(res.json().files).toContain(FILE[runtime]);
          const again = await invoke(d, name, { n: 8 });
          expect(again.headers['x-faas-start']).toBe('warm');
          expect(again.json().echo).toEqual({ n: 8 });
        }
      }
    }, 90_000);

    it('answers a load error the way a cold start does, and every later call too', async () => {
      const d = await daemon();
      for (const runtime of ['python', 'node'] as const) {
        await deploy(d, `broken-${runtime}`, BROKEN[runtime], { runtime, config: { execution_mode: mode } });
        await settle(d);
        const first = await invoke(d, `broken-${runtime}`, {});
        expect(first.statusCode, first.body).toBe(500);
        expect(first.json().message).toContain('broken at import');
        expect(first.json().message).toContain(runtime === 'python' ? 'ValueError' : 'RangeError');
        const second = await invoke(d, `broken-${runtime}`, {});
        expect(second.statusCode).toBe(500);
        expect(second.json().message).toContain('broken at import');
      }
    }, 90_000);

    it('has the function memory limit before its module runs (200 MB at import under 64Mi)', async () => {
      const d = await daemon();
      for (const runtime of ['python', 'node'] as const) {
        await deploy(d, `hog-${runtime}`, HOG[runtime], { runtime, config: { execution_mode: mode, memory: '64Mi' } });
        await settle(d);
        const res = await invoke(d, `hog-${runtime}`, {});
        expect(res.statusCode, res.body).toBe(502);
        expect(res.json().error).toBe('OutOfMemory');
      }
    }, 90_000);
  });
}
