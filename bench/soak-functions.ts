// Create/invoke/delete soak (issue 11 item 5: a deleted function must leave nothing behind).
//
//   node --import tsx bench/soak-functions.ts                 # 5,000 cycles, 4 workers, ~5-15 min
//   node --import tsx bench/soak-functions.ts --cycles 200 --sample-every 50   # a quick try
//
// Starts a real faasd in a child process (bench/lib/daemon.ts: own temp config, registry and
// key; process mode, default strict isolation, default pre-warm), deploys one resident
// function that stays (min_instances 1, invoked once: its series are part of the baseline
// and must stay), then runs N cycles of:
// create a function (Python; every 10th one Node), invoke it once (so it has metric series,
// stats, a log line and an instance), delete it. Every --sample-every cycles the workers stop,
// the process driver is let back to its pre-warmed size, and the bench reads the daemon's RSS
// (/proc/<pid>/status, nothing forced: no GC can be triggered from outside), the /metrics body
// (bytes, series lines: all, faasd's own and OpenFaaS' gateway_ ones, the Node.js runtime
// ones, and lines that still name a soak function), /stats, open fds and what is left on disk.
// Some cycles (the first of each segment and the first Node one) are probes: they check the
// function really had series, stats, a log line and an instance, and that all are gone after
// the delete.
//
// Writes <out>/results/<date>-<host>-soak.json and <out>/SOAK.md (--no-invoke: only
// <date>-<host>-soak-noinvoke.json). Nothing is asserted; the verdict is reported. The daemon, its functions and
// its temp dir are removed at the end, also on an error or Ctrl-C.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Faasd, type Runtime } from './lib/daemon.js';
import { errorMessage } from './lib/http.js';
import { commitInfo, loadAverage, machineInfo, type CommitInfo, type MachineInfo } from './lib/machine.js';
import { BENCH_DIR, daemonEntryFlag, numberFlag, parseFlags, switchFlag, valueFlag } from './lib/options.js';

const USAGE = `usage: node --import tsx bench/soak-functions.ts [options]
  --cycles N              create-invoke-delete cycles (default 5000)
  --sample-every N        sample every N cycles (default 500); the first sample after warm-up is at N
  --workers N             concurrent cycle workers (default 4)
  --node-every N          every Nth function is Node, the others Python (default 10)
  --no-invoke             create and delete only (to tell what invocations cost from what deploys cost)
  --out DIR               write DIR/SOAK.md and DIR/results/<date>-<host>-soak.json (default bench/;
                          a short try should write elsewhere, e.g. --out /tmp/soak)
  --daemon auto|src|dist  as for npm run bench (default auto)
  --rss-threshold B       RSS growth per cycle after warm-up above which the verdict says "grows" (default 300)`;

interface SoakOptions {
  cycles: number;
  sampleEvery: number;
  workers: number;
  nodeEvery: number;
  invoke: boolean;
  outDir: string;
  daemonEntry: 'auto' | 'src' | 'dist';
  rssThreshold: number;
}

function parse(argv: string[]): SoakOptions {
  const o: SoakOptions = { cycles: 5000, sampleEvery: 500, workers: 4, nodeEvery: 10, invoke: true, outDir: BENCH_DIR, daemonEntry: 'auto', rssThreshold: 300 };
  const int = (flag: string, v: string | undefined, min: number) => numberFlag(flag, v, min, USAGE, true);
  parseFlags(argv, USAGE, {
    '--cycles': valueFlag((v) => (o.cycles = int('--cycles', v, 1))),
    '--sample-every': valueFlag((v) => (o.sampleEvery = int('--sample-every', v, 1))),
    '--workers': valueFlag((v) => (o.workers = int('--workers', v, 1))),
    '--node-every': valueFlag((v) => (o.nodeEvery = int('--node-every', v, 1))),
    '--no-invoke': switchFlag(() => (o.invoke = false)),
    '--out': valueFlag((v) => (o.outDir = path.resolve(v ?? '.'))),
    '--daemon': valueFlag((v) => (o.daemonEntry = daemonEntryFlag(v, USAGE))),
    '--rss-threshold': valueFlag((v) => (o.rssThreshold = int('--rss-threshold', v, 0))),
  });
  return o;
}

// ---------------------------------------------------------------------------------------------
// What one sample reads.

