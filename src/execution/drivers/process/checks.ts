// What process mode needs of the host, for `faasd --check-system`: privileges, namespaces,
// bubblewrap, cgroups and the interpreters. Each really tries the thing. A failure is `fail`
// when process mode is the default mode (and the isolation level needs it), else `warn`.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import type { LoadedConfig } from '../../../config/load.js';
import type { HostCheck, HostCheckStatus } from '../../driver.js';
import { CgroupManager } from './cgroups.js';
import { resolveInterpreter } from './launcher.js';

function capEff(): bigint {
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return m ? BigInt(`0x${m[1]}`) : 0n;
}

export function processHostChecks(config: LoadedConfig, required: boolean): HostCheck[] {
  const sys = config.system;
  const level = sys.process_isolation_level;
  const severity = (needed: boolean): HostCheckStatus => (required && needed ? 'fail' : 'warn');
  return [
    () => {
      const root = process.getuid?.() === 0;
      const sysAdmin = (capEff() & (1n << 21n)) !== 0n;
      if (root || sysAdmin) return { name: 'privileges', status: 'ok', detail: root ? 'running as root' : 'CAP_SYS_ADMIN held' };
      return {
        name: 'privileges',
        status: severity(level !== 'none'),
        detail: 'not root and no CAP_SYS_ADMIN',
        hint: 'run as root for strict/standard isolation, or set process_isolation_level: none for development',
      };
    },
    () => {
      const r = spawnSync('unshare', ['--pid', '--mount', '--ipc', '--uts', '--net', '--fork', '--mount-proc', 'true'], { encoding: 'utf8', timeout: 5000 });
      if (r.status === 0) return { name: 'namespaces', status: 'ok', detail: 'unshare of pid, mount, ipc, uts and net namespaces works' };
      return {
        name: 'namespaces',
        status: severity(level === 'strict'),
        detail: `unshare failed: ${(r.stderr || r.error?.message || `exit ${r.status}`).trim().split('\n')[0]}`,
        hint: 'install util-linux and run as root, or use process_isolation_level: standard',
      };
    },
    () => {
      const r = spawnSync('bwrap', ['--version'], { encoding: 'utf8', timeout: 5000 });
      if (r.status === 0) return { name: 'bubblewrap', status: 'ok', detail: r.stdout.trim() };
      return { name: 'bubblewrap', status: severity(level === 'strict'), detail: 'bwrap not found', hint: 'apt-get install bubblewrap (strict isolation builds each sandbox with it)' };
    },
    async () => {
      const d = await CgroupManager.detect();
      if (d.manager) return { name: 'cgroups', status: 'ok', detail: `using cgroup ${d.version}: ${d.detail}` };
      return { name: 'cgroups', status: severity(level !== 'none'), detail: d.detail, hint: 'mount cgroup2 with memory, cpu and pids controllers (or v1 controllers) and run as root' };
    },
    ...(['python', 'node'] as const).map(
      (runtime): HostCheck =>
        () => {
          try {
            const r = resolveInterpreter(runtime, sys.interpreters[runtime] || undefined);
            return { name: `runtime ${runtime}`, status: 'ok', detail: `${r.path} (${r.version})` };
          } catch (e) {
            return {
              name: `runtime ${runtime}`,
              status: severity(runtime === 'python'),
              detail: (e as Error).message,
              hint: `install ${runtime === 'python' ? 'python3' : 'nodejs'} or set system.interpreters.${runtime}`,
            };
          }
        },
    ),
  ];
}
