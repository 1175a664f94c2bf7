// Where the CPU went during a load run: the server process (faasd or the ceiling), the
// function instances, the load generator (this process), and everything else on the
// machine (other users' work: the machine is shared). From /proc, in clock ticks.
import fs from 'node:fs';
import os from 'node:os';
import { instanceProcesses, type InstanceRef } from './memory.js';

// Linux USER_HZ is 100 on every architecture Node supports.
const TICK_US = 10_000;

function pidTicks(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

function machineTicks(): { busy: number; total: number } {
  const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface CpuSplit {
  /** CPU µs per successful request. */
  server_us_per_req: number;
  instances_us_per_req: number | null;
  loadgen_us_per_req: number;
  /** Share of all cores busy during the runs, and the part not explained by the three above. */
  machine_busy_pct: number;
  other_busy_pct: number;
}

export class CpuSampler {
  private pids: Set<number> = new Set();
  private server = 0;
  private instances = 0;
  private loadgen = 0;
  private busy = 0;
  private total = 0;
  private start: { server: number; instances: number; loadgen: number; m: { busy: number; total: number } } | null = null;

  constructor(
    private readonly serverPid: number,
    private readonly listInstances: (() => Promise<InstanceRef[]>) | null,
  ) {}

  private instTicks(): number {
    let t = 0;
    for (const p of this.pids) t += pidTicks(p);
    return t;
  }

  async before(): Promise<void> {
    if (this.listInstances) {
      const sets = instanceProcesses(await this.listInstances());
      this.pids = new Set([...sets.values()].flatMap((s) => [...s]));
    }
    const u = process.cpuUsage();
    this.start = { server: pidTicks(this.serverPid), instances: this.instTicks(), loadgen: u.user + u.system, m: machineTicks() };
  }

  after(): void {
    if (!this.start) return;
    const u = process.cpuUsage();
    const m = machineTicks();
    this.server += (pidTicks(this.serverPid) - this.start.server) * TICK_US;
    this.instances += (this.instTicks() - this.start.instances) * TICK_US;
    this.loadgen += u.user + u.system - this.start.loadgen;
    this.busy += m.busy - this.start.m.busy;
    this.total += m.total - this.start.m.total;
    this.start = null;
  }

  result(requests: number): CpuSplit | null {
    if (requests <= 0 || this.total <= 0) return null;
    const busyPct = (100 * this.busy) / this.total;
    const cores = os.availableParallelism?.() ?? os.cpus().length;
    // Our three parts as a share of all cores over the same wall time.
    const wallUs = (this.total * TICK_US) / cores;
    const oursPct = (100 * (this.server + this.instances + this.loadgen)) / (wallUs * cores);
    return {
      server_us_per_req: this.server / requests,
      instances_us_per_req: this.listInstances ? this.instances / requests : null,
      loadgen_us_per_req: this.loadgen / requests,
      machine_busy_pct: busyPct,
      other_busy_pct: Math.max(0, busyPct - oursPct),
    };
  }
}