interface Sample {
  cycles: number;
  at_s: number;
  /** /proc/<pid>/status, bytes. */
  rss_bytes: number;
  rss_anon_bytes: number;
  rss_file_bytes: number;
  hwm_bytes: number;
  /**
   * RSS by mapping (/proc/<pid>/smaps): the brk heap (glibc malloc's main arena), other
   * anonymous mappings (V8's heap pages, malloc's thread arenas, other native mmaps), files.
   */
  smaps: { brk_heap_bytes: number; other_anon_bytes: number; file_bytes: number; anon_mappings: number };
  /** From the daemon's own prom-client default metrics (process.memoryUsage() at scrape time). */
  heap_used_bytes: number | null;
  heap_total_bytes: number | null;
  external_bytes: number | null;
  metrics_bytes: number;
  /** Series (sample) lines of /metrics: every one, faasd_/gateway_ ones without the Node.js runtime ones, the runtime ones. */
  series_lines: number;
  own_series_lines: number;
  runtime_series_lines: number;
  /** Lines whose function / function_name label is a soak function (all deleted at a sample: should be 0). */
  soak_function_lines: number;
  stats: { functions: number; instances: number; invocations: number; errors: number; cold_starts: number; prewarmed_starts: number };
  /** The process driver's instance count (pre-warmed generic ones when idle). */
  driver_instances: number;
  open_fds: number;
  threads: number;
  registry_bytes: number;
  code_dirs: number;
  run_dir_entries: number | null;
}

interface Probe {
  cycle: number;
  runtime: Runtime;
  alive: { series_lines: number; stats_invocations: number; log_lines: number; instances: number };
  after_delete: { series_lines: number; stats_status: number };
}

function procStatus(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+)(?: kB)?$/.exec(line);
    if (m) out[m[1]!] = Number(m[2]) * (line.endsWith('kB') ? 1024 : 1);
  }
  return out;
}

function smapsOf(pid: number): Sample['smaps'] {
  const out = { brk_heap_bytes: 0, other_anon_bytes: 0, file_bytes: 0, anon_mappings: 0 };
  let kind: 'brk' | 'anon' | 'file' = 'anon';
  for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      const name = head[1]!;
      kind = name === '[heap]' ? 'brk' : name === '' || name.startsWith('[') ? 'anon' : 'file';
      if (kind === 'anon') out.anon_mappings += 1;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) {
      const b = Number(rss[1]) * 1024;
      if (kind === 'brk') out.brk_heap_bytes += b;
      else if (kind === 'anon') out.other_anon_bytes += b;
      else out.file_bytes += b;
    }
  }
  return out;
}

function countDir(dir: string): number | null {
  try {
    return fs.readdirSync(dir).length;
  } catch {
    return null;
  }
}

function sizeOf(file: string): number {
  let total = 0;
  for (const f of [file, `${file}-wal`, `${file}-shm`]) {
    try {
      total += fs.statSync(f).size;
    } catch {
      /* absent */
    }
  }
  return total;
}

const RUNTIME_SERIES = /^faasd_(process|nodejs)_/;

interface MetricsRead {
  bytes: number;
  lines: string[];
  all: number;
  own: number;
  runtime: number;
  soak: number;
  value(name: string): number | null;
}

