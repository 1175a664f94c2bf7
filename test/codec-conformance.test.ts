// The three frame codecs hold to docs/protocol.md alike: the daemon's (codec.ts, in this
// process), the Node shim's (runtimes/node/frames.js, loaded in a child `node` the way
// shim.js loads it) and the Python shim's (Connection.read_frame / send of
// runtimes/python/shim.py, imported in a child python3 without starting the shim). The same
// frames, cut into the same socket chunks, go through all three; what each encodes is
// decoded by all three.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, FrameDecoder, MAX_BODY_BYTES, MAX_HEADER_BYTES } from '../src/execution/protocol/codec.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
// The real interpreter, as in shims.test.ts: `python3` on PATH may be a pyenv shim.
const PYTHON = '/usr/bin/python3';

/** What a decoder made of a sequence of chunks. */
interface Decoded {
  frames: Array<{ header: unknown; body: string }>;
  /** The decoder's message when it rejected the input, else null. */
  error: string | null;
  /** Bytes left over that are not (yet) a frame. */
  rest: number;
}

interface HarnessInput {
  /** Each entry one decoder's input: base64 socket chunks. */
  decode: string[][];
  /** Frames to encode as that shim sends them. */
  encode: Array<{ header: object; body: string }>;
}
interface HarnessOutput {
  decode: Decoded[];
  /** Base64 of the bytes written for each frame to encode. */
  encode: string[];
  /** Node: how many write() calls each frame took. */
  writes?: number[];
  /** Python: whether the shim's fast JSON path (the one used in production) was in use. */
  fast_json?: boolean;
}

// The Node shim's codec, required from the shim's own directory as shim.js does, fed the
// given chunks; its frames written to a stream that records what it is handed.
const NODE_HARNESS = `
const { FrameDecoder, writeFrame } = require('node:module').createRequire(process.argv[1])('./frames.js');
function decode(chunks) {
  const frames = [];
  const decoder = new FrameDecoder((header, body) => frames.push({ header, body: body.toString('base64') }));
  try {
    for (const chunk of chunks) decoder.push(Buffer.from(chunk, 'base64'));
  } catch (err) {
    return { frames, error: String(err.message), rest: 0 };
  }
  return { frames, error: null, rest: decoder.bufferedBytes };
}
const writes = [];
function encode({ header, body }) {
  const parts = [];
  const stream = {
    write(buf, callback) {
      parts.push(Buffer.from(buf));
      if (callback) callback();
      return true;
    },
    cork() {},
    uncork() {},
  };
  writeFrame(stream, header, Buffer.from(body, 'base64'));
  writes.push(parts.length);
  return Buffer.concat(parts).toString('base64');
}
let text = '';
process.stdin.setEncoding('utf8').on('data', (d) => (text += d)).on('end', () => {
  const input = JSON.parse(text);
  const output = { decode: input.decode.map(decode), encode: input.encode.map(encode), writes };
  process.stdout.write(JSON.stringify(output));
});
`;

// The Python shim's Connection on a stand-in socket that hands out exactly the given chunks
// (recv/recv_into never cross a chunk boundary) and records what is sent.
const PYTHON_HARNESS = `
import base64, json, sys
sys.path.insert(0, sys.argv[1])
import shim
shim._load_json()

class ChunkSocket:
    def __init__(self, chunks):
        self.chunks, self.i, self.pos, self.delivered, self.sent = chunks, 0, 0, 0, []

    def _next(self, n):
        while self.i < len(self.chunks) and self.pos == len(self.chunks[self.i]):
            self.i, self.pos = self.i + 1, 0
        if self.i == len(self.chunks):
            return b''
        out = self.chunks[self.i][self.pos:self.pos + n]
        self.pos += len(out)
        self.delivered += len(out)
        return out

    def recv(self, n):
        return self._next(n)

    def recv_into(self, view, n=0):
        data = self._next(n or len(view))
        view[:len(data)] = data
        return len(data)

    def sendall(self, data):
        self.sent.append(bytes(data))

def connection(sock):
    conn = shim.Connection.__new__(shim.Connection)  # no connect(): the socket is ours
    conn.sock, conn.buf = sock, bytearray()
    return conn

def finite(value):
    # NaN and the infinities have no JSON form for the test to read: name them instead.
    if isinstance(value, float) and (value != value or value in (float('inf'), float('-inf'))):
        return repr(value)
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value

def decode(chunks):
    chunks = [base64.b64decode(c) for c in chunks]
    sock = ChunkSocket(chunks)
    conn = connection(sock)
    frames, consumed = [], 0
    try:
        while True:
            header, body = conn.read_frame()
            frames.append({'header': finite(header), 'body': base64.b64encode(body).decode()})
            consumed = sock.delivered - len(conn.buf)
    except EOFError:
        return {'frames': frames, 'error': None, 'rest': sum(map(len, chunks)) - consumed}
    except shim.ProtocolError as e:
        return {'frames': frames, 'error': str(e), 'rest': 0}

def encode(item):
    sock = ChunkSocket([])
    connection(sock).send(item['header'], base64.b64decode(item['body']))
    return base64.b64encode(b''.join(sock.sent)).decode()

data = json.load(sys.stdin)
json.dump({'decode': [decode(c) for c in data['decode']], 'encode': [encode(e) for e in data['encode']],
           'fast_json': shim.json_loads.__qualname__.startswith('_fast_json')}, sys.stdout)
`;

