'use strict';
// faasd Node shim: runs one function in this process and speaks docs/protocol.md to the
// daemon over the Unix socket in FAAS_SOCKET. No dependencies, no build step. Start-up is
// every cold start: before `ready` only net (~4 ms of a ~35 ms node start; a piped stdout
// needs it anyway), path and ./frames.js (the framing, shared with the daemon: ~0.8 ms,
// most of it the module loader's first use, which prepare()'s warm-up.js paid before) are
// loaded; stdout/stderr are set up just after (prepare()).
// Exit status: 0 daemon closed the connection, 1 cannot connect, 3 protocol error,
// 4 function failed to load.

const net = require('node:net');
const path = require('node:path');
const { MAX_HEADER_BYTES: MAX_HEADER, MAX_BODY_BYTES: MAX_BODY, FrameDecoder, FrameError, encodeFrame, writeFrame } = require('./frames.js');

const LOG_MAX_LINES = 1000;
const LOG_MAX_LINE = 4096;
// Keeps a result header well under MAX_HEADER even for 1000 long lines (docs/protocol.md).
const LOG_MAX_CHARS = 256 * 1024;
const ERROR_TEXT_MAX = 64 * 1024;
const EMPTY = Buffer.alloc(0);

// ------------------------------------------------------------------ framing

/** Writes one frame (frames.js: one write for a small one); false if it is over a limit. */
function send(header, body, callback) {
  try {
    writeFrame(socket, header, body, callback);
  } catch (err) {
    if (err instanceof FrameError) return false;
    throw err;
  }
  return true;
}

class HandlerNotFound extends Error {
  get name() {
    return 'HandlerNotFound';
  }
}

// ------------------------------------------------------------------ output capture

/** Lines of one invocation, bounded in count, line length and total size. */
class Logs {
  constructor() {
    this.lines = [];
    this.chars = 0;
    this.dropped = 0;
    this.partial = { out: '', err: '' };
  }

  add(line) {
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.length > LOG_MAX_LINE) line = line.slice(0, LOG_MAX_LINE);
    // Once dropping starts everything after is dropped, so what is kept is a prefix.
    if (this.dropped > 0 || this.lines.length >= LOG_MAX_LINES || this.chars + line.length > LOG_MAX_CHARS) {
      this.dropped++;
      return;
    }
    this.lines.push(line);
    this.chars += line.length;
  }

  write(stream, text) {
    const partial = this.partial[stream];
    let start = 0;
    let nl = text.indexOf('\n');
    if (nl < 0) {
      if (partial.length <= LOG_MAX_LINE) this.partial[stream] = partial + text;
      return;
    }
    this.add(partial + text.slice(0, nl));
    for (start = nl + 1; (nl = text.indexOf('\n', start)) >= 0; start = nl + 1) {
      this.add(text.slice(start, nl));
    }
    this.partial[stream] = text.slice(start);
  }

  finish() {
    if (this.partial.out) this.add(this.partial.out);
    if (this.partial.err) this.add(this.partial.err);
    const lines = this.lines;
    if (this.dropped > 0) {
      // The marker is one of the at most LOG_MAX_LINES lines.
      if (lines.length >= LOG_MAX_LINES) {
        lines.pop();
        this.dropped++;
      }
      lines.push(`[${this.dropped} more log lines dropped]`);
    }
    return lines;
  }
}

// One call at a time: the Logs of the call running. With `concurrency` > 1, the calls in
// flight each have theirs in an AsyncLocalStorage, so output lands in the call that printed it.
let capturing = null;
let callLogs = null;
let captureInstalled = false;

/** From `init` on, writes to stdout/stderr become log lines while an invocation runs. */
function installCapture() {
  if (captureInstalled) return;
  captureInstalled = true;
  for (const [name, stream] of [
    ['out', process.stdout],
    ['err', process.stderr],
  ]) {
    const realWrite = stream.write;
    stream.write = function write(chunk, encoding, callback) {
      const logs = callLogs === null ? capturing : (callLogs.getStore() ?? null);
      if (logs === null) return realWrite.call(this, chunk, encoding, callback);
      if (typeof encoding === 'function') callback = encoding;
      let text;
      if (typeof chunk === 'string') text = chunk;
      else if (chunk instanceof Uint8Array) text = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('utf8');
      else text = String(chunk);
      logs.write(name, text);
      if (typeof callback === 'function') process.nextTick(callback);
      return true;
    };
  }
}

