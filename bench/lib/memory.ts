// Memory of the daemon and of its instances, read from /proc as root. PSS (proportional set
// size) splits shared pages between the processes that map them, so the interpreter's text
// shared by 100 instances is counted once in total, not 100 times as RSS would.
import fs from 'node:fs';

interface ProcEntry {
  pid: number;
  ppid: number;
  comm: string;
  cgroup: string;
}

function readOr(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

export function rssBytes(pid: number): number | null {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/status`) ?? '');
  return m ? Number(m[1]) * 1024 : null;
}

export function pssBytes(pid: number): number | null {
  const m = /^Pss:\s+(\d+) kB/m.exec(readOr(`/proc/${pid}/smaps_rollup`) ?? '');
  return m ? Number(m[1]) * 1024 : null;
}

/** One pass over /proc: parent, name and cgroup membership of every process. */
export function scanProcesses(): Map<number, ProcEntry> {
  const out = new Map<number, ProcEntry>();
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const stat = readOr(`/proc/${d}/stat`);
    if (!stat) continue;
    // comm may contain spaces and parentheses: the fields after the last ')' are fixed.
    const close = stat.lastIndexOf(')');
    const fields = stat.slice(close + 2).split(' ');
    out.set(Number(d), { pid: Number(d), ppid: Number(fields[1]), comm: stat.slice(stat.indexOf('(') + 1, close), cgroup: readOr(`/proc/${d}/cgroup`) ?? '' });
  }
  return out;
}

function childrenIndex(procs: Map<number, ProcEntry>): Map<number, number[]> {
  const idx = new Map<number, number[]>();
  for (const p of procs.values()) {
    const list = idx.get(p.ppid);
    if (list) list.push(p.pid);
    else idx.set(p.ppid, [p.pid]);
  }
  return idx;
}

export interface InstanceRef {
  id: string;
  pid: number | null;
  containerId: string | null;
}

/**
 * The processes of each instance: those in a cgroup whose path names it (the process
 * driver's per-instance cgroup, or docker/<container id>), plus all their descendants, plus
 * for process mode the launcher tree under the instance's pid (bwrap runs outside the cgroup).
 */
export function instanceProcesses(instances: InstanceRef[], procs = scanProcesses()): Map<string, Set<number>> {
  const kids = childrenIndex(procs);
  const out = new Map<string, Set<number>>();
  for (const inst of instances) {
    const members = new Set<number>();
    const needle = inst.containerId ? `/docker/${inst.containerId}` : `/${inst.id}\n`;
    for (const p of procs.values()) if (p.cgroup.includes(needle)) members.add(p.pid);
    if (inst.pid !== null && procs.has(inst.pid)) members.add(inst.pid);
    const stack = [...members];
    while (stack.length > 0) {
      for (const c of kids.get(stack.pop()!) ?? []) {
        if (!members.has(c)) {
          members.add(c);
          stack.push(c);
        }
      }
    }
    out.set(inst.id, members);
  }
  return out;
}

export interface InstanceMemory {
  pss: number;
  processes: number;
  /** containerd-shim for a container: host-side cost outside the container's cgroup. */
  hostShimPss: number;
}

export function instanceMemory(instances: InstanceRef[]): Map<string, InstanceMemory> {
  const procs = scanProcesses();
  const byInstance = instanceProcesses(instances, procs);
  const out = new Map<string, InstanceMemory>();
  for (const inst of instances) {
    const members = byInstance.get(inst.id) ?? new Set<number>();
    let pss = 0;
    for (const pid of members) pss += pssBytes(pid) ?? 0;
    let hostShimPss = 0;
    if (inst.containerId) {
      const roots = [...members].filter((pid) => !members.has(procs.get(pid)?.ppid ?? -1));
      for (const r of roots) {
        const parent = procs.get(procs.get(r)?.ppid ?? -1);
        if (parent?.comm.startsWith('containerd-shim')) hostShimPss += pssBytes(parent.pid) ?? 0;
      }
    }
    out.set(inst.id, { pss, processes: members.size, hostShimPss });
  }
  return out;
}
