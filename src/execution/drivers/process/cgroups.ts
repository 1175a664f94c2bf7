// Per-instance cgroups: memory, CPU and pids limits, OOM detection, usage, and a reliable
// "kill everything in this instance". cgroup v2 when its memory, cpu and pids controllers are
// usable; otherwise cgroup v1 (hybrid hosts mount v1 controllers at /sys/fs/cgroup/<ctrl> and
// a v2 hierarchy at /sys/fs/cgroup/unified with no controllers: a controller can be bound to
// one hierarchy only, so there the v2 tree can group processes but not limit them).
//
// Layout: <hierarchy>/<prefix>/<instance>. The <prefix> cgroup is a pure parent: it never
// holds a process (the daemon must not run in it), which cgroup v2 requires before it lets a
// parent hand controllers to its children ("no internal processes" rule).
import { writeFileSync } from 'node:fs';
import { access, mkdir, readFile, readdir, realpath, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FaasError } from '../../../errors.js';

export type CgroupVersion = 'v2' | 'v1';

export interface CgroupLimits {
  /** 0 = unlimited. */
  memoryBytes: number;
  /** Cores, e.g. 0.5; 0 = unlimited. */
  cpus: number;
  /** 0 = unlimited. */
  pidsMax: number;
}

export interface CgroupUsage {
  memoryBytes: number;
  cpuSeconds: number;
}

export interface InstanceCgroup {
  readonly name: string;
  /** cgroup.procs files a process writes its own pid into to join (1 for v2, one per v1 hierarchy). */
  readonly procsFiles: string[];
  oomKilled(): Promise<boolean>;
  /**
   * Change the limits of a live cgroup (a pre-warmed instance being given its function).
   * Writes only the values that differ from those it was created with.
   */
  setLimits(limits: CgroupLimits): void;
  usage(): Promise<CgroupUsage>;
  killAll(): Promise<void>;
  remove(): Promise<void>;
}

const CPU_PERIOD_US = 100_000;
// The kernel rejects a CFS quota below 1 ms (EINVAL), in v1 and v2 alike.
const CPU_MIN_QUOTA_US = 1_000;
const V2_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A v1 hierarchy the instance joins, and the file that proves the controller is there. */
interface V1Hierarchy {
  controller: 'memory' | 'cpu' | 'pids' | 'cpuacct';
  /** <mount>/<prefix> */
  parent: string;
}

export class CgroupManager {
  readonly version: CgroupVersion;
  /** The <prefix> cgroup in every hierarchy used (for --check-system and cleanup). */
  readonly parents: readonly string[];
  readonly #v1: readonly V1Hierarchy[];
  /** Names created by this manager: removeStale() must never touch a live instance. */
  readonly #live = new Set<string>();

  private constructor(version: CgroupVersion, parents: string[], v1: V1Hierarchy[]) {
    this.version = version;
    this.parents = Object.freeze(parents);
    this.#v1 = Object.freeze(v1);
  }

  static async detect(opts: { root?: string; prefix?: string } = {}): Promise<{ manager: CgroupManager | null; version: CgroupVersion | null; detail: string }> {
    const root = opts.root ?? '/sys/fs/cgroup';
    const prefix = opts.prefix ?? 'faasd';
    if (!NAME_RE.test(prefix)) throw new FaasError('CONFIG_INVALID', `bad cgroup prefix "${prefix}"`);
    const notes: string[] = [];
    // Pure v2 hosts mount it at <root>; hybrid (systemd "unified") hosts at <root>/unified.
    for (const v2root of [root, join(root, 'unified')]) {
      const r = await setUpV2(v2root, prefix);
      if (typeof r === 'string') {
        if (r !== '') notes.push(r);
        continue;
      }
      return { manager: new CgroupManager('v2', [r.parent], []), version: 'v2', detail: `memory, cpu, pids under ${r.parent}` };
    }
    const v1 = await setUpV1(root, prefix);
    if (typeof v1 === 'string') {
      notes.push(v1);
      return { manager: null, version: null, detail: `no usable cgroups: ${notes.join('; ')}` };
    }
    const parents = v1.map((h) => h.parent);
    const why = notes.length > 0 ? ` (${notes.join('; ')})` : '';
    return {
      manager: new CgroupManager('v1', parents, v1),
      version: 'v1',
      detail: `${v1.map((h) => `${h.controller} at ${h.parent}`).join(', ')}${why}`,
    };
  }