// ------------------------------------------------------------------ request / response

class Request {
  constructor(header, body) {
    this.method = header.method;
    this.path = header.path;
    this.headers = header.headers;
    this.query = header.query;
    this.body = body;
  }

  /** The body parsed as JSON; null for an empty body. Throws SyntaxError if invalid. */
  json() {
    return this.body.length === 0 ? null : JSON.parse(this.body.toString('utf8'));
  }

  text() {
    return this.body.toString('utf8');
  }

  header(name) {
    return this.headers[String(name).toLowerCase()];
  }
}

class ResponseError extends Error {
  constructor(type, message) {
    super(message);
    this.type = type;
  }
}

function toJson(value) {
  let json;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    throw new ResponseError('SerializationError', `cannot serialise the return value as JSON: ${err.message}`);
  }
  // undefined, functions and symbols have no JSON form; the protocol says null.
  return Buffer.from(json === undefined ? 'null' : json, 'utf8');
}

function asBuffer(value) {
  if (Buffer.isBuffer(value)) return value;
  if (ArrayBuffer.isView(value)) return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return Buffer.from(value);
  return null;
}

function headerValue(v) {
  return Array.isArray(v) ? v.map(headerValue).join(', ') : String(v);
}

/** Handler return value -> {status, headers, body}, as docs/protocol.md defines. */
function toResponse(value) {
  if (value !== null && typeof value === 'object' && typeof value.statusCode === 'number') {
    return lambdaResponse(value);
  }
  const bytes = asBuffer(value);
  if (bytes) return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: bytes };
  return { status: 200, headers: { 'content-type': 'application/json' }, body: toJson(value) };
}

function lambdaResponse(value) {
  const status = value.statusCode;
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new ResponseError('SerializationError', `statusCode must be an integer from 100 to 599, not ${status}`);
  }
  const headers = {};
  if (value.headers !== null && typeof value.headers === 'object') {
    for (const name of Object.keys(value.headers)) {
      const v = value.headers[name];
      if (v !== undefined && v !== null) headers[name] = headerValue(v);
    }
  }
  const raw = value.body;
  let body;
  let defaultType = null;
  let bytes;
  if (raw === undefined || raw === null) {
    body = EMPTY;
  } else if (typeof raw === 'string') {
    if (value.isBase64Encoded) {
      body = Buffer.from(raw, 'base64');
      defaultType = 'application/octet-stream';
    } else {
      body = Buffer.from(raw, 'utf8');
      defaultType = 'text/plain; charset=utf-8';
    }
  } else if ((bytes = asBuffer(raw))) {
    body = bytes;
    defaultType = 'application/octet-stream';
  } else {
    body = toJson(raw);
    defaultType = 'application/json';
  }
  if (defaultType && body.length > 0 && !Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) {
    headers['content-type'] = defaultType;
  }
  return { status, headers, body };
}

function cut(text) {
  return text.length <= ERROR_TEXT_MAX ? text : `${text.slice(0, ERROR_TEXT_MAX)}... [truncated]`;
}

function errorInfo(err) {
  if (err instanceof ResponseError) return { type: err.type, message: cut(err.message), stack: '' };
  if (err !== null && typeof err === 'object') {
    const ctor = err.constructor;
    const type = typeof ctor === 'function' && ctor.name ? ctor.name : String(err.name || 'Error');
    let message = '';
    let stack = '';
    try {
      message = String(err.message ?? '');
      stack = typeof err.stack === 'string' ? err.stack : '';
    } catch {
      // A getter that throws: report what we have.
    }
    return { type, message: cut(message), stack: cut(stack) };
  }
  let message;
  try {
    message = String(err);
  } catch {
    message = typeof err;
  }
  return { type: 'Error', message: cut(message), stack: '' };
}

// ------------------------------------------------------------------ lifecycle

let state = 'init'; // 'init' -> 'loading' -> 'idle' (taking calls)
/** Calls the daemon may have in flight here (init's `concurrency`), and those it has. */
let maxCalls = 1;
let inFlight = 0;
/**
 * Calls the daemon sent ahead (pipelining, docs/protocol.md): at most one beyond maxCalls,
 * started in order as calls finish, never while maxCalls are running. A `cancel` for one
 * still here drops it.
 */
const ahead = [];
let waitingFlush = false;
let handler = null;
let fnName = '';
let fnVersion = 0;

function fail(message) {
  process.stderr.write(`faasd shim: protocol error: ${message}\n`);
  process.exit(3);
}

