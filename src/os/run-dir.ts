// The daemon's run directory, /run/faasd/<daemon id> (sockets, code slots, the compiled
// Python shim). Made fresh at boot, removed at stop; at boot the directories of daemons that
// are no longer running are removed too. Whether one runs is its registry lock
// (registry-lock.ts), named by the `registry` file each run directory holds.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { isLockHeld, lockFileOf } from './registry-lock.js';

const MARKER = 'registry';
/** A directory without a marker younger than this may belong to a daemon that is starting. */
const FRESH_MS = 60_000;

export function runBase(): string {
  return process.getuid?.() === 0 ? '/run/faasd' : path.join(os.tmpdir(), `faasd-run-${process.getuid?.() ?? 'u'}`);
}

/**
 * Our run directory, empty. The caller holds the registry lock, so what a previous run of
 * this daemon left there is nobody's.
 */
export function prepareRunDir(base: string, daemonId: string, registryPath: string, logger: Logger): string {
  const own = path.join(base, daemonId);
  fs.rmSync(own, { recursive: true, force: true });
  fs.mkdirSync(own, { recursive: true, mode: 0o711 });
  fs.writeFileSync(path.join(own, MARKER), `${registryPath}\n`, { mode: 0o600 });
  const removed = removeDeadRunDirs(base, daemonId);
  if (removed > 0) logger.info({ count: removed, base }, 'removed run directories of daemons that are not running');
  return own;
}

/** Removes sibling run directories whose daemon is not running; returns how many. */
export function removeDeadRunDirs(base: string, ownId: string): number {
  let removed = 0;
  for (const entry of fs.readdirSync(base, { withFileTypes: true })) {
    if (!entry.isDirectory() || entry.name === ownId) continue;
    const dir = path.join(base, entry.name);
    let registry: string | null = null;
    try {
      registry = fs.readFileSync(path.join(dir, MARKER), 'utf8').trim();
    } catch {
      // No marker: left by a faasd older than the lock, or being made this moment by one that
      // is starting (it writes the marker right after mkdir): only the former is removed.
    }
    // Another daemon starting at the same moment may be removing the same directory.
    const mtime = registry ? 0 : (fs.statSync(dir, { throwIfNoEntry: false })?.mtimeMs ?? 0);
    if (registry ? isLockHeld(lockFileOf(registry)) : Date.now() - mtime < FRESH_MS) continue;
    fs.rmSync(dir, { recursive: true, force: true });
    removed += 1;
  }
  return removed;
}

export function removeRunDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}
