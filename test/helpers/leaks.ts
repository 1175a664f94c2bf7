// What a test file leaves behind, checked by test/setup.ts after every file: faasd daemons
// still running in this worker, processes descended from the worker, and the cgroups and
// containers of the daemons this file configured. A leak fails the file, and is cleaned up
// here so that it does not make the next file fail too.
//
// Other workers of this run, and other people's runs on the same machine, make cgroups and
// containers at the same time, so a before/after difference alone would blame this file for
// theirs. Only what carries a name this worker made counts: cgroups faasd-<daemon id> and
// containers labelled faasd.daemon=<daemon id>, for the registries of the configs the helpers
// wrote and the daemons they started (the daemon id is a hash of the registry path), and the
// cgroups under testCgroupPrefix().
import fs from 'node:fs';
import path from 'node:path';
import type Docker from 'dockerode';
import { expect, vi } from 'vitest';
import type { Daemon } from '../../src/daemon.js';

interface TrackedDaemon {
  registry: string;
  close: () => Promise<void>;
  closing: Promise<void> | null;
}

const daemons = new Set<TrackedDaemon>();
const registries = new Set<string>();

/** Registers a daemon; the leak check fails the file if it was never closed. */
export function trackDaemon(d: Daemon): Daemon {
  const t: TrackedDaemon = { registry: d.config.system.registry_path, close: () => d.close(), closing: null };
  daemons.add(t);
  registries.add(t.registry);
  return { ...d, close: () => (t.closing ??= d.close()) };
}

/** A registry some daemon of this file may use (a config file written for a CLI daemon, say). */
export function noteRegistry(registryPath: string): void {
  registries.add(registryPath);
}

/** The cgroup prefix for tests that make cgroups themselves: unique to this worker. */
export function testCgroupPrefix(): string {
  return `faasd-test-${process.pid}`;
}

const CGROUP_ROOT = '/sys/fs/cgroup';
/** The v1 hierarchies faasd uses (cgroups.ts), the v2 root, and a hybrid host's v2 mount. */
const HIERARCHIES = ['', 'unified', 'memory', 'cpu', 'pids', 'cpuacct'].map((h) => path.join(CGROUP_ROOT, h));
/** Each mounted hierarchy once: "cpu" and "cpuacct" are often links to one "cpu,cpuacct" mount. */
function hierarchies(): string[] {
  const seen = new Map<string, string>();
  for (const h of HIERARCHIES) {
    try {
      const real = fs.realpathSync(h);
      if (!seen.has(real)) seen.set(real, h);
    } catch {
      // not mounted here
    }
  }
  return [...seen.values()];
}
const MANAGED = 'faasd.managed';
const DAEMON_LABEL = 'faasd.daemon';

export interface Snapshot {
  cgroups: Set<string>;
  /** The faasd.managed containers there were, or why containers are not checked. */
  engine: { docker: Docker; containers: Set<string> } | { skipped: string };
}

export async function snapshot(): Promise<Snapshot> {
  const cgroups = new Set(faasdCgroups());
  const { default: Dockerode } = await import('dockerode');
  const docker = new Dockerode();
  try {
    // dockerode honours abortSignal; the typings do not declare the options argument.
    await (docker.ping as (opts: { abortSignal: AbortSignal }) => Promise<unknown>).call(docker, { abortSignal: AbortSignal.timeout(2000) });
  } catch (e) {
    return { cgroups, engine: { skipped: `no Docker engine (${(e as Error).message || String(e)})` } };
  }
  return { cgroups, engine: { docker, containers: new Set((await managedContainers(docker)).map((c) => c.Id)) } };
}

/**
 * Everything the file leaked, one line each; cleans each up. Run once, after the file's own
 * afterAll hooks.
 */