function resolveHandler(exports, name) {
  if (name) return exports != null ? exports[name] : undefined;
  if (exports == null) return undefined;
  if (typeof exports.handler === 'function') return exports.handler;
  if (typeof exports.handle === 'function') return exports.handle;
  if (typeof exports === 'function') return exports;
  const def = exports.default;
  // An ES module imported from CommonJS may wrap its default export once more.
  if (def !== null && typeof def === 'object' && typeof def.default === 'function') return def.default;
  return def;
}

async function loadModule(file) {
  try {
    return require(file);
  } catch (err) {
    if (err && err.code === 'ERR_REQUIRE_ESM') {
      const { pathToFileURL } = require('node:url');
      return import(pathToFileURL(file).href);
    }
    throw err;
  }
}

async function init(header) {
  const fn = header.function;
  const env = header.env;
  if (fn === null || typeof fn !== 'object' || env === null || typeof env !== 'object') fail('malformed init frame');
  if (typeof fn.dir !== 'string' || typeof fn.file !== 'string') fail('malformed init frame');
  if (fn.handler != null && typeof fn.handler !== 'string') fail('malformed init frame');
  const concurrency = header.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) fail('malformed init frame');
  fnName = String(fn.name);
  fnVersion = Number(fn.version);
  for (const key of Object.keys(env)) process.env[key] = String(env[key]);
  prepare();
  // Not performance.now(): the global `performance` is loaded on its first use (~1 ms), which
  // would land here, on a pre-warmed instance's specialisation.
  const started = process.hrtime.bigint();
  try {
    const file = path.resolve(fn.dir, fn.file);
    const exports = await loadModule(file);
    const found = resolveHandler(exports, fn.handler);
    if (typeof found !== 'function') {
      throw new HandlerNotFound(fn.handler ? `${fn.file} has no exported function '${fn.handler}'` : `${fn.file} exports no function (looked for handler, handle, module.exports, default)`);
    }
    handler = found;
  } catch (err) {
    send({ type: 'init_error', error: errorInfo(err) }, null, () => process.exit(4));
    return;
  }
  const loadMs = Math.round(Number(process.hrtime.bigint() - started) / 1000) / 1000;
  state = 'idle';
  if (concurrency > 1) {
    // Node runs async handlers' awaits interleaved; a sync one simply finishes before the next.
    maxCalls = concurrency;
    callLogs = new (require('node:async_hooks').AsyncLocalStorage)();
    send({ type: 'init_ok', load_ms: loadMs, concurrency });
  } else {
    send({ type: 'init_ok', load_ms: loadMs });
  }
}

function invoke(header, body) {
  const { id, method, path: reqPath, query, headers } = header;
  if (typeof id !== 'string' || typeof method !== 'string' || typeof reqPath !== 'string' || query === null || typeof query !== 'object' || headers === null || typeof headers !== 'object') {
    fail('malformed invoke frame');
  }
  inFlight++;
  const timeoutMs = Number(header.timeout_ms) || 0;
  const context = {
    requestId: id,
    functionName: fnName,
    version: fnVersion,
    deadline: Date.now() + timeoutMs,
  };
  const logs = new Logs();
  let value;
  try {
    if (callLogs === null) {
      capturing = logs;
      value = handler(new Request(header, body), context);
    } else {
      value = callLogs.run(logs, handler, new Request(header, body), context);
    }
  } catch (err) {
    finish(id, logs, err, undefined, true);
    return;
  }
  if (value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function') {
    Promise.resolve(value).then(
      (v) => finish(id, logs, null, v, false),
      (err) => finish(id, logs, err, undefined, true),
    );
  } else {
    finish(id, logs, null, value, false);
  }
}

function finish(id, logs, error, value, failed) {
  if (callLogs === null) capturing = null;
  let response;
  if (!failed) {
    try {
      response = toResponse(value);
      if (response.body.length > MAX_BODY) {
        throw new ResponseError('ResponseTooLarge', `response body of ${response.body.length} bytes exceeds ${MAX_BODY}`);
      }
    } catch (err) {
      error = err;
      failed = true;
    }
  }
  answer(id, response, error, failed, logs.finish());
  inFlight--;
  if (ahead.length > 0) startAhead();
}

