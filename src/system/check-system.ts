// `faasd --check-system`: one line per probe (ok / warn / fail + a hint). Probes really try
// the thing (unshare, cgroup writes, a Docker ping, opening SQLite) rather than guessing.
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { LoadedConfig } from '../config/load.js';
import { CgroupManager } from '../execution/drivers/process/cgroups.js';
import { resolveInterpreter } from '../execution/drivers/process/launcher.js';
import Docker from 'dockerode';
import pino from 'pino';
import type { RuntimeName } from '../execution/driver.js';
import { ContainerImages, type ImageStatus } from '../execution/drivers/container/images.js';
import { probeDocker } from './docker-probe.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  hint?: string;
}

type Probe = () => Promise<CheckResult> | CheckResult;

function capEff(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

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

/** Each configured runtime image's state, or why it cannot be known (no engine, disabled). */
async function containerImageStates(config: LoadedConfig): Promise<ImageStatus[] | string> {
  if (config.system.disable_container) return 'container mode is disabled';
  const docker = new Docker();
  const engine = await probeDocker(docker);
  if (!engine.ok) return 'no Docker engine';
  const images = new ContainerImages({ docker, images: { ...config.system.container_images }, daemonId: 'check-system', logger: pino({ level: 'silent' }) });
  return images.status(AbortSignal.timeout(10_000));
}

async function probeImage(config: LoadedConfig, runtime: RuntimeName, states: () => Promise<ImageStatus[] | string>): Promise<CheckResult> {
  const name = `image ${runtime}`;
  const image = config.system.container_images[runtime];
  const all = await states();
  if (typeof all === 'string') return { name, status: 'warn', detail: `${image}: not checked (${all})` };
  const s = all.find((x) => x.runtime === runtime);
  if (!s) return { name, status: 'warn', detail: 'no image configured' };
  if (s.state === 'present' || s.state === 'pullable') return { name, status: 'ok', detail: `${image} ${s.detail}` };
  return {
    name,
    status: needed(config.system.default_mode === 'container'),
    detail: `${image} ${s.detail}`,
    hint: `docker load or docker pull it, run scripts/build-runtime-images.sh and set system.container_images.${runtime}: faasd-runtime/${runtime === 'python' ? 'python:3.11-local' : 'node:20-local'}`,
  };
}

/** Severity of a failed probe: fail when the configured default mode needs it, else warn. */
function needed(required: boolean): CheckStatus {
  return required ? 'fail' : 'warn';
}

export function systemProbes(config: LoadedConfig): Probe[] {
  const sys = config.system;
  const processMode = sys.default_mode === 'process';
  const level = sys.process_isolation_level;
  const needsRoot = processMode && level !== 'none';
  const needsNamespaces = processMode && level === 'strict';
  let states: Promise<ImageStatus[] | string> | undefined;
  const imageStates = () => (states ??= containerImageStates(config));

  return [
    () =>
      os.platform() === 'linux'
        ? { name: 'kernel', status: 'ok', detail: `Linux ${os.release()} (${os.arch()})` }
        : { name: 'kernel', status: 'fail', detail: `${os.platform()} is not supported`, hint: 'faasd needs Linux namespaces and cgroups' },
    () => {
      const root = process.getuid?.() === 0;
      const sysAdmin = (capEff() & (1n << 21n)) !== 0n;
      if (root || sysAdmin) return { name: 'privileges', status: 'ok', detail: root ? 'running as root' : 'CAP_SYS_ADMIN held' };
      return {
        name: 'privileges',
        status: needed(needsRoot),
        detail: 'not root and no CAP_SYS_ADMIN',
        hint: 'run as root for strict/standard isolation, or set process_isolation_level: none for development',
      };
    },
    () => {
      const r = spawnSync('unshare', ['--pid', '--mount', '--ipc', '--uts', '--net', '--fork', '--mount-proc', 'true'], { encoding: 'utf8', timeout: 5000 });
      if (r.status === 0) return { name: 'namespaces', status: 'ok', detail: 'unshare of pid, mount, ipc, uts and net namespaces works' };
      return {
        name: 'namespaces',
        status: needed(needsNamespaces),
        detail: `unshare failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]}`,
        hint: 'install util-linux and run as root, or use process_isolation_level: standard',
      };
    },
    () => {
      const r = spawnSync('bwrap', ['--version'], { encoding: 'utf8', timeout: 5000 });
      if (r.status === 0) return { name: 'bubblewrap', status: 'ok', detail: r.stdout.trim() };
      return { name: 'bubblewrap', status: needed(needsNamespaces), detail: 'bwrap not found', hint: 'apt-get install bubblewrap (strict isolation builds each sandbox with it)' };
    },
    async () => {
      const d = await CgroupManager.detect();
      if (d.manager) return { name: 'cgroups', status: 'ok', detail: `using cgroup ${d.version}: ${d.detail}` };
      return { name: 'cgroups', status: needed(needsRoot), detail: d.detail, hint: 'mount cgroup2 with memory, cpu and pids controllers (or v1 controllers) and run as root' };
    },
    async () => {
      if (sys.disable_container) {
        return { name: 'docker', status: needed(!processMode), detail: 'container mode disabled by configuration (FAAS_DISABLE_CONTAINER / system.disable_container)' };
      }
      const d = await probeDocker();
      if (d.ok) return { name: 'docker', status: 'ok', detail: d.detail };
      return { name: 'docker', status: needed(!processMode), detail: d.detail, hint: 'install docker.io and start dockerd, or set DOCKER_HOST; process mode works without it' };
    },
    ...(['python', 'node'] as const).map(
      (runtime): Probe =>
        () =>
          probeImage(config, runtime, imageStates),
    ),
    ...(['python', 'node'] as const).map(
      (runtime): Probe =>
        () => {
          try {
            const r = resolveInterpreter(runtime, sys.interpreters[runtime] || undefined);
            return { name: `runtime ${runtime}`, status: 'ok', detail: `${r.path} (${r.version})` };
          } catch (e) {
            return {
              name: `runtime ${runtime}`,
              status: needed(processMode && runtime === 'python'),
              detail: (e as Error).message,
              hint: `install ${runtime === 'python' ? 'python3' : 'nodejs'} or set system.interpreters.${runtime}`,
            };
          }
        },
    ),
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