function readMetrics(body: string): MetricsRead {
  const lines = body.split('\n').filter((l) => l !== '' && !l.startsWith('#'));
  let own = 0;
  let runtime = 0;
  let soak = 0;
  for (const l of lines) {
    if (RUNTIME_SERIES.test(l)) runtime += 1;
    else if (l.startsWith('faasd_') || l.startsWith('gateway_')) own += 1;
    if (/function(_name)?="soak-/.test(l)) soak += 1;
  }
  return {
    bytes: Buffer.byteLength(body),
    lines,
    all: lines.length,
    own,
    runtime,
    soak,
    value(name) {
      const l = lines.find((x) => x.startsWith(`${name} `));
      return l ? Number(l.split(' ')[1]) : null;
    },
  };
}

/** The faasd_/gateway_ series names with their line counts (the baseline's breakdown, to compare with the end). */
function seriesByName(lines: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of lines) {
    if (RUNTIME_SERIES.test(l) || !(l.startsWith('faasd_') || l.startsWith('gateway_'))) continue;
    const name = /^[A-Za-z_:][A-Za-z0-9_:]*/.exec(l)![0];
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

/** Deployed before the baseline and kept to the end (not a soak- name: its lines are not "lines naming a soak function"). */
const RESIDENT = 'resident-python';

function code(runtime: Runtime, name: string): string {
  return runtime === 'python'
    ? `def handle(request):\n    print("soak ${name} called")\n    return {"ok": True, "function": "${name}"}\n`
    : `exports.handler = async () => {\n  console.log('soak ${name} called');\n  return { ok: true, function: '${name}' };\n};\n`;
}

class Soak {
  readonly samples: Sample[] = [];
  readonly probes: Probe[] = [];
  readonly errors: Record<string, number> = {};
  readonly firstErrors: string[] = [];
  private driverIdle = 0;
  private readonly runDir: string;
  baselineByName: Record<string, number> = {};
  endByName: Record<string, number> = {};

  constructor(
    readonly opts: SoakOptions,
    readonly faasd: Faasd,
    readonly t0: number,
  ) {
    this.runDir = runDirOf(faasd.registryPath);
  }

  log(msg: string): void {
    process.stderr.write(`[soak ${((Date.now() - this.t0) / 1000).toFixed(1).padStart(6)}s] ${msg}\n`);
  }

  error(kind: string, msg: string): void {
    this.errors[kind] = (this.errors[kind] ?? 0) + 1;
    if (this.firstErrors.length < 10) this.firstErrors.push(`${kind}: ${msg}`);
    if (this.errors[kind]! <= 3) this.log(`${kind}: ${msg}`);
  }

  get errorCount(): number {
    return Object.values(this.errors).reduce((a, b) => a + b, 0);
  }

  /**
   * Deploys the resident function (min_instances 1, invoked once) before the baseline: its
   * series are in the baseline and must still be there, unchanged in number, at the end, so
   * the comparison also shows a delete drops only the deleted function's series.
   */
  async init(): Promise<void> {
    const prewarmed = await this.faasd.driverInstances('process');
    const d = await this.faasd.deploy(RESIDENT, 'python', code('python', RESIDENT), { execution_mode: 'process', min_instances: 1 });
    if (!d.ok) throw new Error(`deploying ${RESIDENT}: ${d.message}`);
    const r = await this.faasd.invoke(RESIDENT, { cycle: 0 });
    if (r.status !== 200) throw new Error(`invoking ${RESIDENT}: ${r.status} ${r.body.slice(0, 200)}`);
    await this.faasd.waitIdle(RESIDENT, 1, 30_000);
    // "Idle" below means back to exactly the pre-warmed instances plus the resident one.
    this.driverIdle = prewarmed + 1;
  }

  /** Until the process driver holds exactly its pre-warmed instances again (deleted ones stopped, the pool refilled), stable for 0.6 s. */
  async quiesce(): Promise<void> {
    const end = Date.now() + 60_000;
    let stable = 0;
    while (Date.now() < end && stable < 3) {
      stable = (await this.faasd.driverInstances('process')) === this.driverIdle ? stable + 1 : 0;
      await sleep(200);
    }
    if (stable < 3) this.log(`process driver did not settle at ${this.driverIdle} instances within 60 s; sampling anyway`);
    await sleep(1000);
  }

  async sample(cycles: number): Promise<Sample> {
    await this.quiesce();
    const pid = this.faasd.pid;
    // RSS first: the scrape below allocates in the daemon.
    const st = procStatus(pid);
    const smaps = smapsOf(pid);
    const fds = countDir(`/proc/${pid}/fd`) ?? -1;
    const statsRes = await this.faasd.client.request('GET', '/stats');
    if (statsRes.status !== 200) throw new Error(`GET /stats: ${statsRes.status} ${errorMessage(statsRes)}`);
    const s = JSON.parse(statsRes.body) as {
      functions: { total: number };
      instances: { total: number };
      invocations: { total: number; errors: number; cold_starts: number; prewarmed_starts: number };
    };
    const mRes = await this.faasd.client.request('GET', '/metrics');
    if (mRes.status !== 200) throw new Error(`GET /metrics: ${mRes.status} ${errorMessage(mRes)}`);
    const m = readMetrics(mRes.body);
    const sample: Sample = {
      cycles,
      at_s: Math.round((Date.now() - this.t0) / 100) / 10,
      rss_bytes: st.VmRSS ?? 0,
      rss_anon_bytes: st.RssAnon ?? 0,
      rss_file_bytes: st.RssFile ?? 0,
      hwm_bytes: st.VmHWM ?? 0,
      smaps,
      heap_used_bytes: m.value('faasd_nodejs_heap_size_used_bytes'),
      heap_total_bytes: m.value('faasd_nodejs_heap_size_total_bytes'),
      external_bytes: m.value('faasd_nodejs_external_memory_bytes'),
      metrics_bytes: m.bytes,
      series_lines: m.all,
      own_series_lines: m.own,
      runtime_series_lines: m.runtime,
      soak_function_lines: m.soak,
      stats: {
        functions: s.functions.total,
        instances: s.instances.total,
        invocations: s.invocations.total,
        errors: s.invocations.errors,
        cold_starts: s.invocations.cold_starts,
        prewarmed_starts: s.invocations.prewarmed_starts,
      },
      driver_instances: await this.faasd.driverInstances('process'),
      open_fds: fds,
      threads: st.Threads ?? 0,
      registry_bytes: sizeOf(this.faasd.registryPath),
      code_dirs: countDir(path.join(this.faasd.dir, 'functions')) ?? 0,
      run_dir_entries: this.runEntries(),
    };
    if (cycles === 0) this.baselineByName = seriesByName(m.lines);
    this.endByName = seriesByName(m.lines);
    this.samples.push(sample);
    const mib = (b: number | null) => (b === null ? 'n/a' : `${(b / 1024 / 1024).toFixed(1)} MiB`);
    this.log(
      `cycles ${String(cycles).padStart(5)}: RSS ${mib(sample.rss_bytes)} (heap used ${mib(sample.heap_used_bytes)}), /metrics ${sample.metrics_bytes} B, ` +
        `${sample.series_lines} series (${sample.own_series_lines} faasd_/gateway_, ${sample.soak_function_lines} of soak functions), ` +
        `/stats ${sample.stats.functions} functions ${sample.stats.instances} instances ${sample.stats.invocations} invocations, ${sample.open_fds} fds`,
    );
    return sample;
  }

  /** Entries under the daemon's run directory (per-instance socket dirs and code slots). */
  private runEntries(): number | null {
    let n = 0;
    try {
      for (const d of fs.readdirSync(this.runDir)) {
        const sub = path.join(this.runDir, d);
        n += fs.statSync(sub).isDirectory() ? (countDir(sub) ?? 0) : 1;
      }
      return n;
    } catch {
      return null;
    }
  }

  private async seriesOf(name: string): Promise<number> {
    const res = await this.faasd.client.request('GET', '/metrics');
    const needle = new RegExp(`function(_name)?="${name}"`);
    return res.body.split('\n').filter((l) => !l.startsWith('#') && needle.test(l)).length;
  }

  async cycle(i: number, probe: boolean): Promise<void> {
    const runtime: Runtime = i % this.opts.nodeEvery === 0 ? 'node' : 'python';
    const name = `soak-${i}`;
    const d = await this.faasd.deploy(name, runtime, code(runtime, name), { execution_mode: 'process' });
    if (!d.ok) {
      this.error('deploy', `${name}: ${d.message}`);
      return;
    }
    let alive: Probe['alive'] | null = null;
    try {
      if (this.opts.invoke) {
        const r = await this.faasd.invoke(name, { cycle: i });
        if (r.status !== 200 || !r.body.includes(`"${name}"`)) this.error('invoke', `${name}: ${r.status} ${r.body.slice(0, 200)}`);
        else if (probe) {
          const [stats, logs, fn, series] = await Promise.all([
            this.faasd.client.request('GET', `/stats/functions/${name}`),
            this.faasd.client.request('GET', `/functions/${name}/logs`),
            this.faasd.instanceCounts(name),
            this.seriesOf(name),
          ]);
          const statsJ = JSON.parse(stats.body) as { invocations?: { total?: number } };
          const logsJ = JSON.parse(logs.body) as { lines?: { line: string }[] };
          alive = {
            series_lines: series,
            stats_invocations: statsJ.invocations?.total ?? -1,
            log_lines: logsJ.lines?.filter((l) => l.line.includes(`soak ${name} called`)).length ?? 0,
            instances: fn.total,
          };
          if (alive.series_lines === 0 || alive.stats_invocations !== 1 || alive.log_lines !== 1 || alive.instances < 1) this.error('probe', `${name} alive: ${JSON.stringify(alive)}`);
        }
      }
    } finally {
      try {
        await this.faasd.remove(name);
      } catch (e) {
        this.error('delete', (e as Error).message);
      }
    }
    if (probe) {
      const stats = await this.faasd.client.request('GET', `/stats/functions/${name}`);
      const after = { series_lines: await this.seriesOf(name), stats_status: stats.status };
      if (after.series_lines !== 0 || after.stats_status !== 404) this.error('probe', `${name} after delete: ${JSON.stringify(after)}`);
      this.probes.push({ cycle: i, runtime, alive: alive ?? { series_lines: 0, stats_invocations: 0, log_lines: 0, instances: 0 }, after_delete: after });
    }
  }

  /** Cycles from+1 .. to with the configured number of workers, each taking the next cycle number. */
  async segment(from: number, to: number): Promise<void> {
    let next = from + 1;
    const firstNode = this.opts.nodeEvery;
    const worker = async () => {
      while (next <= to) {
        const i = next++;
        const probe = i === from + 1 || (i === firstNode && this.opts.invoke);
        try {
          await this.cycle(i, probe);
        } catch (e) {
          this.error('cycle', `soak-${i}: ${(e as Error).message}`);
        }
        if (this.errorCount > 50) throw new Error(`more than 50 errors (${JSON.stringify(this.errors)}); first: ${this.firstErrors.join(' | ')}`);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.workers, to - from) }, worker));
  }

  /** Functions left by an interrupted cycle: deleted before the daemon stops (its stop would clean them too). */
  async removeLeftovers(): Promise<number> {
    const res = await this.faasd.client.request('GET', '/functions');
    if (res.status !== 200) return 0;
    const body = JSON.parse(res.body) as { functions?: { name: string }[] } | { name: string }[];
    const list = Array.isArray(body) ? body : (body.functions ?? []);
    const soak = list.filter((f) => f.name.startsWith('soak-') || f.name === RESIDENT);
    for (const f of soak) await this.faasd.remove(f.name).catch(() => undefined);
    return soak.length;
  }
}

