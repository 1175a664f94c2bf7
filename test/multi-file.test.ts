// Multi-file functions: a `files` map in JSON or a .tar.gz upload, an entry file and helper
// modules beside it, dependencies from requirements.txt / package.json, the files listed and
// downloadable, and hostile archives refused with the entry that tripped them.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEMO, startTestDaemon, tempDir } from './helpers/daemon.js';
import { invoke, isRoot } from './helpers/functions.js';
import { makeNpmPackage, makeWheel } from './helpers/packages.js';
import { tarGz } from './helpers/tarball.js';

const PY_FILES = {
  'main.py': 'from helpers.text import shout\n\ndef handle(request):\n    return {"said": shout(request.get_json()["word"])}\n',
  'helpers/__init__.py': '',
  'helpers/text.py': 'def shout(s):\n    return s.upper() + "!"\n',
};

function uploadHeaders(meta: Record<string, unknown>) {
  return { ...DEMO, 'content-type': 'application/gzip', 'x-faas-function': JSON.stringify(meta) };
}

if (!isRoot) console.warn('multi-file suite skipped: functions run in strict sandboxes, which need root');

describe.skipIf(!isRoot)('multi-file functions', () => {
  it('a JSON files map with a helper package deploys, lists its files and imports the helper', async () => {
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'multi', files: PY_FILES } });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json().files).toEqual([
      { path: 'helpers/__init__.py', size: 0 },
      { path: 'helpers/text.py', size: Buffer.byteLength(PY_FILES['helpers/text.py']) },
      { path: 'main.py', size: Buffer.byteLength(PY_FILES['main.py']) },
    ]);
    expect(res.json().code).toBe(PY_FILES['main.py']);
    expect(res.json().digest).toMatch(/^[0-9a-f]{64}$/);
    const call = await invoke(d, 'multi', { word: 'hey' });
    expect(call.statusCode, call.body).toBe(200);
    expect(call.json()).toEqual({ said: 'HEY!' });

    // Updating only `code` replaces the entry file and keeps the helpers.
    const upd = await d.app.inject({
      method: 'PUT',
      url: '/functions/multi',
      headers: DEMO,
      payload: { code: 'from helpers.text import shout\n\ndef handle(request):\n    return shout("v2")\n' },
    });
    expect(upd.statusCode, upd.body).toBe(200);
    expect(upd.json().files.map((f: { path: string }) => f.path)).toEqual(['helpers/__init__.py', 'helpers/text.py', 'main.py']);
    await expect.poll(async () => (await invoke(d, 'multi', {})).json()).toBe('V2!');
  });

  it('handler: file.function picks the entry file; requirements.txt and package.json dependencies are installed', async () => {
    const deps = tempDir();
    const wheel = await makeWheel(deps);
    const pkg = makeNpmPackage(deps);
    const d = await startTestDaemon();
    const py = await d.app.inject({
      method: 'POST',
      url: '/functions',
      headers: DEMO,
      payload: {
        name: 'py-app',
        handler: 'app.run',
        files: {
          'app.py': 'import tinypkg\nfrom util import n\n\ndef run(request):\n    return tinypkg.shout("x" * n())\n',
          'util.py': 'def n():\n    return 3\n',
          'requirements.txt': `# local wheel\n${wheel}\n`,
        },
      },
    });
    expect(py.statusCode, py.body).toBe(201);
    expect((await invoke(d, 'py-app', {})).json()).toBe('XXX!');

    const js = await d.app.inject({
      method: 'POST',
      url: '/functions',
      headers: DEMO,
      payload: {
        name: 'js-app',
        runtime: 'node',
        handler: 'src/app.main',
        files: {
          'src/app.js': "const pad = require('left-pad-local');\nconst { stars } = require('./lib/stars');\nexports.main = async () => pad('7', stars);\n",
          'src/lib/stars.js': 'exports.stars = 4;\n',
          'package.json': JSON.stringify({ name: 'js-app', private: true, dependencies: { 'left-pad-local': `file:${pkg}` } }),
        },
      },
    });
    expect(js.statusCode, js.body).toBe(201);
    expect((await invoke(d, 'js-app')).json()).toBe('***7');
  });

  it('a .tar.gz upload deploys with its config in X-Faas-Function, and GET /code gives the same files back', async () => {
    const src = tempDir();
    for (const [p, text] of Object.entries(PY_FILES)) {
      fs.mkdirSync(path.dirname(path.join(src, p)), { recursive: true });
      fs.writeFileSync(path.join(src, p), text);
    }
    const archive = execFileSync('tar', ['-czf', '-', '-C', src, '.']);
    const d = await startTestDaemon();
    const res = await d.app.inject({ method: 'POST', url: '/functions', headers: uploadHeaders({ name: 'from-tar', config: { timeout: 7 } }), payload: archive });
    expect(res.statusCode, res.body).toBe(201);
    expect(res.json()).toMatchObject({ name: 'from-tar', version: 1, config: { timeout: 7 } });
    expect((await invoke(d, 'from-tar', { word: 'tar' })).json()).toEqual({ said: 'TAR!' });

    const code = await d.app.inject({ method: 'GET', url: '/functions/from-tar/code', headers: DEMO });
    expect(code.statusCode).toBe(200);
    expect(code.headers['content-type']).toBe('application/gzip');
    expect(code.headers['content-disposition']).toContain('from-tar-v1.tar.gz');
    const out = tempDir();
    execFileSync('tar', ['-xzf', '-', '-C', out], { input: code.rawPayload });
    for (const [p, text] of Object.entries(PY_FILES)) expect(fs.readFileSync(path.join(out, p), 'utf8')).toBe(text);
    expect(fs.existsSync(path.join(out, '.complete'))).toBe(false);

    // PUT with an archive: a new version with the new files only.
    const put = await d.app.inject({
      method: 'PUT',
      url: '/functions/from-tar',
      headers: uploadHeaders({}),
      payload: tarGz([{ name: 'handler.py', body: 'def handle(r):\n    return "only me"\n' }]),
    });
    expect(put.statusCode, put.body).toBe(200);
    expect(put.json().files).toEqual([{ path: 'handler.py', size: 36 }]);
    await expect.poll(async () => (await invoke(d, 'from-tar', {})).json()).toBe('only me');
  });

  it('hostile archives are refused with 400 naming the entry, and nothing is created', async () => {
    const d = await startTestDaemon();
    const ok = { name: 'main.py', body: 'def handle(r):\n    return 1\n' };
    const cases: [string, Buffer, string][] = [
      ['dot-dot', tarGz([ok, { name: '../escape.py', body: 'x = 1' }]), '../escape.py'],
      ['nested dot-dot', tarGz([ok, { name: 'a/../../escape.py', body: 'x = 1' }]), 'a/../../escape.py'],
      ['absolute', tarGz([ok, { name: '/etc/cron.d/evil', body: '* * * * * root true' }]), '/etc/cron.d/evil'],
      ['symlink out', tarGz([ok, { name: 'passwd', type: '2', linkname: '/etc/passwd' }]), 'passwd'],
      ['hard link', tarGz([ok, { name: 'shadow', type: '1', linkname: '/etc/shadow' }]), 'shadow'],
      ['device', tarGz([ok, { name: 'tty', type: '3' }]), 'tty'],
      ['reserved name', tarGz([ok, { name: '.deps/evil.py', body: 'x = 1' }]), '.deps/evil.py'],
      ['too many files', tarGz([ok, ...Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}.txt`, body: 'x' }))]), 'f999.txt'],
    ];
    for (const [label, archive, entry] of cases) {
      const res = await d.app.inject({ method: 'POST', url: '/functions', headers: uploadHeaders({ name: 'evil' }), payload: archive });
      expect(res.statusCode, `${label}: ${res.body}`).toBe(400);
      expect(res.json(), label).toMatchObject({ error: 'BadRequest', field: 'archive', entry });
      expect(res.json().message, label).toContain(entry);
    }
    // A gzip bomb: 64 MB of zeros in a few KB.
    const bomb = zlib.gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const big = await d.app.inject({ method: 'POST', url: '/functions', headers: uploadHeaders({ name: 'evil' }), payload: bomb });
    expect(big.statusCode, big.body).toBe(413);
    expect(big.json()).toMatchObject({ field: 'archive' });
    const notGzip = await d.app.inject({ method: 'POST', url: '/functions', headers: uploadHeaders({ name: 'evil' }), payload: Buffer.from('\x1f\x8bnot really') });
    expect(notGzip.statusCode).toBe(400);

    expect((await d.app.inject({ method: 'GET', url: '/functions/evil', headers: DEMO })).statusCode).toBe(404);
    expect(fs.existsSync(path.join(d.config.system.function_storage_path, 'evil'))).toBe(false);
    expect(fs.existsSync('/etc/cron.d/evil')).toBe(false);
  });

  it('bad file sets are 400s naming the field: no entry file, a handler naming a missing file, pip options, bad paths in JSON', async () => {
    const d = await startTestDaemon();
    const post = (payload: Record<string, unknown>) => d.app.inject({ method: 'POST', url: '/functions', headers: DEMO, payload: { name: 'bad', ...payload } });
    const noEntry = await post({ files: { 'lib.py': 'x = 1' } });
    expect(noEntry.statusCode).toBe(400);
    expect(noEntry.json()).toMatchObject({ field: 'files' });
    expect(noEntry.json().message).toContain('main.py or handler.py');
    const missing = await post({ handler: 'app.run', files: { 'main.py': 'def run(r):\n    return 1' } });
    expect(missing.statusCode).toBe(400);
    expect(missing.json()).toMatchObject({ field: 'handler' });
    expect(missing.json().message).toContain('app.py');
    const pipOpt = await post({ files: { 'main.py': 'def handle(r):\n    return 1', 'requirements.txt': 'requests\n--index-url http://evil.example/\n' } });
    expect(pipOpt.statusCode).toBe(400);
    expect(pipOpt.json()).toMatchObject({ field: 'files.requirements.txt' });
    expect(pipOpt.json().message).toContain('line 2');
    const outside = await post({ files: { 'main.py': 'def handle(r):\n    return 1', '../x.py': '' } });
    expect(outside.statusCode).toBe(400);
    expect(outside.json()).toMatchObject({ field: 'files', entry: '../x.py' });
    const neither = await post({});
    expect(neither.statusCode).toBe(400);
    expect(neither.json()).toMatchObject({ field: 'code' });
    const badHeader = await d.app.inject({
      method: 'POST',
      url: '/functions',
      headers: { ...DEMO, 'content-type': 'application/gzip', 'x-faas-function': '{nope' },
      payload: tarGz([{ name: 'main.py', body: 'x' }]),
    });
    expect(badHeader.statusCode).toBe(400);
    expect(badHeader.json()).toMatchObject({ field: 'x-faas-function' });
  });

  it('faas_config.yaml `path:` to a directory deploys every file in it', async () => {
    const dir = tempDir();
    const fnDir = path.join(dir, 'fn');
    for (const [p, text] of Object.entries(PY_FILES)) {
      fs.mkdirSync(path.dirname(path.join(fnDir, p)), { recursive: true });
      fs.writeFileSync(path.join(fnDir, p), text);
    }
    fs.mkdirSync(path.join(fnDir, '__pycache__'));
    fs.writeFileSync(path.join(fnDir, '__pycache__', 'junk.pyc'), 'junk');
    const d = await startTestDaemon({ dir, config: { functions: { declared: { path: './fn' } } } });
    const got = await d.app.inject({ method: 'GET', url: '/functions/declared', headers: DEMO });
    expect(got.json().files.map((f: { path: string }) => f.path)).toEqual(['helpers/__init__.py', 'helpers/text.py', 'main.py']);
    expect((await invoke(d, 'declared', { word: 'yaml' })).json()).toEqual({ said: 'YAML!' });
  });
});
