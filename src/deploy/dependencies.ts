// Installs a function's `dependencies` into its version directory at deploy time:
// pip --target <dir>/.deps for Python, npm into <dir>/node_modules for JavaScript.
// Security: the installers run as the daemon, so nothing may execute package code here:
// npm gets --ignore-scripts, pip gets --only-binary=:all: (wheels only; an sdist would run
// its setup.py as the daemon's user). --install-links copies local directory packages instead
// of symlinking them: a link to a host path would dangle inside the sandbox.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { FaasError } from '../errors.js';
import type { RuntimeName } from '../model/runtime.js';

export interface DependencyInstaller {
  install(runtime: RuntimeName, deps: readonly string[], dir: string): Promise<void>;
}

export interface InstallerOptions {
  pythonPath: string;
  npmPath?: string;
  timeoutMs?: number;
}

function tail(text: string, lines = 15): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

function run(cmd: string, args: string[], cwd: string, timeoutMs: number): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      cwd,
      env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1', npm_config_update_notifier: 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
      killSignal: 'SIGKILL',
    });
    let output = '';
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-64 * 1024);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: signal ? null : code, output: signal ? `${output}\n(killed after ${timeoutMs / 1000}s)` : output }));
  });
}

export class LocalDependencyInstaller implements DependencyInstaller {
  constructor(private readonly opts: InstallerOptions) {}

  async install(runtime: RuntimeName, deps: readonly string[], dir: string): Promise<void> {
    if (deps.length === 0) return;
    const timeout = this.opts.timeoutMs ?? 300_000;
    const [cmd, args, tool] =
      runtime === 'python'
        ? [this.opts.pythonPath, ['-m', 'pip', 'install', '--target', path.join(dir, '.deps'), '--no-input', '--no-cache-dir', '--only-binary=:all:', '--', ...deps], 'pip']
        : [this.opts.npmPath ?? 'npm', ['install', '--omit=dev', '--ignore-scripts', '--install-links', '--no-audit', '--no-fund', '--no-package-lock', '--', ...deps], 'npm'];
    let r: Awaited<ReturnType<typeof run>>;
    try {
      r = await run(cmd, args, dir, timeout);
    } catch (e) {
      throw new FaasError('DEPLOY_FAILED', `dependency install failed: cannot run ${tool}: ${(e as Error).message}`, { details: { field: 'config.dependencies' } });
    }
    if (r.code !== 0) {
      throw new FaasError('DEPLOY_FAILED', `dependency install failed: ${tool} exited with ${r.code ?? 'a timeout'}:\n${tail(r.output)}`, {
        details: { field: 'config.dependencies', installer: tool, output: tail(r.output) },
      });
    }
  }
}