/** The daemon's run directory: src/execution/setup.ts daemonId (sha256(registry_path)[:10]) under run-dir.ts runBase(). */
function runDirOf(registryPath: string): string {
  const id = crypto.createHash('sha256').update(registryPath).digest('hex').slice(0, 10);
  const base = process.getuid?.() === 0 ? '/run/faasd' : path.join(os.tmpdir(), `faasd-run-${process.getuid?.() ?? 'u'}`);
  return path.join(base, id);
}

// ---------------------------------------------------------------------------------------------
// Verdict and outputs.

interface Verdict {
  baseline_own_series: number;
  end_own_series: number;
  series_equal: boolean;
  /** faasd_/gateway_ series names whose line count differs between the baseline and the end. */
  series_diff: Record<string, { baseline: number; end: number }>;
  end_soak_function_lines: number;
  metrics_bytes_baseline: number;
  metrics_bytes_end: number;
  stats_functions_end: number;
  rss_from_cycles: number;
  rss_to_cycles: number;
  rss_growth_bytes: number;
  rss_growth_per_cycle_bytes: number;
  /** Least-squares slope over every sample from the warm-up one on. */
  rss_slope_per_cycle_bytes: number;
  heap_used_growth_bytes: number | null;
  rss_threshold_per_cycle_bytes: number;
  rss_flat: boolean;
  summary: string;
}

