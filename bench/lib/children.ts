// Child processes the bench starts (faasd, the baseline servers). Each is tracked so that
// the bench never leaves one behind: stop() is graceful and bounded, and an exit or signal
// of the bench kills whatever is left.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const live = new Set<ChildProcess>();

process.once('exit', () => {
  for (const c of live) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** Only what the children need: the bench's own environment (NODE_EXTRA_CA_CERTS, NODE_OPTIONS) stays out. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin', HOME: process.env.HOME ?? '/root', LANG: 'C.UTF-8' };
  if (process.env.DOCKER_HOST) env.DOCKER_HOST = process.env.DOCKER_HOST;
  return { ...env, ...extra };
}

export interface Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(timeoutMs?: number): Promise<void>;
}

export function startChild(command: string, args: string[], opts: SpawnOptions): Child {
  const proc = spawn(command, args, opts);
  if (proc.pid === undefined) throw new Error(`cannot start ${command}`);
  live.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  let stopping: Promise<void> | null = null;
  return {
    proc,
    pid: proc.pid,
    exited,
    stop(timeoutMs = 30_000) {
      stopping ??= (async () => {
        if (proc.exitCode !== null || proc.signalCode !== null) return;
        proc.kill('SIGTERM');
        const done = await Promise.race([exited.then(() => true), sleep(timeoutMs).then(() => false)]);
        if (!done) {
          proc.kill('SIGKILL');
          await exited;
        }
      })();
      return stopping;
    },
  };
}

/** Polls `file` until `match` finds something in it, the child exits, or the time is up. */
export async function waitForFile<T>(file: string, match: (text: string) => T | null, child: Child, timeoutMs: number, what: string): Promise<T> {
  let gone = false;
  void child.exited.then(() => (gone = true));
  const end = Date.now() + timeoutMs;
  let text = '';
  while (Date.now() < end) {
    text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
    const m = match(text);
    if (m !== null) return m;
    if (gone) break;
    await sleep(50);
  }
  const tail = text.trim().split('\n').slice(-8).join('\n');
  throw new Error(`${what} ${gone ? 'exited before it was ready' : `was not ready within ${timeoutMs / 1000}s`}${tail ? `:\n${tail}` : ''}`);
}

/** Reads the child's stdout until a line matches (baseline servers print their port). */
export function waitForLine(child: Child, re: RegExp, timeoutMs: number, what: string): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => finish(new Error(`${what} did not start within ${timeoutMs / 1000}s: ${buf.slice(-500)}`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const m = re.exec(buf);
      if (m) finish(null, m);
    };
    const onExit = () => finish(new Error(`${what} exited at start: ${buf.slice(-500)}`));
    function finish(err: Error | null, m?: RegExpExecArray) {
      clearTimeout(timer);
      child.proc.stdout?.off('data', onData);
      child.proc.off('exit', onExit);
      // Keep draining so a chatty child never blocks on a full pipe.
      child.proc.stdout?.resume();
      if (err) reject(err);
      else resolve(m!);
    }
    child.proc.stdout?.on('data', onData);
    child.proc.once('exit', onExit);
  });
}