function answer(id, response, error, failed, lines) {
  if (!failed) {
    const header = { type: 'result', id, status: response.status, headers: response.headers, logs: lines };
    if (send(header, response.body)) return;
    header.logs = ['[logs dropped: the response header would exceed the protocol limit]'];
    if (send(header, response.body)) return;
    error = new ResponseError('ResponseTooLarge', `response headers exceed ${MAX_HEADER} bytes`);
    lines = header.logs;
  }
  const info = errorInfo(error);
  if (!send({ type: 'error', id, error: info, logs: lines })) {
    send({ type: 'error', id, error: info, logs: ['[logs dropped: the error header would exceed the protocol limit]'] });
  }
}

/**
 * Starts the call sent ahead once a slot is free and every answer before it is written out
 * (if this process died in the call, the daemon must have seen the answers before it, or it
 * would think the call never started and send it again).
 */
function startAhead() {
  if (ahead.length === 0 || inFlight >= maxCalls || waitingFlush) return;
  if (socket.writableLength > 0) {
    waitingFlush = true;
    // Its callback runs once everything written before it is flushed.
    socket.write(EMPTY, () => {
      waitingFlush = false;
      startAhead();
    });
    return;
  }
  const next = ahead.shift();
  invoke(next.header, next.body);
}

function cancel(header) {
  for (let i = 0; i < ahead.length; i++) {
    if (ahead[i].header.id === header.id) {
      ahead.splice(i, 1);
      send({ type: 'cancelled', id: header.id });
      return;
    }
  }
  // Started or answered already: the daemon takes its answer.
}

/**
 * Work that needs no function, done once right after `ready` while the shim waits for `init`:
 * creating process.stdout/stderr (~2 ms) and running the invoke path's helpers once, so
 * neither lands on a pre-warmed instance's specialisation or its first call. It writes
 * nothing and changes no state a function could see.
 */
let prepared = false;
function prepare() {
  if (prepared) return;
  prepared = true;
  installCapture();
  const logs = new Logs();
  logs.write('out', 'warm-up\n');
  logs.finish();
  toResponse({ ok: true });
  toResponse({ statusCode: 204, headers: { 'x-a': 'b' }, body: '' });
  new Request({ method: 'GET', path: '/', headers: {}, query: {} }, Buffer.from('{}')).json();
  new FrameDecoder(() => {}).push(encodeFrame({ type: 'warm-up', logs: [] })[0]);
  // The module loader's whole resolve-read-compile path, on a file that does nothing.
  require('./warm-up.js');
}

function onFrame(header, body) {
  if (header.type === 'init' && state === 'init') {
    state = 'loading';
    init(header);
  } else if (header.type === 'invoke' && state === 'idle' && inFlight + ahead.length <= maxCalls) {
    // At most one call beyond maxCalls: the daemon's pipelining (docs/protocol.md).
    if (inFlight < maxCalls && ahead.length === 0 && !waitingFlush && socket.writableLength === 0) {
      invoke(header, body);
    } else {
      ahead.push({ header, body });
      startAhead();
    }
  } else if (header.type === 'cancel' && state === 'idle') {
    cancel(header);
  } else {
    fail(`unexpected ${JSON.stringify(header.type)} frame in state ${state}`);
  }
}

const socketPath = process.env.FAAS_SOCKET;
if (!socketPath) {
  process.stderr.write('faasd shim: FAAS_SOCKET is not set\n');
  process.exit(1);
}
const decoder = new FrameDecoder(onFrame);
let connected = false;
// Reads land in one reused buffer (net's `onread`): no 'data' event, no stream state per
// read. The decoder keeps views of what it is given and a handler may keep its body past
// the read, so the bytes read are copied out first (one small allocation from Node's pool).
const readBuffer = Buffer.allocUnsafe(64 * 1024);
function onRead(nread, buf) {
  try {
    decoder.push(Buffer.from(buf.subarray(0, nread)));
  } catch (err) {
    if (err instanceof FrameError) fail(err.message);
    throw err;
  }
}
const socket = net.connect({ path: socketPath, onread: { buffer: readBuffer, callback: onRead } }, () => {
  connected = true;
  send({ type: 'ready', runtime: 'node', version: process.versions.node, pid: process.pid });
  setImmediate(prepare);
});

socket.on('error', (err) => {
  if (!connected) {
    process.stderr.write(`faasd shim: cannot connect to ${socketPath}: ${err.message}\n`);
    process.exit(1);
  }
});
// The daemon closed the connection (or it broke): nothing left to serve.
socket.on('close', () => process.exit(0));
