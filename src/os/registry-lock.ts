// One daemon per registry: an exclusive flock(2) on `<registry>.lock`, taken before the
// daemon touches anything (registry, run directory, cgroups, containers) and held for its
// life. The kernel drops it when the daemon's process ends, however it ends (kill -9
// included), so a stale lock cannot outlive its holder.
//
// Node has no flock(): util-linux `flock` locks an fd it inherits from us. flock locks
// belong to the open file description, which the child shares with our fd, so the lock
// stays ours after the child exits, until we close the fd. libuv opens files O_CLOEXEC, so
// no instance the daemon spawns later inherits (and could keep holding) the lock.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { FaasError } from '../errors.js';

const FLOCK = 'flock';
/** flock's exit status when the lock is held elsewhere (--conflict-exit-code). */
const CONFLICT = 75;

export function lockFileOf(registryPath: string): string {
  return `${registryPath}.lock`;
}

export class RegistryLock {
  private fd: number | null;

  private constructor(
    readonly file: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Takes the lock or throws REGISTRY_LOCKED naming the registry and the holder's PID. Creates
   * the registry's directory (and the lock file) if needed, nothing else.
   */
  static acquire(registryPath: string): RegistryLock {
    const file = lockFileOf(registryPath);
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    // Not O_TRUNC: the file holds the current holder's PID until we own the lock.
    const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
    const r = spawnSync(FLOCK, ['--exclusive', '--nonblock', '--conflict-exit-code', String(CONFLICT), '3'], {
      stdio: ['ignore', 'ignore', 'pipe', fd],
      env: {},
      timeout: 10_000,
    });
    if (r.status !== 0) {
      fs.closeSync(fd);
      if (r.status === CONFLICT) {
        const pid = readPid(file);
        throw new FaasError(
          'REGISTRY_LOCKED',
          `another faasd${pid ? ` (PID ${pid})` : ''} is already running on the registry ${registryPath} (lock ${file}); stop it first, or give this daemon its own system.registry_path`,
          { details: { registry: registryPath, pid } },
        );
      }
      const why = r.error ? r.error.message : `${FLOCK} exited with ${r.status ?? r.signal}: ${r.stderr?.toString().trim()}`;
      throw new FaasError('CONFIG_INVALID', `cannot lock the registry ${registryPath} (${file}): ${why} (util-linux flock is required)`);
    }
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, `${process.pid}\n`, 0);
    return new RegistryLock(file, fd);
  }

  /** Releases the lock. The file stays: unlinking a lock file races with the next opener. */
  release(): void {
    if (this.fd === null) return;
    try {
      fs.ftruncateSync(this.fd, 0);
    } catch {
      /* best effort: the PID is only informative */
    }
    fs.closeSync(this.fd);
    this.fd = null;
  }
}

function readPid(file: string): number | null {
  try {
    const n = Number(fs.readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

/**
 * Is some process holding a flock on `file`? Read from /proc/locks (by device and inode), so
 * asking takes no lock and cannot make a daemon that is starting this moment fail.
 */
export function isLockHeld(file: string): boolean {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return false; // no lock file: its daemon never ran (or its directory is gone)
  }
  let locks: string;
  try {
    locks = fs.readFileSync('/proc/locks', 'utf8');
  } catch {
    return true; // cannot tell: assume running, never remove what might be in use
  }
  // Linux's new_encode_dev(): minor bits 0-7 and 20-31, major bits 8-19.
  const dev = st.dev;
  const major = Math.floor(dev / 256) % 4096;
  const minor = (dev % 256) + Math.floor(dev / 1048576) * 256;
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  // "1: FLOCK  ADVISORY  WRITE 1234 fd:01:5678 0 EOF" (blocked waiters are "1: -> FLOCK ...").
  for (const line of locks.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f[1] === 'FLOCK' && f[5] === id) return true;
  }
  return false;
}
