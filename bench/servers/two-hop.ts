// The floor of a process-per-function gateway: the ceiling's bare Fastify echo, plus the one
// thing such a design cannot leave out, a hop over a Unix socket to another process that
// runs the function. Ten Python processes (faasd's default max_instances) each run a bare
// loop: read a length-prefixed body, write it back. No auth, no pool logic beyond a FIFO of
// idle workers, no header, no sandbox, no cgroup, no logging, no metrics. What this reaches
// next to the ceiling is what a gateway with a second process per call can hope for on the
// same machine, whatever its own code costs.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Fastify from 'fastify';

const WORKERS = 10;
const WORKER_LOOP = `
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
buf = b''
while True:
    while len(buf) < 4 or len(buf) < 4 + struct.unpack('>I', buf[:4])[0]:
        d = s.recv(65536)
        if not d:
            sys.exit(0)
        buf += d
    n = struct.unpack('>I', buf[:4])[0]
    s.sendall(buf[:4 + n])
    buf = buf[4 + n:]
`;

interface Worker {
  socket: net.Socket;
  buf: Buffer;
  answer: ((body: Buffer) => void) | null;
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasd-two-hop-'));
const sockPath = path.join(dir, 'hop.sock');
const idle: Worker[] = [];
const waiting: ((w: Worker) => void)[] = [];

function release(w: Worker): void {
  const next = waiting.shift();
  if (next) next(w);
  else idle.push(w);
}

function call(body: Buffer): Promise<Buffer> {
  return new Promise((resolve) => {
    const run = (w: Worker) => {
      w.answer = (out) => {
        w.answer = null;
        release(w);
        resolve(out);
      };
      const head = Buffer.allocUnsafe(4);
      head.writeUInt32BE(body.length);
      w.socket.write(Buffer.concat([head, body]));
    };
    const w = idle.pop();
    if (w) run(w);
    else waiting.push(run);
  });
}

let onAllConnected!: () => void;
const connected = new Promise<void>((resolve) => (onAllConnected = resolve));
const hop = net.createServer((socket) => {
  const w: Worker = { socket, buf: Buffer.alloc(0), answer: null };
  socket.on('data', (chunk: Buffer) => {
    w.buf = w.buf.length ? Buffer.concat([w.buf, chunk]) : chunk;
    while (w.buf.length >= 4 && w.buf.length >= 4 + w.buf.readUInt32BE(0)) {
      const len = w.buf.readUInt32BE(0);
      const out = w.buf.subarray(4, 4 + len);
      w.buf = w.buf.subarray(4 + len);
      w.answer?.(out);
    }
  });
  idle.push(w);
  if (idle.length === WORKERS) onAllConnected();
});
await new Promise<void>((resolve) => hop.listen(sockPath, resolve));

const pids: number[] = [];
for (let i = 0; i < WORKERS; i++) {
  const child = spawn('/usr/bin/python3', ['-I', '-S', '-c', WORKER_LOOP, sockPath], { stdio: ['ignore', 'ignore', 'inherit'] });
  pids.push(child.pid!);
}
await connected;

const app = Fastify({ logger: false });
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
app.post('/echo', async (req, reply) => {
  const out = await call(req.body as Buffer);
  return reply.type('application/json').send(out);
});
const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${new URL(address).port} workers ${pids.join(',')}\n`);
const stop = () =>
  void app.close().then(() => {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    process.exit(0);
  });
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
