// The `faasd` command as a user runs it: a real child process (bin/faasd.js -> dist/, built by
// `npm test`) with a clean environment.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect, onTestFinished } from 'vitest';
import type { Daemon } from '../../src/daemon.js';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'faasd.js');

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `faasd ...args` (async: the daemon answering it lives in this process). The environment
 * is clean: no FAASD_* but what the test gives, HOME a temp dir (no login file).
 */
export function faasd(args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}): Promise<Run> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: opts.cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: opts.env?.HOME ?? '/nonexistent', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(opts.input ?? '');
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

/** The CLI pointed at daemon `d` (FAASD_URL), with the quick-start key by default. */
export const cli = (d: Daemon, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {}) => faasd(args, { ...opts, env: { FAASD_URL: d.url, ...opts.env } });

export async function ok(r: Promise<Run>): Promise<Run> {
  const res = await r;
  expect(res.status, `stdout: ${res.stdout}\nstderr: ${res.stderr}`).toBe(0);
  return res;
}