function run(command: string, args: string[], input: HarnessInput): Promise<HarnessOutput> {
  return new Promise((resolve, reject) => {
    const env = { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' };
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('error', reject);
    child.once('close', (code) => {
      if (code !== 0) return reject(new Error(`${path.basename(command)} harness exited with ${code}: ${err}`));
      try {
        resolve(JSON.parse(out) as HarnessOutput);
      } catch (e) {
        reject(e as Error);
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

const runNodeShim = (input: HarnessInput) => run(process.execPath, ['-e', NODE_HARNESS, path.join(ROOT, 'runtimes/node/shim.js')], input);
const runPythonShim = (input: HarnessInput) => run(PYTHON, ['-I', '-S', '-c', PYTHON_HARNESS, path.join(ROOT, 'runtimes/python')], input);

function decodeInDaemon(chunks: Buffer[]): Decoded {
  const decoder = new FrameDecoder();
  const frames: Decoded['frames'] = [];
  try {
    for (const chunk of chunks) {
      for (const f of decoder.push(chunk)) frames.push({ header: f.header, body: f.body.toString('base64') });
    }
  } catch (err) {
    expect(err).toMatchObject({ code: 'PROTOCOL_ERROR' });
    return { frames, error: (err as Error).message, rest: 0 };
  }
  return { frames, error: null, rest: decoder.bufferedBytes };
}

// ------------------------------------------------------------------ the frames

/** A frame built by hand from the spec, independent of every codec under test. */
function rawFrame(header: string | Buffer, body: Buffer = Buffer.alloc(0), lengths?: [number, number]): Buffer {
  const h = typeof header === 'string' ? Buffer.from(header, 'utf8') : header;
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(lengths?.[0] ?? h.length, 0);
  prefix.writeUInt32BE(lengths?.[1] ?? body.length, 4);
  return Buffer.concat([prefix, h, body]);
}
const frame = (header: object, body?: Buffer) => rawFrame(JSON.stringify(header), body);
/** Header bytes with raw bytes spliced in: `bytesIn('{"type":"', [0xff], '"}')`. */
const bytesIn = (before: string, raw: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(raw), Buffer.from(after)]);

/** `bytes` cut at the given offsets into socket chunks. */
function cut(bytes: Buffer, ...at: number[]): Buffer[] {
  const edges = [0, ...at, bytes.length];
  return edges.slice(1).map((end, i) => bytes.subarray(edges[i], end));
}
/** `bytes` in chunks of `size`. */
function every(bytes: Buffer, size: number): Buffer[] {
  const at: number[] = [];
  for (let i = size; i < bytes.length; i += size) at.push(i);
  return cut(bytes, ...at);
}

const EMPTY = Buffer.alloc(0);
const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const MiB = Buffer.alloc(1024 * 1024);
for (let i = 0; i < MiB.length; i++) MiB[i] = (i * 7919) & 0xff;
const unicode = {
  type: 'result',
  accents: 'héllo wörld',
  cjk: '日本語のテキスト',
  emoji: '😀👍🏽',
  rtl: 'שלום',
  escapes: 'tab\there "quoted" back\\slash nul\u0000 ls\u2028 del\u007f',
  'ключ-ü': ['ä', 'ß'],
};
const smallHeader = { type: 'invoke', id: 'split', n: 1 };
const small = frame(smallHeader, Buffer.from('body bytes'));
const smallFrames = [{ header: smallHeader, body: Buffer.from('body bytes') }];
// A header of exactly MAX_HEADER_BYTES: {"type":"a","pad":"xxxx..."}.
const maxHeader = `{"type":"a","pad":"${'x'.repeat(MAX_HEADER_BYTES - '{"type":"a","pad":""}'.length)}"}`;

interface ValidCase {
  name: string;
  chunks: Buffer[];
  frames: Array<{ header: object; body: Buffer }>;
  /** Bytes left that are not a whole frame (default 0). */
  rest?: number;
}
const VALID: ValidCase[] = [
  {
    name: 'a frame with an empty body',
    chunks: [frame({ type: 'ready', runtime: 'node' })],
    frames: [{ header: { type: 'ready', runtime: 'node' }, body: EMPTY }],
  },
  {
    name: 'a binary body with all 256 byte values',
    chunks: [frame({ type: 'result', id: 'b' }, allBytes)],
    frames: [{ header: { type: 'result', id: 'b' }, body: allBytes }],
  },
  {
    name: 'a 1 MiB body in one chunk',
    chunks: [frame({ type: 'invoke' }, MiB)],
    frames: [{ header: { type: 'invoke' }, body: MiB }],
  },
  {
    name: 'a 1 MiB body in 64 KiB socket chunks',
    chunks: every(frame({ type: 'invoke' }, MiB), 65536),
    frames: [{ header: { type: 'invoke' }, body: MiB }],
  },
  {
    name: 'unicode header keys and values',
    chunks: [frame(unicode, Buffer.from('ü'))],
    frames: [{ header: unicode, body: Buffer.from('ü') }],
  },
  {
    name: 'several frames in one chunk',
    chunks: [Buffer.concat([frame({ type: 'a' }), frame({ type: 'b' }, Buffer.from('22')), frame({ type: 'c', x: [1] }, allBytes)])],
    frames: [
      { header: { type: 'a' }, body: EMPTY },
      { header: { type: 'b' }, body: Buffer.from('22') },
      { header: { type: 'c', x: [1] }, body: allBytes },
    ],
  },
  ...[1, 2, 3, 4, 5, 6, 7, 8].map((at) => ({
    name: `a frame split after byte ${at} of its length prefix`,
    chunks: cut(small, at),
    frames: smallFrames,
  })),
  {
    name: 'a frame split inside its prefix, its header and its body',
    chunks: cut(small, 3, 12, small.length - 4),
    frames: smallFrames,
  },
  { name: 'a frame delivered one byte at a time', chunks: every(small, 1), frames: smallFrames },
  {
    name: 'a header of exactly the 1 MiB limit',
    chunks: every(rawFrame(maxHeader), 65536),
    frames: [{ header: JSON.parse(maxHeader) as object, body: EMPTY }],
  },
  {
    name: 'a header with JSON whitespace around it',
    chunks: [rawFrame(' \n{ "type" : "a" }\r\n\t')],
    frames: [{ header: { type: 'a' }, body: EMPTY }],
  },
  {
    name: 'a frame and the start of the next',
    chunks: [Buffer.concat([frame({ type: 'a' }), small.subarray(0, 11)])],
    frames: [{ header: { type: 'a' }, body: EMPTY }],
    rest: 11,
  },
];

interface MalformedCase {
  name: string;
  chunks: Buffer[];
}
const overLimit = (header: number, body: number) => rawFrame('{"type":"a"}', EMPTY, [header, body]);
const MALFORMED: MalformedCase[] = [
  { name: 'a header that is not JSON', chunks: [rawFrame('{nope')] },
  { name: 'an empty header', chunks: [rawFrame('', Buffer.from('x'))] },
  { name: 'a header that is a JSON array', chunks: [rawFrame('[{"type":"a"}]')] },
  { name: 'a header that is a JSON string', chunks: [rawFrame('"invoke"')] },
  { name: 'a header that is JSON null', chunks: [rawFrame('null')] },
  { name: 'a header without a type', chunks: [rawFrame('{"id":"1"}')] },
  { name: 'a header whose type is not a string', chunks: [rawFrame('{"type":5}')] },
  { name: 'a header with data after the JSON', chunks: [rawFrame('{"type":"a"} {}')] },
  { name: 'a header with a byte order mark', chunks: [rawFrame('\ufeff{"type":"a"}')] },
  { name: 'a header that is not UTF-8', chunks: [rawFrame(bytesIn('{"type":"a', [0xff], '"}'))] },
  { name: 'a header with a UTF-8-encoded surrogate', chunks: [rawFrame(bytesIn('{"type":"', [0xed, 0xa0, 0x80], '"}'))] },
  { name: 'a header length over the limit', chunks: [overLimit(MAX_HEADER_BYTES + 1, 0)] },
  { name: 'a body length over the limit', chunks: [overLimit(12, MAX_BODY_BYTES + 1)] },
  { name: 'both lengths at their maximum', chunks: [overLimit(0xffffffff, 0xffffffff)] },
  { name: 'a header length over the limit split inside the prefix', chunks: cut(overLimit(MAX_HEADER_BYTES + 1, 0), 3) },
  {
    name: 'a malformed frame after a good one in the same chunk',
    chunks: [Buffer.concat([frame({ type: 'a' }), rawFrame('[]')])],
  },
  // Not JSON, though Python's json scanner takes them unless told not to.
  ...['NaN', 'Infinity', '-Infinity'].map((token) => ({ name: `a header with ${token} in it`, chunks: [rawFrame(`{"type":"a","x":${token}}`)] })),
];

// What the shims send (ready, result, error) and what the daemon sends (init, invoke); each
// is encoded by all three.
const MESSAGES: Array<{ name: string; header: object; body: Buffer }> = [
  {
    name: 'a ready frame',
    header: { type: 'ready', runtime: 'node', version: '20.0.0', pid: 42 },
    body: EMPTY,
  },
  {
    name: 'a result with unicode logs and no body',
    header: { type: 'result', id: 'r1', status: 204, headers: {}, logs: ['héllo', '日本', '😀', 'tab\t"q"'] },
    body: EMPTY,
  },
  {
    name: 'a result with a binary body',
    header: { type: 'result', id: 'r2', status: 200, headers: { 'content-type': 'application/octet-stream' }, logs: [] },
    body: allBytes,
  },
  {
    // Over the Node shim's 16 KiB inline limit, under the Python shim's 64 KiB one.
    name: 'a result with a 20 KiB body',
    header: { type: 'result', id: 'r3', status: 200, headers: { 'x-ü': 'ä' }, logs: [] },
    body: MiB.subarray(0, 20 * 1024),
  },
  {
    name: 'a result with a 1 MiB body',
    header: { type: 'result', id: 'r4', status: 200, headers: {}, logs: ['big'] },
    body: MiB,
  },
  {
    name: 'an error',
    header: {
      type: 'error',
      id: 'r5',
      error: { type: 'ValueError', message: 'mauvaise entrée ✗', stack: 'Traceback\n  line 1' },
      logs: ['x'],
    },
    body: EMPTY,
  },
  {
    name: 'an init',
    header: {
      type: 'init',
      function: { name: 'f', version: 3, dir: '/function', file: 'main.py', handler: null },
      env: { GREETING: 'grüß' },
    },
    body: EMPTY,
  },
  {
    name: 'an invoke',
    header: {
      type: 'invoke',
      id: 'i1',
      method: 'POST',
      path: '/a/ö',
      query: { q: ['1', '2'], s: 'ü' },
      headers: { 'content-type': 'application/json' },
      timeout_ms: 3000,
    },
    body: Buffer.from('{"name":"wörld"}'),
  },
];
const ENCODERS = ['daemon', 'node shim', 'python shim'] as const;
type Encoder = (typeof ENCODERS)[number];

const b64 = (chunks: Buffer[]) => chunks.map((c) => c.toString('base64'));
const expected = (frames: Array<{ header: object; body: Buffer }>) => frames.map((f) => ({ header: f.header, body: f.body.toString('base64') }));

// ------------------------------------------------------------------ runs

interface PerDecoder {
  daemon: Decoded;
  node: Decoded;
  python: Decoded;
}
/** Per VALID then MALFORMED case. */
let table: PerDecoder[];
let encoded: Record<Encoder, Buffer[]>;
let nodeWrites: number[];
let pythonFastJson: boolean | undefined;
/** Per encoder, per message: each decoder's result for [whole frame, frame in 4 KiB chunks]. */
let cross: Record<Encoder, Array<Record<keyof PerDecoder, Decoded[]>>>;

beforeAll(async () => {
  const cases = [...VALID, ...MALFORMED].map((c) => c.chunks);
  const messages = MESSAGES.map((m) => ({ header: m.header, body: m.body.toString('base64') }));
  const input: HarnessInput = { decode: cases.map(b64), encode: messages };
  const [node, python] = await Promise.all([runNodeShim(input), runPythonShim(input)]);
  table = cases.map((chunks, i) => ({ daemon: decodeInDaemon(chunks), node: node.decode[i]!, python: python.decode[i]! }));
  pythonFastJson = python.fast_json;
  nodeWrites = node.writes!;
  encoded = {
    daemon: MESSAGES.map((m) => Buffer.concat(encodeFrame(m.header, m.body))),
    'node shim': node.encode.map((s) => Buffer.from(s, 'base64')),
    'python shim': python.encode.map((s) => Buffer.from(s, 'base64')),
  };

  // Round two: every encoder's bytes through every decoder, whole and in 4 KiB chunks.
  const inputs = ENCODERS.flatMap((e) => encoded[e].flatMap((bytes) => [[bytes], every(bytes, 4096)]));
  const round2: HarnessInput = { decode: inputs.map(b64), encode: [] };
  const [node2, python2] = await Promise.all([runNodeShim(round2), runPythonShim(round2)]);
  const daemon2 = inputs.map(decodeInDaemon);
  cross = { daemon: [], 'node shim': [], 'python shim': [] };
  let i = 0;
  for (const e of ENCODERS) {
    for (let m = 0; m < MESSAGES.length; m++, i += 2) {
      const pair = (results: Decoded[]) => results.slice(i, i + 2);
      cross[e].push({ daemon: pair(daemon2), node: pair(node2.decode), python: pair(python2.decode) });
    }
  }
}, 60_000);

describe('the daemon, the Node shim and the Python shim decode alike', () => {
  it('the Python shim is imported with its fast JSON path, the one it runs in production', () => {
    expect(pythonFastJson).toBe(true);
  });

  it.each(VALID.map((c, i) => [c.name, i] as const))('all three read %s', (_name, i) => {
    const c = VALID[i]!;
    const want: Decoded = { frames: expected(c.frames), error: null, rest: c.rest ?? 0 };
    expect(table[i]).toEqual({ daemon: want, node: want, python: want });
  });

  // Frames decoded before the bad one may or may not have been handed out (the daemon's
  // push() throws instead of returning them); what counts is that each decoder refuses.
  const refused = { error: expect.any(String) as unknown };
  it.each(MALFORMED.map((c, i) => [c.name, VALID.length + i] as const))('all three reject %s', (_name, i) => {
    expect(table[i]).toMatchObject({ daemon: refused, node: refused, python: refused });
  });
});

describe('what one side encodes the others decode', () => {
  it.each(ENCODERS.flatMap((e) => MESSAGES.map((m, i) => [m.name, e, i] as const)))('%s encoded by the %s reads the same in all three decoders, whole and in 4 KiB chunks', (_name, encoder, i) => {
    const want: Decoded = { frames: expected([MESSAGES[i]!]), error: null, rest: 0 };
    expect(cross[encoder][i]).toEqual({ daemon: [want, want], node: [want, want], python: [want, want] });
  });

  it('the daemon and the Node shim encode byte for byte the same (one module)', () => {
    expect(encoded['node shim']).toEqual(encoded.daemon);
  });

  it('the Node shim writes a frame with a body up to 16 KiB as one buffer, a larger one as two', () => {
    expect(nodeWrites).toEqual(MESSAGES.map((m) => (m.body.length <= 16 * 1024 ? 1 : 2)));
  });

  it('every encoder writes the lengths of the header and the body it sent', () => {
    for (const e of ENCODERS) {
      encoded[e].forEach((bytes, i) => {
        expect(bytes.readUInt32BE(4)).toBe(MESSAGES[i]!.body.length);
        expect(bytes.length).toBe(8 + bytes.readUInt32BE(0) + MESSAGES[i]!.body.length);
      });
    }
  });
});
