// What the numbers were measured on. Git is only read: no command here changes the
// repository (GIT_OPTIONAL_LOCKS=0 keeps `git status` from refreshing the index).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { REPO_DIR } from './options.js';

export interface MachineInfo {
  host: string;
  cpu_model: string;
  cores: number;
  memory_bytes: number;
  kernel: string;
  os: string;
  node: string;
  docker: string | null;
  python: string | null;
}

export interface CommitInfo {
  hash: string;
  /** Files in src/ and runtimes/ that differ from the commit (others edit the tree concurrently). */
  uncommitted_files: number;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): string | null {
  try {
    return execFileSync(cmd, args, { cwd: REPO_DIR, encoding: 'utf8', timeout: 10_000, env, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

function osName(): string {
  try {
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(fs.readFileSync('/etc/os-release', 'utf8'));
    return m?.[1] ?? os.type();
  } catch {
    return os.type();
  }
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  return {
    host: os.hostname(),
    cpu_model: cpus[0]?.model.trim() ?? 'unknown',
    cores: os.availableParallelism?.() ?? cpus.length,
    memory_bytes: os.totalmem(),
    kernel: os.release(),
    os: osName(),
    node: process.version,
    docker: run('docker', ['version', '--format', '{{.Server.Version}}']),
    python: run('/usr/bin/python3', ['--version'])?.replace(/^Python /, '') ?? null,
  };
}

export function commitInfo(): CommitInfo {
  const hash = run('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown';
  const status = run('git', ['status', '--porcelain', '--', 'src', 'runtimes'], { ...process.env, GIT_OPTIONAL_LOCKS: '0' });
  return { hash, uncommitted_files: status ? status.split('\n').filter(Boolean).length : 0 };
}

export function loadAverage(): [number, number, number] {
  const [a = 0, b = 0, c = 0] = os.loadavg();
  return [a, b, c];
}
