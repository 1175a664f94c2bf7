// The shape of bench/results/<date>-<host>.json (and what RESULTS.md is rendered from).
import type { Mode, Runtime } from './daemon.js';
import type { LoadFigure } from './load.js';
import type { CommitInfo, MachineInfo } from './machine.js';
import type { Summary } from './stats.js';

export type Combo = `${Mode}/${Runtime}`;
export const combo = (mode: Mode, runtime: Runtime): Combo => `${mode}/${runtime}`;

/** A figure, or why there is none (a mode not available here, a failure, the time budget). */
export type Outcome<T> = { status: 'ok'; data: T } | { status: 'unavailable' | 'error' | 'skipped'; reason: string };

export interface WarmResults {
  body_bytes: number;
  ceiling: Outcome<LoadFigure[]>;
  /** Cloudflare's workerd running the same echo as a Worker (bench/servers/workerd/), same load, same run. */
  workerd?: Outcome<LoadFigure[]>;
  /** The floor of a process-per-call gateway (bench/servers/two-hop.ts): the ceiling plus one Unix-socket hop to a bare Python loop. */
  two_hop?: Outcome<LoadFigure[]>;
  faasd: Partial<Record<Combo, Outcome<LoadFigure[]>>>;
}

export interface SleepVariant {
  load: LoadFigure;
  /** p95 minus the sleep, per run. */
  p95_overhead_ms: Summary;
}

export interface SleepFigure {
  /** autocannon: every client starts at once, and they stay in phase (each call takes the same 0.5 s). */
  lockstep: SleepVariant;
  /** Clients start 0.5 s / N apart, so arrivals spread over the call time. */
  staggered: SleepVariant;
}

export interface SleepResults {
  clients: number;
  sleep_ms: number;
  /** The ceiling server's /sleep route: the same wait in-process, no gateway. */
  ceiling: Outcome<SleepFigure>;
  faasd: Partial<Record<Combo, Outcome<SleepFigure>>>;
  /** The same clients served by 2 instances of an async function with `concurrency` = clients / 2. */
  concurrent?: { instances: number; concurrency: number; faasd: Partial<Record<Combo, Outcome<SleepFigure & { instances_seen: number }>>> };
}

export interface ColdFigure {
  n: number;
  samples_ms: number[];
  p50: number;
  p95: number;
  min: number;
  max: number;
  /** faasd only: how long POST /functions took (code written, registry row), p50. */
  deploy_p50_ms?: number;
  /** faasd only: how each first call was served (x-faas-start: prewarmed or cold). */
  start_kinds?: Record<string, number>;
  /** faasd only: the second call to each function, on the instance the first one started (x-faas-start: warm). */
  warm?: { n: number; p50: number; p95: number; min: number; max: number };
}

/** A burst of deploys (`n` within `window_ms`), each function called once as soon as it is deployed. */
export interface BurstFigure {
  n: number;
  window_ms: number;
  start_kinds: Record<string, number>;
  prewarmed_share: number;
  first_call_p50: number;
  first_call_p95: number;
}

/** The standing container pool of the second burst figure: 10 generic containers per runtime, up to 12 (~8 MiB of anonymous memory each while idle). */
export const STANDING_POOL = { python: 10, node: 10, max: 12 } as const;

export type BaselineKey = `spawn/${Runtime}` | `docker-run/${Runtime}`;

export interface ColdResults {
  /** faasd's default config: a cold start takes a pre-warmed generic instance when one is ready. */
  faasd: Partial<Record<Combo, Outcome<ColdFigure>>>;
  /** A second daemon with prewarm 0: every first call starts an instance from nothing. */
  faasd_no_prewarm: Partial<Record<Combo, Outcome<ColdFigure>>>;
  baselines: Partial<Record<BaselineKey, Outcome<ColdFigure>>>;
  /** A burst of deploys against the default config's generic pool (issue 17, target 3). */
  burst?: Partial<Record<Combo, Outcome<BurstFigure>>>;
  /** The same burst in container mode against a daemon with a standing pool (STANDING_POOL in scenarios/cold.ts). */
  burst_standing_pool?: Partial<Record<Combo, Outcome<BurstFigure>>>;
}

export interface DensityFigure {
  /** Instances asked for (min_instances) and instances that were up; fewer when starts failed. */
  n_requested: number;
  n: number;
  /** Why starts failed (from the daemon's log), when n < n_requested. */
  start_failures?: string[];
  /** From deploy with min_instances N until all N were idle. */
  start_s: number;
  daemon_rss_before_bytes: number | null;
  daemon_rss_bytes: number | null;
  cgroup_bytes_per_instance: number | null;
  pss_bytes_per_instance: number | null;
  processes_per_instance: number | null;
  /** Container mode: the containerd-shim each container has on the host, outside its cgroup. */
  host_shim_pss_bytes_per_instance: number | null;
  health: LoadFigure;
  invoke: LoadFigure;
}

export interface DensityResults {
  faasd: Partial<Record<Combo, Outcome<DensityFigure>>>;
}

export type TargetStatus = 'met' | 'missed' | 'not measured';

export interface TargetResult {
  target: string;
  value: string;
  status: TargetStatus;
  note?: string;
}

export interface BenchResults {
  schema: 1;
  quick: boolean;
  started_at: string;
  finished_at: string;
  duration_s: number;
  options: { runs: number; duration_s: number; warmup_s: number; concurrencies: number[]; density_process: number; density_container: number; daemon_entry: string };
  machine: MachineInfo;
  commit: CommitInfo;
  load_average: { start: number[]; end: number[] };
  daemon: { log_level: string; isolation: string; drivers: Record<string, { ok: boolean; detail: string }> };
  warm?: Outcome<WarmResults>;
  sleep?: Outcome<SleepResults>;
  cold?: Outcome<ColdResults>;
  density?: Outcome<DensityResults>;
  targets: TargetResult[];
}
