// Deploy-time check of a function's code: syntax (with the line) and a handler it can
// export, so that broken code is a 422 at deploy instead of a 500 at the first call. The
// check runs the runtime's own parser (runtimes/<runtime>/check.*) in the same sandbox and
// cgroup an instance gets, never in the daemon's process, and runs none of the function's
// code: Python is compiled, JavaScript parsed.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { FaasError } from '../../../errors.js';
import type { RuntimeName } from '../../driver.js';
import type { CgroupManager, InstanceCgroup } from './cgroups.js';
import { NOBODY, buildLaunchCommand, sandboxPaths, type IsolationLevel } from './launcher.js';

const CHECKER: Record<RuntimeName, { file: string; flags: string[] }> = {
  python: { file: 'check.py', flags: ['-I', '-S', '-B'] },
  node: { file: 'check.js', flags: [] },
};
const LIMITS = { memoryBytes: 256 * 1024 * 1024, cpus: 1, pidsMax: 32 };
const TIMEOUT_MS = 15_000;
const OUTPUT_BYTES = 64 * 1024;

interface CheckResult {
  ok: boolean;
  kind?: string;
  message?: string;
  line?: number | null;
  column?: number | null;
  text?: string;
}

export interface CodeCheckerOptions {
  level: IsolationLevel;
  cgroups: CgroupManager | null;
  interpreters: Record<RuntimeName, string>;
  runtimesDir: string;
  /** Host directory for the check's (empty, read-only) instance directory. */
  runRoot: string;
  logger: Logger;
}

export class CodeChecker {
  constructor(private readonly opts: CodeCheckerOptions) {}

  /** Throws DEPLOY_FAILED naming the file, line and error; a checker that cannot run lets the deploy through (logged). */
  async check(runtime: RuntimeName, codeDir: string, file: string, handler: string | null): Promise<void> {
    const result = await this.run(runtime, codeDir, file, handler);
    if (!result || result.ok) return;
    const where = result.line ? `${file} line ${result.line}` : file;
    const text = result.text?.trim() ? `: ${result.text.trim()}` : '';
    throw new FaasError('DEPLOY_FAILED', `the code does not load: ${where}: ${result.kind ?? 'Error'}: ${result.message ?? 'invalid'}${text}`, {
      details: { field: 'code', file, line: result.line ?? null, ...(result.column ? { column: result.column } : {}), error_type: result.kind ?? 'Error' },
    });
  }

  private async run(runtime: RuntimeName, codeDir: string, file: string, handler: string | null): Promise<CheckResult | null> {
    const { level, cgroups, logger } = this.opts;
    const id = `check-${crypto.randomBytes(4).toString('hex')}`;
    const hostDir = path.join(this.opts.runRoot, id);
    await fs.mkdir(hostDir, { mode: 0o710 });
    let cgroup: InstanceCgroup | null = null;
    try {
      if (level === 'strict') await fs.chown(hostDir, 0, NOBODY);
      if (level !== 'none' && cgroups) cgroup = await cgroups.create(id, LIMITS);
      const shimDir = path.join(this.opts.runtimesDir, runtime);
      const inside = sandboxPaths(level, { shimDir, codeDir, instanceDir: hostDir });
      const checker = CHECKER[runtime];
      const cmd = buildLaunchCommand({
        level,
        interpreter: this.opts.interpreters[runtime],
        args: [...checker.flags, path.join(inside.shimDir, checker.file), inside.codeDir, file, handler ?? ''],
        shimDir,
        codeDir,
        instanceDir: hostDir,
        ...(cgroup ? { cgroup } : {}),
        env: { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: '/tmp', LANG: 'C.UTF-8' },
        uid: NOBODY,
        gid: NOBODY,
        hostname: 'faas-check',
      });
      const out = await runToEnd(cmd.command, cmd.args, cmd.env, cmd.cwd, cgroup);
      const last = out.stdout.trim().split('\n').pop() ?? '';
      try {
        return JSON.parse(last) as CheckResult;
      } catch {
        logger.warn({ runtime, code: out.code, signal: out.signal, stderr: out.stderr.slice(-500) }, 'code check did not run; deploying without it');
        return null;
      }
    } finally {
      await cgroup?.remove().catch(() => undefined);
      await fs.rm(hostDir, { recursive: true, force: true }).catch(() => undefined);
    }
  }
}

function runToEnd(command: string, args: string[], env: Record<string, string>, cwd: string, cgroup: InstanceCgroup | null) {
  return new Promise<{ code: number | null; signal: string | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-OUTPUT_BYTES)));
    child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-OUTPUT_BYTES)));
    const timer = setTimeout(() => {
      void cgroup?.killAll().catch(() => undefined);
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }, TIMEOUT_MS);
    child.once('error', (e) => {
      clearTimeout(timer);
      resolve({ code: null, signal: null, stdout, stderr: `${stderr}\n${e.message}` });
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
