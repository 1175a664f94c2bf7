// The HTTP API's answers as TypeScript types, for its clients in this repository: the CLI
// (src/client) and the web console (ui/, which imports these types only, so nothing of the
// daemon is bundled). The JSON schemas the server serializes with are in
// src/gateway/api-schemas.ts; keep the two in step. No imports: the console's type check
// reads this file with browser typings.

export type Scope = 'invoke' | 'manage' | 'admin' | 'metrics';

/** GET /whoami */
export interface Whoami {
  name: string;
  scopes: Scope[];
}

/** Instances of a function by state (total, starting, idle, busy, stopping). */
export interface InstanceCounts {
  [state: string]: number;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99?: number | null;
}

/** A function's traffic, as GET /functions?stats=true and GET /stats/functions/:name count it. */
export interface Traffic {
  invocations: { total: number; errors: number; cold_starts: number; prewarmed_starts: number };
  latency_ms: Percentiles;
}

/** An entry of GET /functions. */
export interface FunctionSummary {
  name: string;
  runtime: string;
  handler: string | null;
  version: number;
  execution_mode: string;
  source: string;
  created_at: string;
  updated_at: string;
  instances: InstanceCounts;
  /** With ?stats=true. */
  stats?: Traffic;
}

/** A function's config as the API answers it (defaults filled in; keys this client does not know pass through). */
export interface ApiFunctionConfig {
  execution_mode: string;
  timeout: number;
  memory: string;
  cpu_limit: string;
  dependencies: string[];
  environment: Record<string, string>;
  min_instances: number;
  max_instances: number;
  network: string;
  max_concurrency: number;
  [key: string]: unknown;
}

/** GET /functions/:name, and what create, update and rollback answer. */
export interface FunctionDetails extends FunctionSummary {
  code: string;
  config: ApiFunctionConfig;
  files?: { path: string; size: number }[];
  digest?: string;
}

/** GET /stats */
export interface PlatformStats {
  uptime_seconds: number;
  functions: { total: number; by_mode: Record<string, number> };
  instances: { total: number; by_state: Record<string, number> };
  invocations: { total: number; errors: number; cold_starts: number; prewarmed_starts: number };
  rate_limited: number;
  async: { queued: number; running: number; oldest_job_age_seconds: number | null };
  latency_ms: Percentiles;
}

/** GET /stats/functions/:name */
export interface FunctionStats extends Traffic {
  name: string;
  version: number;
  mode: string;
  cold_start_ms: Percentiles;
  queue_depth: number;
  async: { queued: number; running: number; oldest_job_age_seconds?: number | null };
  instances: { id: string; state: string; invocations: number; cpu_seconds: number | null; memory_bytes: number | null }[];
}

/** An entry of GET /instances. */
export interface InstanceInfo {
  id: string;
  /** The function, or name@version for a pinned version's instance. */
  function: string;
  version: number;
  mode: string;
  state: string;
  pid: number | null;
  container_id: string | null;
  age_seconds: number;
  idle_seconds: number;
  invocations: number;
}

/** A line a function printed (GET /functions/:name/logs). */
export interface LogLine {
  time: string;
  request_id: string | null;
  line: string;
}

/** An entry of GET /functions/:name/versions. */
export interface VersionInfo {
  version: number;
  created_at: string;
  created_by?: string | null;
  digest?: string;
  change?: string | null;
  live: boolean;
  /** false: only the record is kept, not the content (no rollback to it). */
  retained?: boolean;
}
