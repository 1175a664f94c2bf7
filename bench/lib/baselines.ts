// The baseline servers, each in its own child process (same process kind as faasd: node
// with the tsx loader; workerd is its own binary), started and stopped by the bench.
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cleanEnv, startChild, waitForLine, type Child } from './children.js';
import { CONTAINER_IMAGES } from './daemon.js';
import { BENCH_DIR, REPO_DIR } from './options.js';

export interface BaselineServer {
  url: string;
  child: Child;
  stop(): Promise<void>;
}

async function startServer(file: string, args: string[], what: string, line = /listening (\d+)/): Promise<BaselineServer & { line: RegExpMatchArray }> {
  const child = startChild(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'servers', file), ...args], {
    cwd: REPO_DIR,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const m = await waitForLine(child, line, 30_000, what);
    return { url: `http://127.0.0.1:${m[1]}`, child, stop: () => child.stop(10_000), line: m };
  } catch (e) {
    await child.stop(2000);
    throw e;
  }
}

/** Bare Fastify echo: POST <url>/echo. */
export function startCeiling(): Promise<BaselineServer> {
  return startServer('ceiling.ts', [], 'ceiling server');
}

/** The floor of a process-per-call gateway (servers/two-hop.ts): POST <url>/echo; `workers` are its function processes. */
export async function startTwoHop(): Promise<BaselineServer & { workers: number[] }> {
  const server = await startServer('two-hop.ts', [], 'two-hop server', /listening (\d+) workers ([\d,]+)/);
  return { ...server, workers: server.line[2]!.split(',').map(Number) };
}

/** Process / docker run per request: POST <url>/spawn/<runtime>, <url>/docker/<runtime>. */
export function startSpawnServer(): Promise<BaselineServer> {
  return startServer('spawn-per-request.ts', [JSON.stringify(CONTAINER_IMAGES), '/usr/bin/node'], 'spawn-per-request server');
}

/** A free TCP port on 127.0.0.1 (workerd takes its address on the command line and prints nothing). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/**
 * Cloudflare's workerd (the npm package `workerd`, a dev dependency) running the same JSON
 * echo as a Worker: POST <url>/echo. Its binary is started directly (not through the npm
 * wrapper script), so the CPU sampler reads workerd's own process.
 */
export async function startWorkerd(): Promise<BaselineServer> {
  let binary: string;
  try {
    binary = (createRequire(import.meta.url)('workerd') as { default: string }).default;
  } catch (e) {
    throw new Error(`workerd is not installed (npm ci installs it as a dev dependency): ${(e as Error).message}`);
  }
  const port = await freePort();
  const dir = path.join(BENCH_DIR, 'servers', 'workerd');
  const child = startChild(binary, ['serve', path.join(dir, 'config.capnp'), '--socket-addr', `http=127.0.0.1:${port}`], {
    cwd: dir,
    env: cleanEnv(),
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  let gone = false;
  void child.exited.then(() => (gone = true));
  const end = Date.now() + 30_000;
  while (!gone && Date.now() < end) {
    if (await answers(port)) return { url: `http://127.0.0.1:${port}`, child, stop: () => child.stop(10_000) };
    await sleep(50);
  }
  await child.stop(2000);
  throw new Error(`workerd ${gone ? 'exited at start' : 'did not listen within 30 s'}`);
}