  async create(name: string, limits: CgroupLimits): Promise<InstanceCgroup> {
    if (!NAME_RE.test(name)) throw new FaasError('INTERNAL', `bad cgroup name "${name}"`);
    const dirs = this.version === 'v2' ? [join(this.parents[0]!, name)] : this.#v1.map((h) => join(h.parent, name));
    const cg = new Cgroup(
      name,
      this.version,
      dirs,
      this.#v1.map((h) => h.controller),
      () => this.#live.delete(name),
    );
    // A directory left by a crashed daemon that reused this id would carry its old OOM counter.
    await cg.remove();
    try {
      for (const d of dirs) await mkdir(d);
      if (this.version === 'v2') await applyV2(dirs[0]!, limits);
      else await applyV1(this.#v1, dirs, limits);
      const memDir = this.version === 'v2' ? null : dirs[this.#v1.findIndex((h) => h.controller === 'memory')];
      cg.created(limits, memDir ? await exists(join(memDir, 'memory.memsw.limit_in_bytes')) : false);
    } catch (err) {
      await cg.remove().catch(() => undefined);
      throw new FaasError('INTERNAL', `cannot create cgroup ${name}: ${(err as Error).message}`, { cause: err });
    }
    this.#live.add(name);
    return cg;
  }

  /** Kill and remove per-instance cgroups this manager did not create (a previous run's). */
  async removeStale(): Promise<number> {
    const names = new Set<string>();
    for (const p of this.parents) for (const n of await subdirs(p)) if (!this.#live.has(n)) names.add(n);
    const controllers = this.#v1.map((h) => h.controller);
    for (const n of names) {
      const dirs = this.parents.map((p) => join(p, n));
      await new Cgroup(n, this.version, dirs, controllers).remove();
    }
    return names.size;
  }

  /** At daemon shutdown: remove the per-daemon parent cgroups once their instances are gone. */
  async close(): Promise<void> {
    await this.removeStale();
    for (const p of this.parents) await rmdir(p).catch(() => undefined);
  }
}

class Cgroup implements InstanceCgroup {
  readonly name: string;
  readonly procsFiles: string[];
  readonly #version: CgroupVersion;
  readonly #dirs: string[];
  readonly #byController: Map<string, string>;
  readonly #onRemoved: () => void;

  constructor(name: string, version: CgroupVersion, dirs: string[], controllers: string[], onRemoved = () => {}) {
    this.name = name;
    this.#onRemoved = onRemoved;
    this.#version = version;
    this.#dirs = dirs;
    this.procsFiles = dirs.map((d) => join(d, 'cgroup.procs'));
    this.#byController = new Map(controllers.map((c, i) => [c, dirs[i]!]));
  }

  #file(controller: string, file: string): string {
    return join(this.#version === 'v2' ? this.#dirs[0]! : this.#byController.get(controller)!, file);
  }

  // On the cold-start path of a pre-warmed instance: cgroupfs files are kernel pseudo-files
  // whose writes never block on a disk, so synchronous writes (~20 us each) beat a thread-pool
  // round trip per file (measured 4-8 ms for the async version on cgroup v1).
  setLimits(limits: CgroupLimits): void {
    const cur = this.limits;
    const v2 = this.#version === 'v2';
    if (limits.memoryBytes !== cur.memoryBytes) {
      const mem = limits.memoryBytes > 0 ? String(limits.memoryBytes) : v2 ? 'max' : '-1';
      if (v2) writeFileSync(this.#file('memory', 'memory.max'), mem);
      else {
        // v1 keeps memsw >= limit on every write: raise memsw first, lower it last.
        const memsw = this.#file('memory', 'memory.memsw.limit_in_bytes');
        const hasMemsw = this.#hasMemsw;
        const raising = limits.memoryBytes <= 0 || (cur.memoryBytes > 0 && limits.memoryBytes > cur.memoryBytes);
        if (raising && hasMemsw) writeFileSync(memsw, mem);
        writeFileSync(this.#file('memory', 'memory.limit_in_bytes'), mem);
        if (!raising && hasMemsw) writeFileSync(memsw, mem);
      }
    }
    if (limits.cpus !== cur.cpus) {
      if (v2) writeFileSync(this.#file('cpu', 'cpu.max'), limits.cpus > 0 ? `${quotaUs(limits.cpus)} ${CPU_PERIOD_US}` : `max ${CPU_PERIOD_US}`);
      else writeFileSync(this.#file('cpu', 'cpu.cfs_quota_us'), limits.cpus > 0 ? String(quotaUs(limits.cpus)) : '-1');
    }
    if (limits.pidsMax !== cur.pidsMax) writeFileSync(this.#file('pids', 'pids.max'), limits.pidsMax > 0 ? String(limits.pidsMax) : 'max');
    this.limits = { ...limits };
  }

  /** The limits in force (as created, then as set). */
  limits: CgroupLimits = { memoryBytes: 0, cpus: 0, pidsMax: 0 };
  #hasMemsw = false;

  /** Called by create() once the files are written. */
  created(limits: CgroupLimits, hasMemsw: boolean): void {
    this.limits = { ...limits };
    this.#hasMemsw = hasMemsw;
  }

  async oomKilled(): Promise<boolean> {
    if (this.#version === 'v2') {
      const events = await readKeyed(this.#file('memory', 'memory.events')).catch(() => null);
      return (events?.oom_kill ?? 0) > 0;
    }
    const oom = await readKeyed(this.#file('memory', 'memory.oom_control')).catch(() => null);
    if (oom?.oom_kill !== undefined) return oom.oom_kill > 0;
    // Kernels before 4.13 have no oom_kill counter. failcnt counts every time usage hit the
    // limit (reclaim included), so alone it over-reports: the caller must also see the
    // process die of SIGKILL before calling it an OOM.
    return (await readNumber(this.#file('memory', 'memory.failcnt')).catch(() => 0)) > 0;
  }

  async usage(): Promise<CgroupUsage> {
    if (this.#version === 'v2') {
      const [mem, cpu] = await Promise.all([readNumber(this.#file('memory', 'memory.current')), readKeyed(this.#file('cpu', 'cpu.stat'))]);
      return { memoryBytes: mem, cpuSeconds: (cpu.usage_usec ?? 0) / 1e6 };
    }
    const mem = await readNumber(this.#file('memory', 'memory.usage_in_bytes'));
    // cpuacct is co-mounted with cpu on most distributions ("cpu,cpuacct") but is its own
    // hierarchy on some hosts; v1 cpu.stat has no usage counter either way.
    const acct = this.#byController.has('cpuacct') ? this.#file('cpuacct', 'cpuacct.usage') : this.#file('cpu', 'cpuacct.usage');
    const ns = await readNumber(acct).catch(() => 0);
    return { memoryBytes: mem, cpuSeconds: ns / 1e9 };
  }

  async killAll(): Promise<void> {
    if (this.#version === 'v2') {
      // cgroup.kill (Linux 5.14+) kills the whole subtree atomically, so a process forking in
      // a loop cannot outrun it; older kernels get the loop below.
      const kill = join(this.#dirs[0]!, 'cgroup.kill');
      if (await exists(kill)) await writeFile(kill, '1').catch(() => undefined);
    }
    // Without cgroup.kill (or a freezer) a forking process can add pids between our read and
    // our kill, so loop until a read comes back empty. pids.max bounds how many can appear.
    // A pid could in theory be reused between read and kill; the window is microseconds and
    // only a pid that was in this cgroup an instant earlier is targeted.
    for (let round = 0; round < 200; round++) {
      const pids = await this.#pids();
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // ESRCH: it already exited.
        }
      }
      await sleep(round < 20 ? 5 : 20);
    }
    throw new FaasError('INTERNAL', `cgroup ${this.name}: processes survive SIGKILL: ${(await this.#pids()).join(' ')}`);
  }

  /** Every pid in the instance (any hierarchy, any nested cgroup a root process may have made). */
  async #pids(): Promise<number[]> {
    const all = new Set<number>();
    for (const d of this.#dirs) for (const pid of await treePids(d)) all.add(pid);
    return [...all];
  }

  async remove(): Promise<void> {
    if (await anyExists(this.#dirs)) {
      await this.killAll();
      for (const d of this.#dirs) await removeTree(d);
    }
    this.#onRemoved();
  }
}

/** The ready <prefix> parent, or why this v2 mount is unusable ('' = not a v2 mount at all). */
async function setUpV2(v2root: string, prefix: string): Promise<{ parent: string } | string> {
  const controllers = await readFile(join(v2root, 'cgroup.controllers'), 'utf8').catch(() => null);
  if (controllers === null) return ''; // not a v2 mount: say nothing
  const missing = V2_CONTROLLERS.filter((c) => !words(controllers).includes(c));
  if (missing.length > 0) {
    return `cgroup v2 at ${v2root} lacks ${missing.join(', ')} (bound to v1 hierarchies or not delegated)`;
  }
  const parent = join(v2root, prefix);
  const enable = V2_CONTROLLERS.map((c) => `+${c}`).join(' ');
  try {
    const rootSubtree = await readFile(join(v2root, 'cgroup.subtree_control'), 'utf8');
    if (!V2_CONTROLLERS.every((c) => controllerWords(rootSubtree).includes(c))) {
      await writeFile(join(v2root, 'cgroup.subtree_control'), enable);
    }
  } catch (err) {
    return `cannot enable ${enable} in ${v2root}/cgroup.subtree_control: ${code(err)}${busyHint(err, v2root)}`;
  }
  try {
    await mkdir(parent, { recursive: true });
    const procs = (await readFile(join(parent, 'cgroup.procs'), 'utf8').catch(() => '')).trim();
    if (procs !== '') return `${parent} holds processes (${words(procs).join(' ')}); it must be a pure parent`;
    await writeFile(join(parent, 'cgroup.subtree_control'), enable);
    const now = await readFile(join(parent, 'cgroup.subtree_control'), 'utf8');
    const off = V2_CONTROLLERS.filter((c) => !controllerWords(now).includes(c));
    if (off.length > 0) return `${parent}/cgroup.subtree_control did not enable ${off.join(', ')}`;
  } catch (err) {
    return `cannot set up ${parent}: ${code(err)}${busyHint(err, parent)}`;
  }
  return { parent };
}

function busyHint(err: unknown, dir: string): string {
  // EBUSY here is the "no internal processes" rule: a non-root v2 cgroup that has processes
  // of its own cannot enable controllers for children. Typical inside a container with a
  // private cgroup namespace, where the daemon itself sits in the namespace's root.
  return code(err) === 'EBUSY' ? ` (${dir} has processes of its own; move them into a leaf cgroup)` : '';
}

const V1_NEEDED = [
  { controller: 'memory', probe: 'memory.limit_in_bytes' },
  { controller: 'cpu', probe: 'cpu.cfs_quota_us' },
  { controller: 'pids', probe: 'pids.max' },
] as const;

async function setUpV1(root: string, prefix: string): Promise<string | V1Hierarchy[]> {
  const out: V1Hierarchy[] = [];
  const mounts = new Set<string>();
  for (const { controller, probe } of V1_NEEDED) {
    const parent = await v1Parent(root, controller, prefix, probe);
    if (typeof parent !== 'string') return `cgroup v1 ${controller}: ${parent.error}`;
    out.push({ controller, parent });
    mounts.add(await realpath(join(root, controller)));
  }
  // Usage accounting only: join cpuacct when it is a hierarchy of its own (when co-mounted as
  // "cpu,cpuacct" the cpu cgroup already carries cpuacct.usage).
  const acctMount = await realpath(join(root, 'cpuacct')).catch(() => null);
  if (acctMount !== null && !mounts.has(acctMount)) {
    const parent = await v1Parent(root, 'cpuacct', prefix, 'cpuacct.usage');
    if (typeof parent === 'string') out.push({ controller: 'cpuacct', parent });
  }
  return out;
}

async function v1Parent(root: string, controller: string, prefix: string, probe: string): Promise<string | { error: string }> {
  const parent = join(root, controller, prefix);
  try {
    await mkdir(parent, { recursive: true });
    await access(join(parent, probe));
    return parent;
  } catch (err) {
    return { error: `cannot use ${parent}: ${code(err)}` };
  }
}

async function applyV2(dir: string, l: CgroupLimits): Promise<void> {
  await writeFile(join(dir, 'memory.max'), l.memoryBytes > 0 ? String(l.memoryBytes) : 'max');
  // Swap would let an instance exceed its limit silently (and slowly); the file is absent
  // when the kernel has no swap accounting, in which case there is nothing to turn off.
  if (await exists(join(dir, 'memory.swap.max'))) await writeFile(join(dir, 'memory.swap.max'), '0');
  // Without oom.group the OOM killer picks one process (maybe a forked helper) and leaves
  // the shim half alive; the instance is one unit, so it dies as one.
  if (await exists(join(dir, 'memory.oom.group'))) await writeFile(join(dir, 'memory.oom.group'), '1');
  await writeFile(join(dir, 'cpu.max'), l.cpus > 0 ? `${quotaUs(l.cpus)} ${CPU_PERIOD_US}` : `max ${CPU_PERIOD_US}`);
  await writeFile(join(dir, 'pids.max'), l.pidsMax > 0 ? String(l.pidsMax) : 'max');
}

async function applyV1(hs: readonly V1Hierarchy[], dirs: string[], l: CgroupLimits): Promise<void> {
  for (const [i, h] of hs.entries()) {
    const dir = dirs[i]!;
    if (h.controller === 'memory' && l.memoryBytes > 0) {
      // Order matters: memsw (memory+swap) must stay >= limit_in_bytes or the write fails
      // with EINVAL; both start unlimited, so set the memory limit first. Equal values mean
      // "no swap". memsw exists only with swap accounting (swapaccount=1).
      await writeFile(join(dir, 'memory.limit_in_bytes'), String(l.memoryBytes));
      const memsw = join(dir, 'memory.memsw.limit_in_bytes');
      if (await exists(memsw)) await writeFile(memsw, String(l.memoryBytes));
      await writeFile(join(dir, 'memory.swappiness'), '0').catch(() => undefined);
    } else if (h.controller === 'cpu') {
      // Period first: the kernel validates quota against the current period.
      await writeFile(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
      await writeFile(join(dir, 'cpu.cfs_quota_us'), l.cpus > 0 ? String(quotaUs(l.cpus)) : '-1');
    } else if (h.controller === 'pids') {
      await writeFile(join(dir, 'pids.max'), l.pidsMax > 0 ? String(l.pidsMax) : 'max');
    }
  }
}

function quotaUs(cpus: number): number {
  return Math.max(CPU_MIN_QUOTA_US, Math.round(cpus * CPU_PERIOD_US));
}

async function treePids(dir: string): Promise<number[]> {
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  const pids = words(text)
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  for (const sub of await subdirs(dir)) pids.push(...(await treePids(join(dir, sub))));
  return pids;
}

/** rmdir children first (a root process in `standard` mode may have made some), then dir. */
async function removeTree(dir: string): Promise<void> {
  for (const sub of await subdirs(dir)) await removeTree(join(dir, sub));
  // rmdir can briefly fail with EBUSY after the last process died: the kernel unlinks a task
  // from its cgroup during exit, a little after cgroup.procs stopped listing it.
  for (let attempt = 0; ; attempt++) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      if (code(err) === 'ENOENT') return;
      if (code(err) !== 'EBUSY' || attempt >= 10) throw err;
      await sleep(10 * (attempt + 1));
    }
  }
}

async function subdirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isDirectory()).map((e) => e.name);
}

/** "key value" lines (memory.events, memory.oom_control, cpu.stat) as numbers. */
async function readKeyed(file: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

async function readNumber(file: string): Promise<number> {
  return Number((await readFile(file, 'utf8')).trim());
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(
    () => true,
    () => false,
  );
}

async function anyExists(ps: string[]): Promise<boolean> {
  return (await Promise.all(ps.map(exists))).some(Boolean);
}

function words(s: string): string[] {
  return s.split(/\s+/).filter(Boolean);
}

/** subtree_control reads back "cpu memory pids"; tolerate "+cpu" too (a fake root in tests). */
function controllerWords(s: string): string[] {
  return words(s).map((w) => w.replace(/^\+/, ''));
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
