// Micro-benchmark of the frame codec on typical invoke traffic: the daemon's side
// (src/execution/protocol/codec.ts: encode `invoke`, decode `result`) and the Node shim's side
// (runtimes/node/frames.js: decode `invoke`, write `result`), in CPU ns per frame. No sockets: it
// times the codec alone, which is what changes when the codec does.
//   node --import tsx bench/tools/codec-bench.ts [--rounds N]
//        [--baseline-daemon CODEC.ts] [--baseline-shim FRAMES.js]
// With a baseline (an older codec.ts exporting encodeFrame/FrameDecoder, an older CommonJS
// module exporting { FrameDecoder, writeFrame } as frames.js does), both are timed in
// alternating rounds of the same run and the table gives both medians: on a shared, noisy
// machine only a comparison made that way means anything.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

interface DaemonCodec {
  encodeFrame(header: object, body?: Buffer): Buffer[];
  FrameDecoder: new () => { push(chunk: Buffer): unknown[] };
}
interface ShimFrames {
  FrameDecoder: new (onFrame: (header: object, body: Buffer) => void) => { push(chunk: Buffer): void };
  writeFrame(stream: NullStream, header: object, body?: Buffer | null, callback?: () => void): unknown;
}
interface Impl {
  daemon: DaemonCodec;
  shim: ShimFrames;
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const args = process.argv.slice(2);
const option = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const rounds = Number(option('--rounds') ?? 15);
const require = createRequire(import.meta.url);
const importTs = async (file: string): Promise<DaemonCodec> => (await import(pathToFileURL(path.resolve(file)).href)) as DaemonCodec;

const current: Impl = {
  daemon: await importTs(path.join(ROOT, 'src/execution/protocol/codec.ts')),
  shim: require(path.join(ROOT, 'runtimes/node/frames.js')) as ShimFrames,
};
const baselineDaemon = option('--baseline-daemon');
const baselineShim = option('--baseline-shim');
const baseline: Impl | null =
  baselineDaemon || baselineShim
    ? {
        daemon: baselineDaemon ? await importTs(baselineDaemon) : current.daemon,
        shim: baselineShim ? (require(path.resolve(baselineShim)) as ShimFrames) : current.shim,
      }
    : null;

/** A socket that takes everything at once: what the codec hands it is all that is timed. */
class NullStream {
  bytes = 0;
  write(chunk: Buffer, callback?: () => void): boolean {
    this.bytes += chunk.length;
    if (callback) callback();
    return true;
  }
  cork(): void {}
  uncork(): void {}
}

// What the gateway sends for a small POST from a typical HTTP client, and a typical answer.
const invokeHeader = {
  type: 'invoke',
  id: '0193b5d2-7c1e-7a4b-9f3e-2d8c4a1b6e5f',
  method: 'POST',
  path: '/',
  query: { name: 'world' },
  headers: {
    host: '127.0.0.1:8080',
    'user-agent': 'curl/8.5.0',
    accept: '*/*',
    'content-type': 'application/json',
    'content-length': '27',
    'x-request-id': 'abc123',
  },
  timeout_ms: 30000,
};
const resultHeader = {
  type: 'result',
  id: invokeHeader.id,
  status: 200,
  headers: { 'content-type': 'application/json' },
  logs: ['handling request', 'done'],
};

const KiB = 1024;
const bodies: Array<[string, Buffer]> = [
  ['empty', Buffer.alloc(0)],
  ['27 B', Buffer.from('{"message":"hello, world!"}')],
  ['4 KiB', Buffer.alloc(4 * KiB, 0x61)],
  ['64 KiB', Buffer.alloc(64 * KiB, 0x61)],
  ['1 MiB', Buffer.alloc(1024 * KiB, 0x61)],
];

/** A frame as the socket delivers it: chunks of at most 64 KiB (a Unix socket's usual read). */
function chunked(frame: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < frame.length; i += 64 * KiB) out.push(Buffer.from(frame.subarray(i, i + 64 * KiB)));
  return out;
}

let sink = 0;

type Op = () => void;
interface Case {
  name: string;
  body: string;
  ops: Op[];
}

/** The four operations for one body size, for one implementation. */
function operations(impl: Impl, body: Buffer): Op[] {
  const { daemon, shim } = impl;
  const resultChunks = chunked(Buffer.concat(current.daemon.encodeFrame(resultHeader, body)));
  const invokeChunks = chunked(Buffer.concat(current.daemon.encodeFrame(invokeHeader, body)));
  const decoder = new daemon.FrameDecoder();
  const shimDecoder = new shim.FrameDecoder((_header, frameBody) => {
    sink += frameBody.length;
  });
  const stream = new NullStream();
  return [
    // What ShimChannel.invoke does before writing.
    () => {
      sink += daemon.encodeFrame(invokeHeader, body).length;
    },
    // What ShimChannel does with the socket's chunks of a result.
    () => {
      for (const chunk of resultChunks) sink += decoder.push(chunk).length;
    },
    // The Node shim reading an invoke.
    () => {
      for (const chunk of invokeChunks) shimDecoder.push(chunk);
    },
    // The Node shim answering: encode plus the writes it issues.
    () => {
      shim.writeFrame(stream, resultHeader, body);
    },
  ];
}

const NAMES = ['daemon encode invoke', 'daemon decode result', 'shim decode invoke', 'shim write result'];

// CPU time (user + system, GC threads included), not wall time: on a loaded machine the
// wall clock also counts the time this process waited for a core.
function cpuNs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) * 1000;
}

/** Calls per round so that one round takes ~20 ms. */
function calibrate(op: Op): number {
  for (let n = 1; ; n *= 2) {
    const t = cpuNs();
    for (let i = 0; i < n; i++) op();
    if (cpuNs() - t > 20e6) return n;
  }
}

function time(op: Op, n: number): number {
  const t = cpuNs();
  for (let i = 0; i < n; i++) op();
  return (cpuNs() - t) / n;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const header = baseline ? '| operation | body | baseline ns | current ns | current/baseline |' : '| operation | body | ns/frame |';
process.stdout.write(`node ${process.version}; median of ${rounds} rounds${baseline ? ', alternating' : ''}\n\n`);
process.stdout.write(`${header}\n|---|---|---:|${baseline ? '---:|---:|' : ''}\n`);
for (const [label, body] of bodies) {
  const cur = operations(current, body);
  const base = baseline ? operations(baseline, body) : null;
  for (let k = 0; k < NAMES.length; k++) {
    const c: Case = { name: NAMES[k]!, body: label, ops: [cur[k]!] };
    if (base) c.ops.unshift(base[k]!);
    const n = Math.max(...c.ops.map(calibrate));
    const samples: number[][] = c.ops.map(() => []);
    for (let r = 0; r < rounds; r++) {
      for (const [i, op] of c.ops.entries()) samples[i]!.push(time(op, n));
    }
    const m = samples.map(median);
    const cells = m.map((ns) => ns.toFixed(0));
    if (base) cells.push((m[1]! / m[0]!).toFixed(2));
    process.stdout.write(`| ${c.name} | ${c.body} | ${cells.join(' | ')} |\n`);
  }
}
if (sink === 0.5) process.stdout.write('\n');
