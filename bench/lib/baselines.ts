// The baseline servers, each in its own child process (same process kind as faasd: node
// with the tsx loader), started and stopped by the bench.
import path from 'node:path';
import { cleanEnv, startChild, waitForLine, type Child } from './children.js';
import { CONTAINER_IMAGES } from './daemon.js';
import { BENCH_DIR, REPO_DIR } from './options.js';

export interface BaselineServer {
  url: string;
  child: Child;
  stop(): Promise<void>;
}

async function startServer(file: string, args: string[], what: string): Promise<BaselineServer> {
  const child = startChild(process.execPath, ['--import', 'tsx', path.join(BENCH_DIR, 'servers', file), ...args], {
    cwd: REPO_DIR,
    env: cleanEnv(),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const m = await waitForLine(child, /listening (\d+)/, 30_000, what);
    return { url: `http://127.0.0.1:${m[1]}`, child, stop: () => child.stop(10_000) };
  } catch (e) {
    await child.stop(2000);
    throw e;
  }
}

/** Bare Fastify echo: POST <url>/echo. */
export function startCeiling(): Promise<BaselineServer> {
  return startServer('ceiling.ts', [], 'ceiling server');
}

/** Process / docker run per request: POST <url>/spawn/<runtime>, <url>/docker/<runtime>. */
export function startSpawnServer(): Promise<BaselineServer> {
  return startServer('spawn-per-request.ts', [JSON.stringify(CONTAINER_IMAGES), '/usr/bin/node'], 'spawn-per-request server');
}