export async function checkLeaks(before: Snapshot): Promise<string[]> {
  const leaks: string[] = [];
  const ids = new Set<string>();

  // 1. Daemons: tracked ones never closed (close them: that stops their instances), then any
  // registry lock this worker still holds, which only a running daemon (or a test's own
  // RegistryLock) does.
  for (const t of daemons) {
    if (t.closing === null) leaks.push(`a daemon on the registry ${t.registry} was never closed`);
    const closed = await within(t.closing ?? t.close(), 15_000);
    if (!closed && t.closing !== null) leaks.push(`a daemon on the registry ${t.registry} did not finish closing within 15 s`);
  }
  daemons.clear();
  for (const registry of heldRegistryLocks()) {
    leaks.push(`a daemon (or a RegistryLock) on the registry ${registry} is still running in this worker (its lock is held)`);
    registries.add(registry);
  }
  const registryOf = new Map<string, string>();
  if (registries.size > 0) {
    const { daemonId } = await import('../../src/execution/setup.js');
    // daemonId() reads only system.registry_path; a path is all a written config leaves here.
    for (const r of registries) {
      const id = daemonId({ system: { registry_path: r } } as Parameters<typeof daemonId>[0]);
      ids.add(id);
      registryOf.set(`faasd-${id}`, r);
    }
  }
  registries.clear();

  // 2. Processes: give children killed at the end of a test a moment to be reaped.
  const gone = await vi
    .waitFor(() => expect(descendants(process.pid)).toEqual([]), { timeout: 3000 })
    .then(
      () => true,
      () => false,
    );
  const alive = gone ? [] : descendants(process.pid);
  for (const p of alive) leaks.push(`child process ${p.pid} (${p.cmdline}) is still running`);
  await killAll(alive.map((p) => p.pid));

  // 3. cgroups named after this file's daemons, or the test prefix, that were not there before.
  const prefixes = new Set([...[...ids].map((id) => `faasd-${id}`), testCgroupPrefix()]);
  const leftCgroups = faasdCgroups().filter((dir) => !before.cgroups.has(dir) && prefixes.has(prefixOf(dir)));
  // One line per cgroup, naming the hierarchies it is left in.
  const byName = new Map<string, string[]>();
  for (const dir of leftCgroups) {
    const rel = path.relative(CGROUP_ROOT, dir).split(path.sep);
    const at = rel.findIndex((part) => part.startsWith('faasd'));
    const name = rel.slice(at).join('/');
    byName.set(name, [...(byName.get(name) ?? []), rel.slice(0, at).join('/') || 'v2 root']);
  }
  for (const [name, where] of byName) {
    const registry = registryOf.get(name.split('/')[0]!);
    leaks.push(`cgroup ${name} is still there (${where.join(', ')})${registry ? `: the daemon of the registry ${registry}` : ''}`);
  }
  const leakedPrefixes = new Set(leftCgroups.map(prefixOf));
  if (leakedPrefixes.size > 0) {
    const { CgroupManager } = await import('../../src/execution/drivers/process/cgroups.js');
    // close() kills what runs in the prefix's cgroups and removes them and the prefix.
    for (const prefix of leakedPrefixes) await (await CgroupManager.detect({ prefix })).manager?.close().catch(() => undefined);
  }

  // 4. Containers of this file's daemons created during the file.
  if ('skipped' in before.engine) {
    console.warn(`leak check: containers not checked: ${before.engine.skipped}`);
  } else {
    const { docker, containers: seen } = before.engine;
    const left = (await managedContainers(docker)).filter((c) => !seen.has(c.Id) && ids.has(c.Labels[DAEMON_LABEL] ?? ''));
    for (const c of left) {
      leaks.push(`container ${c.Id.slice(0, 12)} ${c.Names[0] ?? ''} (${c.State}, ${DAEMON_LABEL}=${c.Labels[DAEMON_LABEL]}) is still there`);
      await docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined);
    }
  }
  return leaks;
}

async function within(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    // A close that fails has still ended; the daemon logs why.
    const ended = p.then(
      () => true,
      () => true,
    );
    return await Promise.race([ended, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Registries whose lock (registry-lock.ts: an open `<registry>.lock`) this process holds. */
function heldRegistryLocks(): string[] {
  const out: string[] = [];
  for (const fd of safeReaddir('/proc/self/fd')) {
    let target: string;
    try {
      target = fs.readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    const m = /^(\/.*)\.lock( \(deleted\))?$/.exec(target);
    if (m) out.push(m[1]!);
  }
  return out;
}

interface Proc {
  pid: number;
  cmdline: string;
}

/** Live (not zombie) processes descended from `root`, from /proc/<pid>/stat. */
function descendants(root: number): Proc[] {
  const children = new Map<number, number[]>();
  for (const name of safeReaddir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses; the last ")" ends it.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (state === 'Z') continue;
    const list = children.get(Number(ppid)) ?? [];
    list.push(Number(name));
    children.set(Number(ppid), list);
  }
  const out: Proc[] = [];
  const queue = [...(children.get(root) ?? [])];
  while (queue.length > 0) {
    const pid = queue.shift()!;
    let cmdline = '?';
    try {
      cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim().slice(0, 200);
    } catch {
      // exited meanwhile
    }
    out.push({ pid, cmdline });
    queue.push(...(children.get(pid) ?? []));
  }
  return out;
}

async function killAll(pids: number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // ESRCH: already gone
    }
  }
  if (pids.length === 0) return;
  const alive = () => descendants(process.pid).filter((p) => pids.includes(p.pid));
  await vi.waitFor(() => expect(alive()).toEqual([]), { timeout: 5000 }).catch(() => undefined);
}

/** <hierarchy>/faasd* and <hierarchy>/faasd*\/<instance>, in every hierarchy mounted. */
function faasdCgroups(): string[] {
  const out: string[] = [];
  for (const h of hierarchies()) {
    for (const prefix of subdirs(h).filter((n) => n.startsWith('faasd'))) {
      const parent = path.join(h, prefix);
      out.push(parent, ...subdirs(parent).map((n) => path.join(parent, n)));
    }
  }
  return out;
}

/** The faasd* component of a cgroup path found by faasdCgroups(). */
function prefixOf(dir: string): string {
  const rel = path.relative(CGROUP_ROOT, dir).split(path.sep);
  return rel.find((part) => part.startsWith('faasd')) ?? '';
}

function subdirs(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

function managedContainers(docker: Docker): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${MANAGED}=true`] } });
}
