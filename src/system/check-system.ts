// `faasd --check-system`: one line per probe (ok / warn / fail + a hint). Probes really try
// the thing (unshare, cgroup writes, a Docker ping, opening SQLite) rather than guessing.
// What a mode needs of the host is its driver's to say (DriverFactory.hostChecks); this file
// adds what every mode needs.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { LoadedConfig } from '../config/load.js';
import type { DriverFactory, HostCheck, HostCheckResult, HostCheckStatus } from '../execution/driver.js';
import { BUILTIN_DRIVERS } from '../execution/drivers/index.js';
import { resolveInterpreter } from '../execution/drivers/process/launcher.js';

export type CheckStatus = HostCheckStatus;
export type CheckResult = HostCheckResult;

function writableDir(dir: string): string | null {
  try {
    fs.mkdirSync(dir, { recursive: true });
    const probe = path.join(dir, `.faasd-probe-${crypto.randomBytes(4).toString('hex')}`);
    fs.writeFileSync(probe, 'x');
    fs.rmSync(probe);
    return null;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? (e as Error).message;
  }
}

/**
 * pip, run the way the deploy-time installer runs it: the resolved Python interpreter (what
 * setup.ts hands LocalDependencyInstaller) with `-m pip`, pip's version check and prompts off.
 * Only functions with Python `dependencies` need it, so a missing pip is a warning.
 */
export function probePip(configuredPython: string | undefined): CheckResult {
  let python: string;
  try {
    python = resolveInterpreter('python', configuredPython).path;
  } catch (e) {
    return { name: 'pip', status: 'warn', detail: `not checked: ${(e as Error).message}`, hint: 'fix the Python interpreter first (see runtime python)' };
  }
  const r = spawnSync(python, ['-m', 'pip', '--version'], {
    encoding: 'utf8',
    timeout: 15_000,
    env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1', PIP_NO_INPUT: '1' },
  });
  const version = r.status === 0 ? /^pip (\S+)/.exec(r.stdout.trim()) : null;
  if (version) return { name: 'pip', status: 'ok', detail: `pip ${version[1]} (${python} -m pip)` };
  const why = (r.error?.message || r.stderr || r.stdout || `exit ${r.status}`).trim().split('\n').pop();
  return {
    name: 'pip',
    status: 'warn',
    detail: `${python} -m pip does not work (${why}): Python functions with dependencies cannot be deployed`,
    hint: python.startsWith('/usr/bin/') ? 'apt-get install python3-pip' : `install pip for ${python}, or use Debian's /usr/bin/python3 with apt-get install python3-pip`,
  };
}

export function systemProbes(config: LoadedConfig, drivers: readonly DriverFactory[] = BUILTIN_DRIVERS): HostCheck[] {
  const sys = config.system;
  return [
    () =>
      os.platform() === 'linux'
        ? { name: 'kernel', status: 'ok', detail: `Linux ${os.release()} (${os.arch()})` }
        : { name: 'kernel', status: 'fail', detail: `${os.platform()} is not supported`, hint: 'faasd needs Linux namespaces and cgroups' },
    ...drivers.flatMap((d) => d.hostChecks?.(config, sys.default_mode === d.mode) ?? []),
    () => probePip(sys.interpreters.python || undefined),
    () => {
      const err = writableDir(sys.function_storage_path);
      return err
        ? { name: 'function storage', status: 'fail', detail: `${sys.function_storage_path} not writable (${err})`, hint: 'set system.function_storage_path' }
        : { name: 'function storage', status: 'ok', detail: `${sys.function_storage_path} writable` };
    },
    () => {
      const dir = path.dirname(sys.registry_path);
      const err = writableDir(dir);
      return err
        ? { name: 'registry path', status: 'fail', detail: `${dir} not writable (${err})`, hint: 'set system.registry_path' }
        : { name: 'registry path', status: 'ok', detail: `${dir} writable` };
    },
    () => {
      try {
        const db = new Database(sys.registry_path);
        const v = db.prepare('select sqlite_version() as v').get() as { v: string };
        db.close();
        return { name: 'sqlite', status: 'ok', detail: `SQLite ${v.v} opens ${sys.registry_path}` };
      } catch (e) {
        return { name: 'sqlite', status: 'fail', detail: `cannot open ${sys.registry_path}: ${(e as Error).message}` };
      }
    },
  ];
}

export async function runChecks(config: LoadedConfig): Promise<CheckResult[]> {
  const out: CheckResult[] = [];
  for (const probe of systemProbes(config)) {
    try {
      out.push(await probe());
    } catch (e) {
      out.push({ name: 'probe', status: 'fail', detail: `probe crashed: ${(e as Error).message}` });
    }
  }
  return out;
}

/** Prints the report; returns the process exit code (1 when a needed check failed). */
export async function runSystemChecks(config: LoadedConfig, print: (line: string) => void): Promise<number> {
  const results = await runChecks(config);
  print(`faasd system check (default mode: ${config.system.default_mode}, isolation: ${config.system.process_isolation_level})`);
  for (const r of results) {
    print(`[${r.status.padEnd(4)}] ${r.name.padEnd(17)} ${r.detail}${r.status !== 'ok' && r.hint ? `  -> ${r.hint}` : ''}`);
  }
  const failed = results.filter((r) => r.status === 'fail').length;
  print(failed ? `${failed} check(s) failed: faasd cannot run in the configured mode here.` : 'ready.');
  return failed ? 1 : 0;
}