interface SoakResults {
  schema: 1;
  kind: 'soak-functions';
  started_at: string;
  finished_at: string;
  duration_s: number;
  options: Omit<SoakOptions, 'outDir'> & { daemon_entry: 'src' | 'dist'; mode: 'process'; prewarm: 'default' };
  machine: MachineInfo;
  commit: CommitInfo;
  load_average: { start: number[]; end: number[] };
  daemon: { isolation: string; driver: string; prewarmed_process_instances: number };
  cycles_done: number;
  cycles_per_s: number;
  errors: Record<string, number>;
  first_errors: string[];
  samples: Sample[];
  probes: Probe[];
  verdict: Verdict | null;
}

function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return Number.NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let k = 0; k < n; k++) {
    num += (xs[k]! - mx) * (ys[k]! - my);
    den += (xs[k]! - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

function verdictOf(soak: Soak, opts: SoakOptions): Verdict | null {
  const s = soak.samples;
  const base = s[0];
  const end = s[s.length - 1];
  if (!base || !end || s.length < 2) return null;
  const warm = s.find((x) => x.cycles >= Math.min(opts.sampleEvery, end.cycles)) ?? base;
  const after = s.filter((x) => x.cycles >= warm.cycles);
  const span = end.cycles - warm.cycles;
  const growth = end.rss_bytes - warm.rss_bytes;
  const perCycle = span > 0 ? growth / span : Number.NaN;
  const fit = slope(
    after.map((x) => x.cycles),
    after.map((x) => x.rss_bytes),
  );
  const diff: Verdict['series_diff'] = {};
  for (const k of new Set([...Object.keys(soak.baselineByName), ...Object.keys(soak.endByName)])) {
    const a = soak.baselineByName[k] ?? 0;
    const b = soak.endByName[k] ?? 0;
    if (a !== b) diff[k] = { baseline: a, end: b };
  }
  const seriesEqual = end.own_series_lines === base.own_series_lines && end.soak_function_lines === 0;
  const flat = span > 0 && perCycle <= opts.rssThreshold && fit <= opts.rssThreshold;
  const mib = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MiB`;
  const summary =
    `/metrics: ${end.own_series_lines} faasd_/gateway_ series after ${end.cycles} cycles vs ${base.own_series_lines} at the start ` +
    `(${seriesEqual ? 'equal' : 'DIFFERENT'}; ${end.soak_function_lines} lines name a deleted function). ` +
    `RSS from cycle ${warm.cycles} to ${end.cycles}: ${growth >= 0 ? '+' : ''}${mib(growth)}, ${perCycle.toFixed(0)} B/cycle (least-squares slope ${fit.toFixed(0)} B/cycle): ` +
    (span === 0 ? 'no span after warm-up' : flat ? `flat (at most ${opts.rssThreshold} B/cycle)` : `GROWS (more than ${opts.rssThreshold} B/cycle)`);
  return {
    baseline_own_series: base.own_series_lines,
    end_own_series: end.own_series_lines,
    series_equal: seriesEqual,
    series_diff: diff,
    end_soak_function_lines: end.soak_function_lines,
    metrics_bytes_baseline: base.metrics_bytes,
    metrics_bytes_end: end.metrics_bytes,
    stats_functions_end: end.stats.functions,
    rss_from_cycles: warm.cycles,
    rss_to_cycles: end.cycles,
    rss_growth_bytes: growth,
    rss_growth_per_cycle_bytes: perCycle,
    rss_slope_per_cycle_bytes: fit,
    heap_used_growth_bytes: end.heap_used_bytes !== null && warm.heap_used_bytes !== null ? end.heap_used_bytes - warm.heap_used_bytes : null,
    rss_threshold_per_cycle_bytes: opts.rssThreshold,
    rss_flat: flat,
    summary,
  };
}

const fmt = (v: number, d = 0) => v.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const mibs = (b: number | null) => (b === null ? '-' : fmt(b / 1024 / 1024, 1));

function renderMarkdown(r: SoakResults, jsonPath: string): string {
  const m = r.machine;
  const o = r.options;
  const L: string[] = [];
  L.push('# faasd soak: create, invoke, delete', '');
  L.push(
    `Written by \`node --import tsx bench/soak-functions.ts${o.invoke ? '' : ' --no-invoke'}\` on ${r.started_at.slice(0, 16).replace('T', ' ')} UTC in ${fmt(r.duration_s)} s ` +
      `(${fmt(r.cycles_per_s, 1)} cycles/s). Raw figures: [${jsonPath}](${jsonPath}).`,
    '',
    `Issue 11 item 5: a deleted function's metric series, stats window and log ring must go, so creating and deleting ` +
      `functions must grow neither the daemon's memory nor /metrics. ${fmt(r.cycles_done)} cycles, ${o.workers} at a time, of: create a ` +
      `process-mode function (Python; every ${o.nodeEvery}th one Node), ${o.invoke ? 'invoke it once (it prints a line: metric series, stats, a log line, an instance), ' : '(no invoke: --no-invoke), '}delete it. ` +
      `One resident Python function (min_instances 1, invoked once) is deployed before the first sample and stays: its series are the baseline's faasd_/gateway_ series, ` +
      "so the end must show exactly them (a delete drops the deleted function's series and no other). " +
      `Every ${fmt(o.sampleEvery)} cycles the workers stop, the process driver is let back to its ${r.daemon.prewarmed_process_instances} pre-warmed instances plus the resident one, and the bench reads ` +
      "the daemon's RSS (/proc/<pid>/status VmRSS, no GC forced: none can be from outside), the /metrics body, /stats and the open fds. " +
      "Heap used is the daemon's own `faasd_nodejs_heap_size_used_bytes` at that scrape (whatever the last GC left).",
  );
  L.push('', '## Machine', '', '| | |', '|---|---|');
  L.push(`| host | ${m.host} |`);
  L.push(`| CPU | ${m.cores} cores, ${m.cpu_model} |`);
  L.push(`| memory | ${fmt(m.memory_bytes / 1024 ** 3, 1)} GiB |`);
  L.push(`| kernel / OS | ${m.kernel} / ${m.os} |`);
  L.push(`| Node / Python | ${m.node} / ${m.python ?? '-'} |`);
  L.push(`| commit | \`${r.commit.hash}\`${r.commit.uncommitted_files > 0 ? ` + ${r.commit.uncommitted_files} uncommitted file(s) in src/ or runtimes/` : ''} |`);
  L.push(`| load average (1/5/15 min) start / end | ${r.load_average.start.map((v) => v.toFixed(2)).join(' ')} / ${r.load_average.end.map((v) => v.toFixed(2)).join(' ')} |`);
  L.push(
    `| faasd | child process (${o.daemon_entry === 'dist' ? '`node bin/faasd.js`' : '`node --import tsx src/cli.ts`'}), process mode, isolation ${r.daemon.isolation}, default pre-warm, log level info to a file |`,
  );
  L.push('', '## Samples', '');
  L.push(
    '| cycles | RSS MiB | /metrics bytes | series lines | faasd_/gateway_ series | lines naming a soak function | /stats functions | /stats instances | RSS: malloc brk heap / other anon / files MiB | V8 heap used / total MiB | open fds |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const s of r.samples) {
    L.push(
      `| ${fmt(s.cycles)} | ${mibs(s.rss_bytes)} | ${fmt(s.metrics_bytes)} | ${fmt(s.series_lines)} | ${fmt(s.own_series_lines)} | ${s.soak_function_lines} | ${s.stats.functions} | ${s.stats.instances} | ` +
        `${mibs(s.smaps.brk_heap_bytes)} / ${mibs(s.smaps.other_anon_bytes)} / ${mibs(s.smaps.file_bytes)} | ${mibs(s.heap_used_bytes)} / ${mibs(s.heap_total_bytes)} | ${s.open_fds} |`,
    );
  }
  const v = r.verdict;
  L.push('', '## Verdict', '');
  if (!v) L.push('No verdict: fewer than two samples.');
  else {
    L.push(
      `- /metrics: ${fmt(v.end_own_series)} faasd_/gateway_ series at the end, ${fmt(v.baseline_own_series)} at the start: **${v.series_equal ? 'equal' : 'different'}**; ${v.end_soak_function_lines} lines name a deleted function.`,
    );
    if (Object.keys(v.series_diff).length > 0)
      L.push(
        `  Differences by name: ${Object.entries(v.series_diff)
          .map(([k, d]) => `\`${k}\` ${d.baseline} → ${d.end}`)
          .join(', ')}.`,
      );
    L.push(`- /metrics body: ${fmt(v.metrics_bytes_baseline)} bytes at the start, ${fmt(v.metrics_bytes_end)} at the end (the Node.js runtime series change length, e.g. GC and handle counts).`);
    L.push(
      `- RSS from cycle ${fmt(v.rss_from_cycles)} (after warm-up) to ${fmt(v.rss_to_cycles)}: ${v.rss_growth_bytes >= 0 ? '+' : ''}${fmt(v.rss_growth_bytes / 1024 / 1024, 2)} MiB, ` +
        `${fmt(v.rss_growth_per_cycle_bytes)} B/cycle (least-squares slope over those samples: ${fmt(v.rss_slope_per_cycle_bytes)} B/cycle): **${v.rss_flat ? 'flat' : 'grows'}** (threshold ${v.rss_threshold_per_cycle_bytes} B/cycle).` +
        (v.heap_used_growth_bytes !== null ? ` Heap used over the same span: ${v.heap_used_growth_bytes >= 0 ? '+' : ''}${fmt(v.heap_used_growth_bytes / 1024 / 1024, 2)} MiB.` : ''),
    );
    L.push(`- /stats at the end: ${v.stats_functions_end} functions.`);
  }
  const errs = Object.entries(r.errors);
  L.push(`- Errors: ${errs.length === 0 ? 'none' : errs.map(([k, n]) => `${k} ${n}`).join(', ')}.`);
  if (r.probes.length > 0) {
    const p = r.probes;
    const ok = p.filter(
      (x) =>
        (!o.invoke || (x.alive.series_lines > 0 && x.alive.stats_invocations === 1 && x.alive.log_lines === 1 && x.alive.instances >= 1)) &&
        x.after_delete.series_lines === 0 &&
        x.after_delete.stats_status === 404,
    );
    L.push(
      `- Probes (${p.length} cycles checked in full): ${ok.length}/${p.length} had ${o.invoke ? 'series, stats, a log line and an instance while alive and ' : ''}no series and a 404 from /stats/functions/<name> after the delete` +
        (o.invoke ? ` (${[...new Set(p.map((x) => x.alive.series_lines))].join('/')} series lines per live function).` : '.'),
    );
  }
  return `${L.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  const opts = parse(process.argv.slice(2));
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const loadStart = loadAverage();
  const faasd = await Faasd.start({ entry: opts.daemonEntry, maxConcurrentFunctions: 1000, cpuProfDir: null });
  const soak = new Soak(opts, faasd, t0);
  soak.log(`faasd (pid ${faasd.pid}, ${faasd.entry}) at ${faasd.url}; ${opts.cycles} cycles, ${opts.workers} workers, sample every ${opts.sampleEvery}${opts.invoke ? '' : ', no invoke'}`);
  const onSignal = (sig: NodeJS.Signals) => {
    soak.log(`${sig}: removing the soak's functions and stopping faasd`);
    void soak
      .removeLeftovers()
      .catch(() => 0)
      .then(() => Promise.allSettled([...Faasd.running].map((d) => d.stop())))
      .finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  let cyclesDone = 0;
  let failure: Error | null = null;
  let isolation = 'strict';
  let driver = '';
  let runStart = 0;
  let runEnd = 0;
  try {
    const health = await faasd.health();
    driver = health.drivers.process?.detail ?? 'missing';
    isolation = /isolation (\w+)/.exec(driver)?.[1] ?? isolation;
    if (!health.drivers.process?.ok) throw new Error(`process driver unavailable: ${driver}`);
    await soak.init();
    await soak.sample(0);
    runStart = Date.now();
    for (let from = 0; from < opts.cycles; from += opts.sampleEvery) {
      const to = Math.min(opts.cycles, from + opts.sampleEvery);
      const segT0 = Date.now();
      await soak.segment(from, to);
      cyclesDone = to;
      runEnd = Date.now();
      soak.log(`cycles ${from + 1}-${to} in ${((runEnd - segT0) / 1000).toFixed(1)} s`);
      await soak.sample(to);
    }
  } catch (e) {
    failure = e as Error;
    soak.log(`stopped: ${failure.stack ?? failure.message}`);
  } finally {
    const left = await soak.removeLeftovers().catch(() => 0);
    if (left > 1) soak.log(`removed ${left - 1} function(s) left by an interrupted cycle, and ${RESIDENT}`);
    const logCopy = failure || soak.errorCount > 0 ? `/tmp/faasd-soak-${startedAt.replace(/[:.]/g, '-')}.log` : undefined;
    soak.log('stopping faasd');
    await faasd.stop(logCopy).catch((e: Error) => soak.log(`faasd stop: ${e.message}`));
    if (logCopy) soak.log(`errors: the daemon's log is kept at ${logCopy}`);
  }

  const results: SoakResults = {
    schema: 1,
    kind: 'soak-functions',
    started_at: startedAt,
    finished_at: new Date().toISOString(),
    duration_s: Math.round((Date.now() - t0) / 1000),
    options: {
      cycles: opts.cycles,
      sampleEvery: opts.sampleEvery,
      workers: opts.workers,
      nodeEvery: opts.nodeEvery,
      invoke: opts.invoke,
      daemonEntry: opts.daemonEntry,
      rssThreshold: opts.rssThreshold,
      daemon_entry: faasd.entry,
      mode: 'process',
      prewarm: 'default',
    },
    machine: machineInfo(),
    commit: commitInfo(),
    load_average: { start: loadStart, end: loadAverage() },
    daemon: { isolation, driver: driver.replace(/, \d+ instances$/, ''), prewarmed_process_instances: Math.max(0, (soak.samples[0]?.driver_instances ?? 1) - 1) },
    cycles_done: cyclesDone,
    cycles_per_s: runEnd > runStart ? cyclesDone / ((runEnd - runStart) / 1000) : 0,
    errors: soak.errors,
    first_errors: soak.firstErrors,
    samples: soak.samples,
    probes: soak.probes,
    verdict: null,
  };
  results.verdict = verdictOf(soak, opts);
  const host = results.machine.host.replace(/[^A-Za-z0-9_.-]/g, '_');
  const json = path.join(opts.outDir, 'results', `${startedAt.slice(0, 10)}-${host}-soak${opts.invoke ? '' : '-noinvoke'}.json`);
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  // SOAK.md is the full soak's page; a --no-invoke comparison run writes its JSON only.
  if (opts.invoke) {
    const md = path.join(opts.outDir, 'SOAK.md');
    fs.writeFileSync(md, renderMarkdown(results, path.relative(opts.outDir, json)));
    soak.log(`wrote ${md} and ${json}`);
  } else soak.log(`wrote ${json}`);
  if (results.verdict) process.stderr.write(`  ${results.verdict.summary}\n`);
  if (failure) throw failure;
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`soak failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
