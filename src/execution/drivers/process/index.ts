// Process mode as a registered driver: sandboxed child processes (bubblewrap + setpriv at
// `strict`), each in its own cgroup. It cannot run without cgroups at `strict`/`standard`,
// nor without bubblewrap at `strict`.
import type { DriverFactory } from '../../driver.js';
import { CgroupManager } from './cgroups.js';
import { processHostChecks } from './checks.js';
import { CodeChecker } from './code-check.js';
import { checkSandboxTools } from './launcher.js';
import { ProcessDriver } from './process-driver.js';

export const processDriver: DriverFactory = {
  mode: 'process',
  hostChecks: processHostChecks,
  async create({ config, logger, daemonId, runRoot, runtimesDir, interpreters }) {
    const sys = config.system;
    const level = sys.process_isolation_level;
    let cgroups: CgroupManager | null = null;
    if (level !== 'none') {
      const d = await CgroupManager.detect({ prefix: `faasd-${daemonId}` });
      if (!d.manager) return { unavailable: `isolation level ${level} needs cgroups: ${d.detail} (run as root, or set process_isolation_level: none)` };
      cgroups = d.manager;
      const stale = await cgroups.removeStale();
      if (stale > 0) logger.info({ count: stale }, 'removed cgroups left by a previous run');
    }
    if (level === 'strict') {
      const tools = checkSandboxTools();
      if (!tools.ok) return { unavailable: `strict isolation needs bubblewrap: ${tools.detail}` };
    }
    const paths = { python: interpreters.python?.path ?? '/usr/bin/python3', node: interpreters.node?.path ?? '/usr/bin/node' };
    const checker = new CodeChecker({ level, cgroups, interpreters: paths, runtimesDir, runRoot, logger });
    const driver = new ProcessDriver({
      level,
      runRoot,
      cgroups,
      interpreters: paths,
      runtimesDir,
      startTimeoutMs: sys.cold_start_timeout * 1000,
      logger,
      prewarm: config.prewarm.process,
      checker,
    });
    logger.info({ isolation: level, cgroup: cgroups?.version ?? 'none', run_dir: runRoot }, 'process mode ready');
    return { driver };
  },
};
