import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FaasError } from '../src/errors.js';
import { encodeFrame, FrameDecoder, MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../src/execution/protocol/codec.js';
import { CallNotStarted, listenForShim, ShimChannel, type InvokeRequest, type InvokeResult } from '../src/execution/protocol/shim-channel.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
type Runtime = 'python' | 'node';

const COMMANDS: Record<Runtime, { command: string; args: string[]; file: string }> = {
  // The real interpreter: `python3` on PATH is a pyenv shim here.
  python: { command: '/usr/bin/python3', args: [path.join(ROOT, 'runtimes/python/shim.py')], file: 'main.py' },
  node: { command: process.execPath, args: [path.join(ROOT, 'runtimes/node/shim.js')], file: 'index.js' },
};

interface Started {
  channel: ShimChannel;
  /** The daemon's end of the connection (also owned by `channel`). */
  socket: net.Socket;
  child: ChildProcess;
  dir: string;
  exit: Promise<number | null>;
  stdout(): string;
}

async function makeDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'faas-shim-'));
  onTestFinished(() => rm(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, 'code', name)), { recursive: true });
    await writeFile(path.join(dir, 'code', name), text);
  }
  return dir;
}

/** Spawns a shim (plain child process, clean environment) and waits for `ready`. */
async function spawnShim(runtime: Runtime, dir: string, args = COMMANDS[runtime].args): Promise<Started> {
  const socketPath = path.join(dir, 'shim.sock');
  const listener = await listenForShim(socketPath);
  onTestFinished(() => listener.close());
  const child = spawn(COMMANDS[runtime].command, args, {
    env: { FAAS_SOCKET: socketPath, PATH: '/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exit;
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const socket = await Promise.race([listener.nextConnection(AbortSignal.timeout(10_000)), exit.then((code) => Promise.reject(new Error(`shim exited with ${code} before connecting: ${out}`)))]);
  const channel = new ShimChannel(socket);
  onTestFinished(() => channel.destroy());
  return { channel, child, dir, exit, socket, stdout: () => out };
}

/** Writes `files` as the function's code, spawns the shim and brings it to init_ok. */
async function startFunction(runtime: Runtime, files: Record<string, string>, opts: { handler?: string; env?: Record<string, string> } = {}): Promise<Started> {
  const dir = await makeDir(files);
  const started = await spawnShim(runtime, dir);
  const ready = await started.channel.ready;
  expect(ready.runtime).toBe(runtime);
  expect(ready.pid).toBe(started.child.pid);
  const fn = { name: 'fn', version: 3, dir: path.join(dir, 'code'), file: COMMANDS[runtime].file };
  await started.channel.init(opts.handler ? { ...fn, handler: opts.handler } : fn, opts.env ?? {});
  return started;
}

let seq = 0;
function request(over: Partial<InvokeRequest> = {}): InvokeRequest {
  return {
    id: `req-${++seq}`,
    method: 'POST',
    path: '/',
    query: {},
    headers: {},
    body: Buffer.alloc(0),
    timeoutMs: 5000,
    ...over,
  };
}

function json(result: InvokeResult): unknown {
  return JSON.parse(result.body.toString('utf8'));
}

async function invokeError(channel: ShimChannel, req: InvokeRequest): Promise<FaasError> {
  const err = await channel.invoke(req).then(
    () => {
      throw new Error('invoke resolved');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(FaasError);
  return err as FaasError;
}

// The same behaviours, written once per runtime.
const SOURCES: Record<Runtime, Record<string, string>> = {
  python: {
    hello: `def handle(req):\n    return {"hello": "world", "n": 1}\n`,
    echo: `def handle(req):\n    return {"got": req.get_json(), "text": req.get_text()}\n`,
    passthrough: `def handle(req):
    return {"method": req.method, "path": req.path, "query": req.query_params,
            "x": req.headers.get("x-test"), "viaGet": req.get_header("X-TEST"), "missing": req.get_header("nope")}
`,
    lambda: `def handle(req):
    return {"statusCode": 201, "headers": {"X-Num": 7, "X-Flag": True}, "body": "created"}
`,
    lambdaJson: `def handle(req):
    return {"statusCode": 404, "body": {"error": "nope"}}
`,
    lambdaBase64: `def handle(req):
    return {"statusCode": 200, "isBase64Encoded": True, "headers": {"Content-Type": "image/png"}, "body": "AAH/"}
`,
    bytes: `def handle(req):\n    return b"\\x00\\x01\\xff"\n`,
    async: `import asyncio
calls = 0
async def handle(req):
    global calls
    await asyncio.sleep(0.005)
    calls += 1
    return {"async": True, "calls": calls}
`,
    throws: `def helper():
    raise ValueError("bad input")

def handle(req):
    helper()
`,
    asyncThrows: `async def handle(req):
    raise KeyError("missing")
`,
    logs: `import sys
print("at import")
def handle(req):
    print("hello")
    print("a\\nb", file=sys.stderr)
    sys.stdout.write("partial")
    return {"ok": True}
`,
    manyLogs: `def handle(req):
    for i in range(1500):
        print("line", i)
    print("x" * 5000)
    return "done"
`,
    bigLogs: `def handle(req):
    for i in range(100):
        print(str(i % 10) * 4096)
    return 1
`,
    badStatus: `def handle(req):\n    return {"statusCode": 42}\n`,
    importError: `x = 1 / 0\ndef handle(req):\n    return 1\n`,
    syntaxError: `def handle(req)\n    return 1\n`,
    env: `import os
AT_IMPORT = os.environ.get("GREETING")
def handle(req):
    return {"import": AT_IMPORT, "call": os.environ.get("GREETING"), "home": os.environ.get("HOME")}
`,
    counter: `n = 0
def handle(req):
    global n
    n += 1
    return {"n": n, "body": req.get_text()}
`,
    unserialisable: `def handle(req):\n    return {"x": object()}\n`,
    none: `def handle(req):\n    return None\n`,
  },
  node: {
    hello: `exports.handler = () => ({ hello: 'world', n: 1 });\n`,
    echo: `exports.handler = (req) => ({ got: req.json(), text: req.text() });\n`,
    passthrough: `exports.handler = (req) => ({
  method: req.method, path: req.path, query: req.query,
  x: req.headers['x-test'], viaGet: req.header('X-TEST'), missing: req.header('nope') ?? null,
});\n`,
    lambda: `exports.handler = () => ({ statusCode: 201, headers: { 'X-Num': 7, 'X-Flag': true }, body: 'created' });\n`,
    lambdaJson: `exports.handler = () => ({ statusCode: 404, body: { error: 'nope' } });\n`,
    lambdaBase64: `exports.handler = () => ({ statusCode: 200, isBase64Encoded: true, headers: { 'Content-Type': 'image/png' }, body: 'AAH/' });\n`,
    bytes: `exports.handler = () => Buffer.from([0, 1, 255]);\n`,
    async: `let calls = 0;
exports.handler = async () => {
  await new Promise((r) => setTimeout(r, 5));
  calls++;
  return { async: true, calls };
};\n`,
    throws: `function helper() { throw new RangeError('bad input'); }
exports.handler = () => helper();\n`,
    asyncThrows: `class MissingError extends Error {}
exports.handler = async () => { throw new MissingError('missing'); };\n`,
    logs: `console.log('at import');
exports.handler = () => {
  console.log('hello');
  console.error('a\\nb');
  process.stdout.write('partial');
  return { ok: true };
};\n`,
    manyLogs: `exports.handler = () => {
  for (let i = 0; i < 1500; i++) console.log('line', i);
  console.log('x'.repeat(5000));
  return 'done';
};\n`,
    bigLogs: `exports.handler = () => {
  for (let i = 0; i < 100; i++) console.log(String(i % 10).repeat(4096));
  return 1;
};\n`,
    badStatus: `exports.handler = () => ({ statusCode: 42 });\n`,
    importError: `null.boom;\nexports.handler = () => 1;\n`,
    syntaxError: `exports.handler = () => {;\n`,
    env: `const AT_IMPORT = process.env.GREETING;
exports.handler = () => ({ import: AT_IMPORT, call: process.env.GREETING, home: process.env.HOME });\n`,
    counter: `let n = 0;
exports.handler = (req) => ({ n: ++n, body: req.text() });\n`,
    unserialisable: `exports.handler = () => { const a = {}; a.self = a; return a; };\n`,
    none: `exports.handler = () => undefined;\n`,
  },
};

const EXPECTED_ERRORS: Record<Runtime, { throws: string; asyncThrows: string; importError: string; syntax: string }> = {
  python: { throws: 'ValueError', asyncThrows: 'KeyError', importError: 'ZeroDivisionError', syntax: 'SyntaxError' },
  node: { throws: 'RangeError', asyncThrows: 'MissingError', importError: 'TypeError', syntax: 'SyntaxError' },
};

describe.each(['python', 'node'] as const)('%s shim', (runtime) => {
  const src = SOURCES[runtime];
  const file = COMMANDS[runtime].file;
  const start = (name: string, opts?: { handler?: string; env?: Record<string, string> }) => startFunction(runtime, { [file]: src[name]! }, opts);

  it('returns a dict/object as JSON with status 200', async () => {
    const { channel } = await start('hello');
    const result = await channel.invoke(request());
    expect(result.status).toBe(200);
    expect(result.headers).toEqual({ 'content-type': 'application/json' });
    expect(json(result)).toEqual({ hello: 'world', n: 1 });
    expect(result.logs).toEqual([]);
  });

  it('hands the request body to the function as JSON and text', async () => {
    const { channel } = await start('echo');
    const body = Buffer.from(JSON.stringify({ a: [1, 2], s: 'é' }));
    expect(json(await channel.invoke(request({ body })))).toEqual({ got: { a: [1, 2], s: 'é' }, text: '{"a":[1,2],"s":"é"}' });
    expect(json(await channel.invoke(request()))).toEqual({ got: null, text: '' });
  });

  it('passes method, path, query and headers through', async () => {
    const { channel } = await start('passthrough');
    const result = await channel.invoke(request({ method: 'PUT', path: '/a/b', query: { q: '1', tag: ['x', 'y'] }, headers: { 'x-test': 'yes' } }));
    expect(json(result)).toEqual({
      method: 'PUT',
      path: '/a/b',
      query: { q: '1', tag: ['x', 'y'] },
      x: 'yes',
      viaGet: 'yes',
      missing: null,
    });
  });

  it('turns a Lambda-style statusCode object into status, headers and a text body', async () => {
    const { channel } = await start('lambda');
    const result = await channel.invoke(request());
    expect(result.status).toBe(201);
    expect(result.headers).toEqual({ 'X-Num': '7', 'X-Flag': 'true', 'content-type': 'text/plain; charset=utf-8' });
    expect(result.body.toString()).toBe('created');
  });

  it('serialises a non-string Lambda body as JSON', async () => {
    const { channel } = await start('lambdaJson');
    const result = await channel.invoke(request());
    expect(result.status).toBe(404);
    expect(result.headers).toEqual({ 'content-type': 'application/json' });
    expect(json(result)).toEqual({ error: 'nope' });
  });

  it('decodes a base64 Lambda body and keeps the given content type', async () => {
    const { channel } = await start('lambdaBase64');
    const result = await channel.invoke(request());
    expect(result.headers).toEqual({ 'Content-Type': 'image/png' });
    expect([...result.body]).toEqual([0, 1, 255]);
  });

  it('returns bytes as application/octet-stream', async () => {
    const { channel } = await start('bytes');
    const result = await channel.invoke(request());
    expect(result.status).toBe(200);
    expect(result.headers).toEqual({ 'content-type': 'application/octet-stream' });
    expect([...result.body]).toEqual([0, 1, 255]);
  });

  it('returns None/undefined as JSON null', async () => {
    const { channel } = await start('none');
    expect((await channel.invoke(request())).body.toString()).toBe('null');
  });

  it('awaits an async handler, keeping state across calls', async () => {
    const { channel } = await start('async');
    expect(json(await channel.invoke(request()))).toEqual({ async: true, calls: 1 });
    expect(json(await channel.invoke(request()))).toEqual({ async: true, calls: 2 });
  });

  it('reports an exception as FUNCTION_ERROR with its type, message and stack, and keeps serving', async () => {
    const { channel } = await start('throws');
    const err = await invokeError(channel, request());
    expect(err.code).toBe('FUNCTION_ERROR');
    expect(err.message).toBe('bad input');
    expect(err.details.errorType).toBe(EXPECTED_ERRORS[runtime].throws);
    const stack = err.details.stack as string;
    expect(stack).toContain('helper');
    expect(stack).toContain(file);
    if (runtime === 'python') expect(stack).not.toContain('shim.py');
    expect(err.details.logs).toEqual([]);
    await invokeError(channel, request());
  });

  it('reports a rejected async handler as an error frame', async () => {
    const { channel } = await start('asyncThrows');
    const err = await invokeError(channel, request());
    expect(err.details.errorType).toBe(EXPECTED_ERRORS[runtime].asyncThrows);
    expect(err.message).toContain('missing');
    if (runtime === 'python') expect(err.details.stack).not.toMatch(/asyncio|shim\.py/);
  });

  it('captures printed output as log lines without corrupting the protocol', async () => {
    const { channel, stdout } = await start('logs');
    const result = await channel.invoke(request());
    expect(json(result)).toEqual({ ok: true });
    expect(result.logs).toEqual(['hello', 'a', 'b', 'partial']);
    expect((await channel.invoke(request())).logs).toEqual(['hello', 'a', 'b', 'partial']);
    // Import-time output goes to the real stdout, not into any invocation.
    expect(stdout()).toContain('at import');
    expect(stdout()).not.toContain('hello');
  });

  it('keeps at most 1000 log lines of at most 4096 characters, saying how many were dropped', async () => {
    const { channel } = await start('manyLogs');
    const { logs } = await channel.invoke(request());
    expect(logs).toHaveLength(1000);
    expect(logs[0]).toBe('line 0');
    expect(logs[998]).toBe('line 998');
    expect(logs[999]).toBe('[502 more log lines dropped]');
  });

  it('caps the logs of one invocation at 256 Ki characters so the result header fits', async () => {
    const { channel } = await start('bigLogs');
    const { logs } = await channel.invoke(request());
    expect(logs).toHaveLength(65);
    expect(logs[63]).toBe('3'.repeat(4096));
    expect(logs[64]).toBe('[36 more log lines dropped]');
  });

  it('reports a statusCode outside 100-599 as SerializationError', async () => {
    const { channel } = await start('badStatus');
    const err = await invokeError(channel, request());
    expect(err.details.errorType).toBe('SerializationError');
    expect(err.message).toContain('42');
  });

  it('answers init_error for a module that fails at import, and the shim exits 4', async () => {
    const dir = await makeDir({ [file]: src.importError! });
    const { channel, exit } = await spawnShim(runtime, dir);
    await channel.ready;
    const err = await channel.init({ name: 'fn', version: 1, dir: path.join(dir, 'code'), file }, {}).catch((e) => e);
    expect(err).toBeInstanceOf(FaasError);
    expect(err.code).toBe('FUNCTION_ERROR');
    expect(err.message).toMatch(new RegExp(`^function failed to load: ${EXPECTED_ERRORS[runtime].importError}: `));
    expect(err.details.errorType).toBe(EXPECTED_ERRORS[runtime].importError);
    expect(err.details.stack).toContain(file);
    expect(await exit).toBe(4);
    expect(await channel.closed).toBeNull();
  });

  it('answers init_error for a syntax error', async () => {
    const dir = await makeDir({ [file]: src.syntaxError! });
    const { channel } = await spawnShim(runtime, dir);
    const err = await channel.init({ name: 'fn', version: 1, dir: path.join(dir, 'code'), file }, {}).catch((e) => e);
    expect(err.details.errorType).toBe(EXPECTED_ERRORS[runtime].syntax);
  });

  it('answers init_error HandlerNotFound when the handler does not exist', async () => {
    const dir = await makeDir({ [file]: src.hello! });
    const { channel } = await spawnShim(runtime, dir);
    const err = await channel.init({ name: 'fn', version: 1, dir: path.join(dir, 'code'), file, handler: 'nope' }, {}).catch((e) => e);
    expect(err.details.errorType).toBe('HandlerNotFound');
    expect(err.message).toContain('nope');
  });

  it('applies env from init before the module loads', async () => {
    const { channel } = await start('env', { env: { GREETING: 'hi there' } });
    expect(json(await channel.invoke(request()))).toEqual({ import: 'hi there', call: 'hi there', home: '/tmp' });
  });

  it('serves many sequential invocations on one instance', async () => {
    const { channel } = await start('counter');
    for (let i = 1; i <= 50; i++) {
      const result = await channel.invoke(request({ body: Buffer.from(`call ${i}`) }));
      expect(json(result)).toEqual({ n: i, body: `call ${i}` });
    }
  });

  it('carries a large body both ways', async () => {
    const { channel } = await start('counter');
    const body = Buffer.alloc(3 * 1024 * 1024, 'a');
    const result = await channel.invoke(request({ body }));
    expect((json(result) as { body: string }).body).toHaveLength(body.length);
  });

  it('reports a value that cannot be serialised as SerializationError', async () => {
    const { channel } = await start('unserialisable');
    const err = await invokeError(channel, request());
    expect(err.details.errorType).toBe('SerializationError');
  });

  it('rejects a second concurrent invoke as a daemon bug', async () => {
    const { channel } = await start('async');
    const first = channel.invoke(request());
    await expect(channel.invoke(request())).rejects.toThrow(/invoke called in state invoking/);
    await first;
  });

  it('exits 0 when the daemon closes the connection', async () => {
    const { channel, exit } = await start('hello');
    channel.destroy();
    expect(await exit).toBe(0);
  });

  it('exits 3 on a malformed frame', async () => {
    const { channel, socket, exit } = await start('hello');
    socket.write(Buffer.from([0, 0, 0, 2, 0, 0, 0, 0, 0x5b, 0x5d])); // header "[]"
    expect(await exit).toBe(3);
    expect(await channel.closed).toBeNull();
  });

  it('exits 3 on an unknown frame type', async () => {
    const { socket, exit } = await start('hello');
    for (const part of encodeFrame({ type: 'reboot' })) socket.write(part);
    expect(await exit).toBe(3);
  });

  it('rejects pending calls with INSTANCE_CRASHED when the shim dies mid-invocation', async () => {
    const { channel, child } = await start('async');
    const pending = channel.invoke(request());
    child.kill('SIGKILL');
    await expect(pending).rejects.toMatchObject({ code: 'INSTANCE_CRASHED', message: 'instance connection closed' });
    expect(await channel.closed).toBeNull();
    await expect(channel.invoke(request())).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
  });
});

// Pipelining (docs/protocol.md): one call sent ahead of the running one, started only after
// the running one is answered; `cancel` drops it unstarted; a shim that dies never ran it.
const PIPELINED: Record<Runtime, string> = {
  python: `import asyncio
busy = False
seq = 0

async def handle(req):
    global busy, seq
    seq += 1
    mine = seq
    overlap = busy
    busy = True
    await asyncio.sleep(req.get_json().get("sleep", 0))
    busy = False
    return {"seq": mine, "overlap": overlap}
`,
  node: `let busy = false;
let seq = 0;
exports.handler = async (req) => {
  const mine = ++seq;
  const overlap = busy;
  busy = true;
  await new Promise((r) => setTimeout(r, (req.json().sleep ?? 0) * 1000));
  busy = false;
  return { seq: mine, overlap };
};
`,
};

describe.each(['python', 'node'] as const)('%s shim: a call sent ahead', (runtime) => {
  const start = () => startFunction(runtime, { [COMMANDS[runtime].file]: PIPELINED[runtime] });
  const sleepy = (sleep: number) => request({ body: Buffer.from(JSON.stringify({ sleep })) });

  it('starts only after the call before it is answered (an async handler too), in order', async () => {
    const { channel } = await start();
    let firstDone = false;
    let startedAfterFirst: boolean | null = null;
    const first = channel.invoke(sleepy(0.2), undefined).then((r) => {
      firstDone = true;
      return r;
    });
    const second = channel.invoke(sleepy(0), () => (startedAfterFirst = !firstDone), true);
    expect(startedAfterFirst).toBeNull(); // not started while the first runs
    expect(json(await first)).toEqual({ seq: 1, overlap: false });
    expect(json(await second)).toEqual({ seq: 2, overlap: false });
    // onStart runs when the first's answer arrives, before its promise settles.
    expect(startedAfterFirst).toBe(true);
  });

  it('is dropped unstarted on cancel (answered cancelled); a cancel for an unknown call is ignored', async () => {
    const { channel, socket } = await start();
    const first = channel.invoke(sleepy(0.3));
    const ahead = sleepy(0);
    const second = channel.invoke(ahead, undefined, true);
    channel.cancel(ahead.id);
    const err = await second.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CallNotStarted);
    expect((err as CallNotStarted).cancelled).toBe(true);
    expect(json(await first)).toEqual({ seq: 1, overlap: false });
    for (const part of encodeFrame({ type: 'cancel', id: 'no-such-call' })) socket.write(part);
    // The dropped call never ran: the next one is the second the function sees.
    expect(json(await channel.invoke(sleepy(0)))).toEqual({ seq: 2, overlap: false });
  });

  it('never ran when the shim dies during the call before it (CallNotStarted, not a crash)', async () => {
    const { channel, child } = await start();
    const first = channel.invoke(sleepy(5));
    const second = channel.invoke(sleepy(0), undefined, true);
    await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGKILL');
    await expect(first).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    await expect(second).rejects.toMatchObject({ cancelled: false });
    await expect(second).rejects.toBeInstanceOf(CallNotStarted);
  });
});

describe('python shim specifics', () => {
  it('puts the .deps directory on sys.path', async () => {
    const { channel } = await startFunction('python', {
      'main.py': `import mylib\ndef handle(req):\n    return mylib.VALUE\n`,
      '.deps/mylib/__init__.py': `VALUE = "from deps"\n`,
    });
    expect(json(await channel.invoke(request()))).toBe('from deps');
  });

  it('imports sibling modules from the function directory', async () => {
    const { channel } = await startFunction('python', {
      'main.py': `from helpers import twice\ndef handle(req):\n    return twice(21)\n`,
      'helpers.py': `def twice(x):\n    return 2 * x\n`,
    });
    expect(json(await channel.invoke(request()))).toBe(42);
  });

  it('calls the handler named in init', async () => {
    const { channel } = await startFunction('python', { 'main.py': `def handle(req):\n    return 1\ndef other(req):\n    return 2\n` }, { handler: 'other' });
    expect(json(await channel.invoke(request()))).toBe(2);
  });

  it('runs from precompiled bytecode, hiding its own frames from tracebacks', async () => {
    const dir = await makeDir({ 'main.py': SOURCES.python.throws! });
    const pyc = path.join(dir, 'shim.pyc');
    const compile = spawn('/usr/bin/python3', ['-I', '-c', 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)', COMMANDS.python.args[0]!, pyc]);
    expect((await once(compile, 'exit'))[0]).toBe(0);
    const { channel } = await spawnShim('python', dir, ['-I', '-S', pyc]);
    await channel.init({ name: 'fn', version: 1, dir: path.join(dir, 'code'), file: 'main.py' }, {});
    const err = await invokeError(channel, request());
    expect(err.details.errorType).toBe('ValueError');
    expect(err.details.stack).toContain('helper');
    expect(err.details.stack).not.toContain('shim.py');
  });

  it('captures output of loggers configured at import time', async () => {
    const { channel } = await startFunction('python', {
      'main.py': `import logging
logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
log = logging.getLogger("fn")
def handle(req):
    log.info("from logging")
    return 1
`,
    });
    expect((await channel.invoke(request())).logs).toEqual(['INFO from logging']);
  });
});

describe('node shim specifics', () => {
  it.each([
    { rule: 'exports.handler before exports.handle', want: 'handler', source: `exports.handle = () => 'handle'; exports.handler = () => 'handler';` },
    { rule: 'exports.handle before module.exports', want: 'handle', source: `module.exports = Object.assign(() => 'fn', { handle: () => 'handle' });` },
    { rule: 'module.exports when it is a function', want: 'fn', source: `module.exports = () => 'fn'; module.exports.default = () => 'default';` },
    { rule: 'exports.default last', want: 'default', source: `exports.default = () => 'default';` },
    { rule: 'the export named in init', want: 'custom', handler: 'custom', source: `exports.handler = () => 'handler'; exports.custom = () => 'custom';` },
  ])('resolves the handler: $rule', async ({ source, handler, want }) => {
    const { channel } = await startFunction('node', { 'index.js': source }, handler ? { handler } : {});
    expect(json(await channel.invoke(request()))).toBe(want);
  });

  it('passes a context with requestId, functionName, version and deadline', async () => {
    const { channel } = await startFunction('node', { 'index.js': `exports.handler = (req, ctx) => ctx;` });
    const before = Date.now();
    const ctx = json(await channel.invoke(request({ id: 'abc', timeoutMs: 2000 }))) as Record<string, unknown>;
    expect(ctx).toMatchObject({ requestId: 'abc', functionName: 'fn', version: 3 });
    expect(ctx.deadline).toBeGreaterThanOrEqual(before + 2000);
    expect(ctx.deadline).toBeLessThanOrEqual(Date.now() + 2000);
  });

  it('resolves node_modules from the function directory', async () => {
    const { channel } = await startFunction('node', {
      'index.js': `const dep = require('dep'); exports.handler = () => dep.value;`,
      'node_modules/dep/index.js': `exports.value = 'from node_modules';`,
    });
    expect(json(await channel.invoke(request()))).toBe('from node_modules');
  });

  it('loads an ES module entry', async () => {
    const { channel } = await startFunction('node', {
      'package.json': `{"type":"module"}`,
      'index.js': `export default async function (req) { return { esm: true, m: req.method }; }`,
    });
    expect(json(await channel.invoke(request()))).toEqual({ esm: true, m: 'POST' });
  });
});

describe('ShimChannel against a fake shim', () => {
  async function fakePair(): Promise<{ channel: ShimChannel; shim: net.Socket }> {
    const dir = await makeDir({});
    const listener = await listenForShim(path.join(dir, 'shim.sock'));
    onTestFinished(() => listener.close());
    const shim = net.connect(path.join(dir, 'shim.sock'));
    // Read (and ignore) what the daemon sends, so the fake sees the daemon hang up.
    shim.resume();
    onTestFinished(() => {
      shim.destroy();
    });
    const channel = new ShimChannel(await listener.nextConnection());
    onTestFinished(() => channel.destroy());
    return { channel, shim };
  }
  const send = (shim: net.Socket, header: object, body?: Buffer) => {
    for (const part of encodeFrame(header, body)) shim.write(part);
  };

  it('rejects ready when the socket closes first', async () => {
    const { channel, shim } = await fakePair();
    shim.end();
    await expect(channel.ready).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(await channel.closed).toBeNull();
  });

  it('drops a shim that sends an unknown frame and resolves closed with the protocol error', async () => {
    const { channel, shim } = await fakePair();
    send(shim, { type: 'ready', runtime: 'x', version: '1', pid: 1 });
    await channel.ready;
    const init = channel.init({ name: 'f', version: 1, dir: '/f', file: 'main.py' }, {});
    const shimClosed = once(shim, 'close');
    send(shim, { type: 'surprise' });
    await expect(init).rejects.toMatchObject({ code: 'INSTANCE_CRASHED', message: 'instance connection closed' });
    const closed = await channel.closed;
    expect(closed).toBeInstanceOf(FaasError);
    expect((closed as FaasError).code).toBe('PROTOCOL_ERROR');
    await shimClosed;
  });

  it('drops a shim whose result answers another request', async () => {
    const { channel, shim } = await fakePair();
    send(shim, { type: 'ready', runtime: 'x', version: '1', pid: 1 });
    const init = channel.init({ name: 'f', version: 1, dir: '/f', file: 'main.py' }, {});
    await once(shim, 'data');
    send(shim, { type: 'init_ok', load_ms: 1 });
    expect(await init).toEqual({ loadMs: 1, concurrency: 1 });
    const pending = channel.invoke(request({ id: 'mine' }));
    send(shim, { type: 'result', id: 'other', status: 200, headers: {}, logs: [] });
    await expect(pending).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(((await channel.closed) as FaasError).code).toBe('PROTOCOL_ERROR');
  });

  it('drops a shim that sends a result with a bad status', async () => {
    const { channel, shim } = await fakePair();
    send(shim, { type: 'ready', runtime: 'x', version: '1', pid: 1 });
    const init = channel.init({ name: 'f', version: 1, dir: '/f', file: 'main.py' }, {});
    await once(shim, 'data');
    send(shim, { type: 'init_ok', load_ms: 1 });
    await init;
    const pending = channel.invoke(request({ id: 'r' }));
    send(shim, { type: 'result', id: 'r', status: 'ok', headers: {}, logs: [] });
    await expect(pending).rejects.toMatchObject({ code: 'INSTANCE_CRASHED' });
    expect(((await channel.closed) as FaasError).code).toBe('PROTOCOL_ERROR');
  });

  it('nextConnection rejects when its signal aborts', async () => {
    const dir = await makeDir({});
    const listener = await listenForShim(path.join(dir, 'shim.sock'));
    onTestFinished(() => listener.close());
    const controller = new AbortController();
    const next = listener.nextConnection(controller.signal);
    controller.abort(new Error('gave up'));
    await expect(next).rejects.toThrow('gave up');
  });
});

describe('FrameDecoder', () => {
  const frame = (header: object, body?: Buffer) => Buffer.concat(encodeFrame(header, body));

  it('reassembles a frame split across chunks at every byte', () => {
    const bytes = frame({ type: 'result', id: 'x' }, Buffer.from('hello body'));
    for (let cut = 1; cut < bytes.length; cut++) {
      const decoder = new FrameDecoder();
      expect(decoder.push(bytes.subarray(0, cut))).toEqual([]);
      const frames = decoder.push(bytes.subarray(cut));
      expect(frames).toHaveLength(1);
      expect(frames[0]!.header).toEqual({ type: 'result', id: 'x' });
      expect(frames[0]!.body.toString()).toBe('hello body');
      expect(decoder.bufferedBytes).toBe(0);
    }
  });

  it('reassembles a frame delivered one byte at a time', () => {
    const bytes = frame({ type: 'a' }, Buffer.from('xyz'));
    const decoder = new FrameDecoder();
    const frames = [];
    for (const byte of bytes) frames.push(...decoder.push(Buffer.from([byte])));
    expect(frames).toEqual([{ header: { type: 'a' }, body: Buffer.from('xyz') }]);
  });

  it('returns several frames from one chunk, keeping a trailing partial one', () => {
    const third = frame({ type: 'c' }, Buffer.from('333'));
    const chunk = Buffer.concat([frame({ type: 'a' }), frame({ type: 'b' }, Buffer.from('22')), third.subarray(0, 5)]);
    const decoder = new FrameDecoder();
    const frames = decoder.push(chunk);
    expect(frames.map((f) => [f.header.type, f.body.toString()])).toEqual([
      ['a', ''],
      ['b', '22'],
    ]);
    expect(decoder.push(third.subarray(5)).map((f) => f.body.toString())).toEqual(['333']);
  });

  it('hands out the body without copying when it arrives in one chunk', () => {
    const bytes = frame({ type: 'a' }, Buffer.from('body'));
    const [decoded] = new FrameDecoder().push(bytes);
    expect(decoded!.body.buffer).toBe(bytes.buffer);
  });

  it('rejects an oversize header or body with PROTOCOL_ERROR and stays failed', () => {
    const prefix = (h: number, b: number) => {
      const p = Buffer.alloc(8);
      p.writeUInt32BE(h, 0);
      p.writeUInt32BE(b, 4);
      return p;
    };
    const decoder = new FrameDecoder();
    expect(() => decoder.push(prefix(MAX_HEADER_BYTES + 1, 0))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }));
    expect(() => decoder.push(frame({ type: 'a' }))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }));
    expect(() => new FrameDecoder().push(prefix(10, MAX_BODY_BYTES + 1))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }));
  });

  it.each([
    ['invalid JSON', '{nope'],
    ['an array', '[]'],
    ['no type', '{"id":1}'],
    ['a non-string type', '{"type":5}'],
  ])('rejects a header that is %s', (_what, text) => {
    const header = Buffer.from(text);
    const prefix = Buffer.alloc(8);
    prefix.writeUInt32BE(header.length, 0);
    expect(() => new FrameDecoder().push(Buffer.concat([prefix, header]))).toThrow(expect.objectContaining({ code: 'PROTOCOL_ERROR' }));
  });

  it('encodeFrame refuses a body over the limit', () => {
    expect(() => encodeFrame({ type: 'invoke' }, Buffer.alloc(MAX_BODY_BYTES + 1))).toThrow(expect.objectContaining({ code: 'PAYLOAD_TOO_LARGE' }));
  });
});
