// The client commands (faasd deploy, invoke, ls, ...) as a user runs them: the real CLI as a
// child process (bin/faasd.js -> dist/, built by `npm test`) against a real listening daemon.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cli, faasd, ok } from './helpers/cli.js';
import { startTestDaemon, tempDir } from './helpers/daemon.js';
import { deploy, isRoot } from './helpers/functions.js';
import { makeNpmPackage, makeWheel } from './helpers/packages.js';
import { tarGz } from './helpers/tarball.js';

function write(dir: string, files: Record<string, string>): string {
  for (const [p, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, p)), { recursive: true });
    fs.writeFileSync(path.join(dir, p), text);
  }
  return dir;
}

const ECHO_PY = `def handle(request):
    print("echo called", request.method, request.path)
    return {"method": request.method, "path": request.path, "body": request.get_text(),
            "type": request.get_header("content-type"), "test": request.get_header("x-test"),
            "query": request.query_params}
`;

const AUTH = { authorization: 'Bearer demo-key' };

if (!isRoot) console.warn('client CLI suite skipped: it runs functions in strict sandboxes, which need root');

describe('faasd --help', () => {
  it('lists every command, one line each', async () => {
    const r = await ok(faasd(['--help']));
    const section = r.stdout.split('Commands:\n')[1]!.split('\n\n')[0]!.split('\n');
    const names = section.map((l) => l.trim().split(/\s+/)[0]);
    expect(names).toEqual(['deploy', 'invoke', 'ls', 'describe', 'logs', 'rm', 'instances', 'stats', 'versions', 'rollback', 'secret', 'login']);
    for (const l of section) expect(l).toMatch(/^ {2}\S.*\S {2,}\S/); // the command, then its one-line summary
    // the daemon's own options are still there
    for (const flag of ['--config', '--check-system', '--create-config', '--port']) expect(r.stdout).toContain(flag);
  });

  it('an unknown command is named, not run as the daemon', async () => {
    const r = await faasd(['deploi']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("unknown command 'deploi'");
  });
});

describe.skipIf(!isRoot)('faasd client commands', () => {
  it('deploy FILE then invoke with JSON, a file, stdin, a subpath, headers and a method', async () => {
    const d = await startTestDaemon({ listen: true });
    const dir = write(tempDir(), { 'echo.py': ECHO_PY, 'body.json': '{"from": "file"}' });
    const dep = await ok(cli(d, ['deploy', 'echo', path.join(dir, 'echo.py')]));
    expect(dep.stdout).toMatch(/^Created echo v1 \(python, process mode, 1 file\)/);

    const json = JSON.parse((await ok(cli(d, ['invoke', 'echo', '-d', '{"a": 1}']))).stdout);
    expect(json).toMatchObject({ method: 'POST', path: '/', body: '{"a": 1}', type: 'application/json' });

    const file = JSON.parse((await ok(cli(d, ['invoke', 'echo', '-d', `@${path.join(dir, 'body.json')}`]))).stdout);
    expect(file.body).toBe('{"from": "file"}');

    const stdin = JSON.parse((await ok(cli(d, ['invoke', 'echo'], { input: 'plain text from stdin' }))).stdout);
    expect(stdin).toMatchObject({ body: 'plain text from stdin', type: 'application/octet-stream' });

    const sub = JSON.parse((await ok(cli(d, ['invoke', 'echo', '--path', '/users/7?full=1', '-X', 'PUT', '-H', 'X-Test: yes', '-H', 'Content-Type: text/plain', '-d', 'hi']))).stdout);
    expect(sub).toMatchObject({ method: 'PUT', path: '/users/7', test: 'yes', type: 'text/plain', body: 'hi', query: { full: '1' } });

    // a second deploy updates: a new version, same command
    const again = await ok(cli(d, ['deploy', 'echo', path.join(dir, 'echo.py'), '--memory', '64Mi', '--env', 'A=1', '--timeout', '5']));
    expect(again.stdout).toMatch(/^Updated echo v2 /);
    expect(d.functions.get('echo').config).toMatchObject({ memory: '64Mi', timeout: 5, environment: { A: '1' } });
  });

  it('-v prints status, timing and x-faas-start to stderr; a 4xx/5xx answer exits non-zero', async () => {
    const d = await startTestDaemon({ listen: true });
    const dir = write(tempDir(), {
      'status.js': "exports.handler = async (e) => { const b = e.json(); if (b.raise) throw new Error('went wrong'); return { statusCode: b.code, body: 'code ' + b.code }; };\n",
    });
    await ok(cli(d, ['deploy', 'status', path.join(dir, 'status.js')]));
    const good = await ok(cli(d, ['invoke', 'status', '-d', '{"code": 200}', '-v']));
    expect(good.stdout).toBe('code 200');
    expect(good.stderr).toMatch(/< 200 OK\s+[\d.]+ms\s+daemon [\d.]+ms\s+start=(cold|warm|prewarmed)\s+instance=status-/);
    const teapot = await cli(d, ['invoke', 'status', '-d', '{"code": 418}']);
    expect(teapot.status).toBe(1);
    expect(teapot.stdout).toBe('code 418'); // the function's own body, as it came
    expect(teapot.stderr).toContain('418');
    const raised = await cli(d, ['invoke', 'status', '-d', '{"raise": true}']);
    expect(raised.status).toBe(1);
    expect(raised.stderr).toMatch(/^faasd: FunctionError: .*went wrong/m);
    expect(raised.stderr).not.toMatch(/^\s+at /m);
  });

  it('invoke --async queues the call and prints an invocation id that completes', async () => {
    const d = await startTestDaemon({ listen: true });
    const dir = write(tempDir(), { 'echo.py': ECHO_PY });
    await ok(cli(d, ['deploy', 'later', path.join(dir, 'echo.py')]));
    const r = await ok(cli(d, ['invoke', 'later', '--async', '-d', '{"x": 1}']));
    const id = r.stdout.trim();
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
    let job: { status: string; result: { body: string } | null } = { status: 'queued', result: null };
    for (let i = 0; i < 150 && job.status !== 'succeeded'; i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 100));
      job = (await (await fetch(`${d.url}/invocations/${id}`, { headers: AUTH })).json()) as typeof job;
    }
    expect(job.status).toBe('succeeded');
    expect(JSON.parse(job.result!.body).body).toBe('{"x": 1}');
  });

  it('deploy DIR: a helper module and a dependency, from a directory of code in one command', async () => {
    const d = await startTestDaemon({ listen: true });
    const deps = tempDir();
    const wheel = await makeWheel(deps);
    const pkg = makeNpmPackage(deps);
    const py = write(tempDir(), {
      'main.py': 'import tinypkg\nfrom util.text import exclaim\ndef handle(r):\n    return exclaim(tinypkg.shout(r.get_json()["w"]))\n',
      'util/__init__.py': '',
      'util/text.py': 'def exclaim(s):\n    return s + "!!"\n',
      'requirements.txt': `${wheel}\n`,
      // never uploaded: version control, caches, installed packages
      '.git/HEAD': 'ref: refs/heads/main\n',
      '__pycache__/main.cpython-311.pyc': 'junk',
      'node_modules/x/index.js': 'junk',
    });
    const r = await ok(cli(d, ['deploy', 'py-dir', py]));
    expect(r.stdout).toMatch(/^Created py-dir v1 \(python, process mode, 4 files\)/);
    expect((await ok(cli(d, ['invoke', 'py-dir', '-d', '{"w": "hey"}']))).stdout).toBe('"HEY!!!"');
    const files = JSON.parse((await ok(cli(d, ['describe', 'py-dir', '--json']))).stdout).files.map((f: { path: string }) => f.path);
    expect(files.sort()).toEqual(['main.py', 'requirements.txt', 'util/__init__.py', 'util/text.py']);

    const js = write(tempDir(), {
      'index.js': "const pad = require('left-pad-local');\nconst { twice } = require('./lib/twice');\nexports.handler = async () => twice(pad('7', 3));\n",
      'lib/twice.js': 'exports.twice = (s) => s + s;\n',
      'package.json': JSON.stringify({ name: 'js-dir', private: true, dependencies: { 'left-pad-local': `file:${pkg}` } }),
    });
    await ok(cli(d, ['deploy', 'js-dir', js]));
    expect(d.functions.get('js-dir').runtime).toBe('node'); // told by index.js / package.json
    expect((await ok(cli(d, ['invoke', 'js-dir']))).stdout).toBe('"**7**7"');
  });

  it('ls, describe and rm show and remove functions; a missing one is a clear error', async () => {
    const d = await startTestDaemon({ listen: true });
    const dir = write(tempDir(), { 'echo.py': ECHO_PY, 'boom.py': 'def handle(r):\n    raise ValueError("no")\n' });
    await ok(cli(d, ['deploy', 'echo', path.join(dir, 'echo.py')]));
    await ok(cli(d, ['deploy', 'boom', path.join(dir, 'boom.py'), '--max', '2']));
    await ok(cli(d, ['invoke', 'echo']));
    await ok(cli(d, ['invoke', 'echo']));
    expect((await cli(d, ['invoke', 'boom'])).status).toBe(1);

    const ls = await ok(cli(d, ['ls']));
    const [header, ...rows] = ls.stdout.trimEnd().split('\n');
    expect(header!.split(/\s+/)).toEqual(['NAME', 'RUNTIME', 'MODE', 'VERSION', 'INSTANCES', 'INVOCATIONS', 'ERRORS', 'P95', 'UPDATED']);
    expect(rows[0]).toMatch(/^boom\s+python\s+process\s+1\s+1\s+1\s+1\s+\S+m?s\s+(just now|\d+s ago)$/);
    expect(rows[1]).toMatch(/^echo\s+python\s+process\s+1\s+1\s+2\s+0\s+\S+m?s\s+(just now|\d+s ago)$/);
    expect(ls.stdout).not.toContain('\x1b['); // no colour off a terminal
    const listed = JSON.parse((await ok(cli(d, ['ls', '--json']))).stdout);
    expect(listed.map((f: { name: string }) => f.name)).toEqual(['boom', 'echo']);
    expect(listed[1].stats).toMatchObject({ invocations: { total: 2, errors: 0, cold_starts: 1 }, latency_ms: { p95: expect.any(Number) } });
    // one request: the list carries each function's traffic when asked (?stats=true)
    const raw = (await (await fetch(`${d.url}/functions?stats=true`, { headers: AUTH })).json()) as { functions: { name: string; stats?: unknown }[] };
    expect(raw.functions.find((f) => f.name === 'boom')!.stats).toMatchObject({ invocations: { total: 1, errors: 1 } });
    const plain = (await (await fetch(`${d.url}/functions`, { headers: AUTH })).json()) as { functions: { stats?: unknown }[] };
    expect(plain.functions[0]!.stats).toBeUndefined();

    const desc = await ok(cli(d, ['describe', 'boom']));
    expect(desc.stdout).toMatch(/^name:\s+boom$/m);
    expect(desc.stdout).toMatch(/^instances:\s+min 0, max 2;/m);
    expect(desc.stdout).toMatch(/^invocations:\s+1 \(1 errors/m);
    expect(desc.stdout).toMatch(/^digest:\s+sha256:[0-9a-f]{64}$/m);

    expect((await ok(cli(d, ['rm', 'boom']))).stdout).toBe('Removed boom\n');
    const gone = await cli(d, ['describe', 'boom']);
    expect(gone.status).toBe(1);
    expect(gone.stderr).toBe('faasd: FunctionNotFound: function "boom" does not exist\n');
  });

  it('logs --follow sees a line printed by a call made after it started, and ends when the function is deleted', async () => {
    const d = await startTestDaemon({ listen: true });
    const dir = write(tempDir(), { 'echo.py': ECHO_PY });
    await ok(cli(d, ['deploy', 'echo', path.join(dir, 'echo.py')]));
    await ok(cli(d, ['invoke', 'echo', '--path', '/before']));
    expect((await ok(cli(d, ['logs', 'echo']))).stdout).toMatch(/^\d\d:\d\d:\d\d\.\d{3} [0-9a-f]{8} echo called POST \/before$/m);

    const follower = cli(d, ['logs', 'echo', '--follow', '--since', '1s']);
    await expect.poll(() => d.observability.logs.followerCount('echo')).toBe(1);
    await ok(cli(d, ['invoke', 'echo', '--path', '/after']));
    const del = await fetch(`${d.url}/functions/echo`, { method: 'DELETE', headers: AUTH });
    expect(del.status).toBe(204);
    const r = await follower;
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('echo called POST /after');
    expect(r.stderr).toContain('echo was deleted');
  });

  it('deploy -f stack.yaml deploys every function of a stack file, or the ones named', async () => {
    const d = await startTestDaemon({ listen: true });
    const root = write(tempDir(), {
      'fns/dir-fn/main.py': 'from helper import n\ndef handle(r):\n    return n()\n',
      'fns/dir-fn/helper.py': 'def n():\n    return "from a directory"\n',
      'fns/file-fn.js': "exports.handler = async () => 'from a file: ' + process.env.WHO;\n",
      'stack.yaml': [
        'functions:',
        '  dir-fn:',
        '    path: fns/dir-fn',
        '    timeout: 10',
        '  file-fn:',
        '    runtime: node',
        '    path: fns/file-fn.js',
        '    environment:',
        '      WHO: stack',
        '  inline-fn:',
        '    code: |',
        '      def handle(r):',
        '          return "inline"',
        '',
      ].join('\n'),
    });
    // run from elsewhere: path: is relative to the stack file
    const r = await ok(cli(d, ['deploy', '-f', path.join(root, 'stack.yaml')], { cwd: '/' }));
    expect(r.stdout.trim().split('\n')).toHaveLength(3);
    expect((await ok(cli(d, ['invoke', 'dir-fn']))).stdout).toBe('"from a directory"');
    expect((await ok(cli(d, ['invoke', 'file-fn']))).stdout).toBe('"from a file: stack"');
    expect((await ok(cli(d, ['invoke', 'inline-fn']))).stdout).toBe('"inline"');
    expect(d.functions.get('dir-fn').config.timeout).toBe(10);

    await ok(cli(d, ['deploy', '-f', path.join(root, 'stack.yaml'), 'file-fn']));
    expect(d.functions.get('file-fn').version).toBe(2);
    expect(d.functions.get('dir-fn').version).toBe(1);

    // A setting taken out of the file goes back to its default on the next deploy.
    fs.writeFileSync(path.join(root, 'stack.yaml'), fs.readFileSync(path.join(root, 'stack.yaml'), 'utf8').replace('    timeout: 10\n', ''));
    await ok(cli(d, ['deploy', '-f', path.join(root, 'stack.yaml'), 'dir-fn']));
    expect(d.functions.get('dir-fn').config.timeout).toBe(30);
    expect((await ok(cli(d, ['invoke', 'dir-fn']))).stdout).toBe('"from a directory"');

    fs.writeFileSync(path.join(root, 'bad.yaml'), 'functions:\n  bad-fn:\n    code: "x"\n    timeout: -1\n');
    const bad = await cli(d, ['deploy', '-f', path.join(root, 'bad.yaml')]);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^faasd: StackFile: .*bad\.yaml:4: .*functions\.bad-fn\.timeout/);
  });

  it('secret set takes the value from stdin or a file (any bytes), ls shows who uses it, rm is refused while used', async () => {
    const d = await startTestDaemon({ listen: true });
    const admin = ['--key', 'admin-key'];
    expect((await ok(cli(d, ['secret', 'set', 'db-pw', ...admin], { input: 'from-stdin' }))).stdout.trim()).toBe('Created secret db-pw');
    await deploy(d, 'reader', "def handle(r):\n    return open('/var/faasd/secrets/db-pw', 'rb').read().hex()\n", { config: { secrets: ['db-pw'] } });
    expect((await ok(cli(d, ['invoke', 'reader']))).stdout).toBe(JSON.stringify(Buffer.from('from-stdin').toString('hex')));

    // Bytes that are not text, from a file; the function's instances are renewed.
    const bytes = Buffer.from([0, 0xff, 0x0a, 0x41]);
    const file = path.join(tempDir(), 'key.der');
    fs.writeFileSync(file, bytes);
    expect((await ok(cli(d, ['secret', 'set', 'db-pw', '--from-file', file, ...admin]))).stdout.trim()).toBe('Updated secret db-pw (new instances for reader)');
    expect((await ok(cli(d, ['invoke', 'reader']))).stdout).toBe(JSON.stringify(bytes.toString('hex')));

    const ls = JSON.parse((await ok(cli(d, ['secret', 'ls', '--json']))).stdout) as { secrets: { name: string; used_by: string[] }[] };
    expect(ls.secrets.map((x) => [x.name, x.used_by])).toEqual([['db-pw', ['reader']]]);
    expect((await ok(cli(d, ['secret', 'ls']))).stdout).toMatch(/^db-pw\s+reader\s+/m);
    expect(JSON.stringify(ls)).not.toContain('from-stdin');

    const inUse = await cli(d, ['secret', 'rm', 'db-pw', ...admin]);
    expect(inUse.status).toBe(1);
    expect(inUse.stderr).toMatch(/^faasd: SecretInUse: .*reader/);
    const notAdmin = await cli(d, ['secret', 'set', 'other'], { input: 'x' });
    expect(notAdmin.status).toBe(1);
    expect(notAdmin.stderr).toMatch(/^faasd: Forbidden: /);
    const noFile = await cli(d, ['secret', 'set', 'other', '--from-file', '/nonexistent', ...admin]);
    expect(noFile.stderr).toMatch(/^faasd: BadArgument: --from-file \/nonexistent: no such file/);

    await ok(cli(d, ['rm', 'reader']));
    expect((await ok(cli(d, ['secret', 'rm', 'db-pw', ...admin]))).stdout.trim()).toBe('Removed secret db-pw');
    expect(JSON.parse((await ok(cli(d, ['secret', 'ls', '--json']))).stdout).secrets).toEqual([]);
  });

  it('a wrong key is a clear message and exit 1', async () => {
    const d = await startTestDaemon({ listen: true });
    const r = await cli(d, ['ls', '--key', 'not-a-key']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^faasd: Unauthorized: .*--key was refused by http:\/\/127\.0\.0\.1:\d+/);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    const env = await cli(d, ['ls'], { env: { FAASD_API_KEY: 'also-wrong' } });
    expect(env.status).toBe(1);
    expect(env.stderr).toContain('FAASD_API_KEY');
  });

  it('login stores the gateway and key (mode 0600) for the commands that follow', async () => {
    const d = await startTestDaemon({ listen: true });
    const home = tempDir();
    const r = await ok(faasd(['login', '--gateway', d.url, '--key-stdin'], { env: { HOME: home }, input: 'admin-key\n' }));
    const file = path.join(home, '.config', 'faasd', 'client.json');
    expect(r.stdout).toContain(file);
    expect(fs.statSync(file).mode & 0o777).toBe(0o600);
    expect(JSON.parse(fs.readFileSync(file, 'utf8'))).toEqual({ gateway: d.url, key: 'admin-key' });
    // no FAASD_URL: the login file says where, and with which key (admin: instances --stop works)
    const dir = write(tempDir(), { 'echo.py': ECHO_PY });
    await ok(faasd(['deploy', 'echo', path.join(dir, 'echo.py'), '--min', '1'], { env: { HOME: home } }));
    let inst: { id: string } | undefined;
    for (let i = 0; i < 100 && !inst; i++) {
      if (i > 0) await new Promise((res) => setTimeout(res, 100));
      [inst] = JSON.parse((await ok(faasd(['instances', 'echo', '--json'], { env: { HOME: home } }))).stdout);
    }
    if (!inst) throw new Error('min_instances 1 started no instance');
    expect((await ok(faasd(['instances', '--stop', inst.id], { env: { HOME: home } }))).stdout).toBe(`Stopped ${inst.id}\n`);
    // a refused key is never stored; XDG_CONFIG_HOME is honoured
    const xdg = tempDir();
    const bad = await faasd(['login', '--gateway', d.url, '--key-stdin'], { env: { HOME: home, XDG_CONFIG_HOME: xdg }, input: 'nope\n' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^faasd: Unauthorized: /);
    expect(fs.existsSync(path.join(xdg, 'faasd', 'client.json'))).toBe(false);
  });

  it('a daemon that is not running is a clear message naming its URL, exit 1', async () => {
    const server = http.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const { port } = server.address() as { port: number };
    await new Promise((r) => server.close(r));
    const url = `http://127.0.0.1:${port}`;
    const r = await faasd(['ls'], { env: { FAASD_URL: url } });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      `faasd: Unreachable: cannot reach the faasd daemon at ${url} (ECONNREFUSED): is it running? Start one with \`faasd\`, or point the client elsewhere with --gateway or FAASD_URL\n`,
    );
  });

  it('hostile archives are refused with 400 naming the entry: "..", an absolute path, a link out, too many files', async () => {
    const d = await startTestDaemon({ listen: true });
    const upload = (archive: Buffer) =>
      fetch(`${d.url}/functions`, {
        method: 'POST',
        headers: { ...AUTH, 'content-type': 'application/gzip', 'x-faas-function': JSON.stringify({ name: 'evil' }) },
        body: archive,
      });
    const main = { name: 'main.py', body: 'def handle(r):\n    return 1\n' };
    const cases: [string, Buffer][] = [
      ['../escape.py', tarGz([main, { name: '../escape.py', body: 'x = 1\n' }])],
      ['/etc/cron.d/evil', tarGz([main, { name: '/etc/cron.d/evil', body: '* * * * * root sh\n' }])],
      ['passwd', tarGz([main, { name: 'passwd', type: '2', linkname: '/etc/passwd' }])],
      ['f999.py', tarGz([main, ...Array.from({ length: 1000 }, (_, i) => ({ name: `f${i}.py`, body: '' }))])],
    ];
    for (const [entry, archive] of cases) {
      const res = await upload(archive);
      const body = (await res.json()) as Record<string, unknown>;
      expect(res.status, `${entry}: ${JSON.stringify(body)}`).toBe(400);
      expect(body).toMatchObject({ error: 'BadRequest', field: 'archive', entry });
    }
    expect((await fetch(`${d.url}/functions/evil`, { headers: AUTH })).status).toBe(404);
  });
});
