// The console's only way to the daemon: the public HTTP API, with the signed-in key as a
// bearer header. Errors come back as ApiError with the API's own code, message and field.

export type Scope = 'invoke' | 'manage' | 'admin' | 'metrics';

export interface Whoami {
  name: string;
  scopes: Scope[];
}

export interface InstanceCounts {
  [state: string]: number;
}

/** A function's traffic, as GET /functions?stats=true and GET /stats/functions/:name count it. */
export interface Traffic {
  invocations: { total: number; errors: number; cold_starts: number; prewarmed_starts: number };
  latency_ms: Percentiles;
}

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
  /** With ?stats=true, on daemons that have it. */
  stats?: Traffic;
}

export interface FunctionConfig {
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

export interface FunctionDetails extends FunctionSummary {
  code: string;
  config: FunctionConfig;
  /** Multi-file functions (when the API has them). */
  files?: { path: string; size: number }[];
  digest?: string;
}

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99?: number | null;
}

export interface Stats {
  uptime_seconds: number;
  functions: { total: number; by_mode: Record<string, number> };
  instances: { total: number; by_state: Record<string, number> };
  invocations: { total: number; errors: number; cold_starts: number; prewarmed_starts: number };
  rate_limited: number;
  async: { queued: number; running: number; oldest_job_age_seconds: number | null };
  latency_ms: Percentiles;
}

export interface FunctionStats extends Traffic {
  name: string;
  version: number;
  mode: string;
  cold_start_ms: Percentiles;
  queue_depth: number;
  instances: { id: string; state: string; invocations: number; cpu_seconds: number | null; memory_bytes: number | null }[];
}

export interface InstanceInfo {
  id: string;
  function: string;
  version: number;
  mode: string;
  state: string;
  age_seconds: number;
  invocations: number;
}

export interface LogLine {
  time: string;
  request_id: string | null;
  line: string;
}

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

export interface Health {
  status: string;
  drivers: Record<string, { ok: boolean; detail?: string }>;
  default_mode: string;
  using_demo_keys: boolean;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    /** The API's error name (FunctionNotFound, BadRequest, ...), or Network. */
    readonly code: string,
    message: string,
    /** What the API said the error is about: a field (config.memory), a file and line, ... */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }

  get field(): string | undefined {
    return typeof this.details.field === 'string' ? this.details.field : undefined;
  }

  /** The route is not in this daemon's API (an older faasd): the feature is hidden. */
  get routeMissing(): boolean {
    return this.status === 404 && this.code === 'NotFound';
  }
}

export async function errorFrom(res: Response): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown };
    if (body && typeof body.error === 'string') {
      const { error, message, ...details } = body as Record<string, unknown>;
      return new ApiError(res.status, String(error), typeof message === 'string' ? message : res.statusText, details);
    }
  } catch {
    // not JSON: the status line says it
  }
  return new ApiError(res.status, `HTTP${res.status}`, text.slice(0, 300) || `${res.status} ${res.statusText}`);
}

export class Api {
  constructor(
    private readonly key: string,
    /** Called when the key stops working (revoked, daemon restarted with other keys). */
    private readonly onUnauthorized: () => void = () => {},
  ) {}

  /** A raw request: the Response whatever its status (invoke shows them all). */
  async fetch(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${this.key}`);
    try {
      return await fetch(path, { ...init, headers, credentials: 'omit', cache: 'no-store' });
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      throw new ApiError(0, 'Network', 'faasd did not answer: is the daemon running?');
    }
  }

  async json<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const init: RequestInit = { method };
    if (signal) init.signal = signal;
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const res = await this.fetch(path, init);
    if (!res.ok) {
      const err = await errorFrom(res);
      if (res.status === 401) this.onUnauthorized();
      throw err;
    }
    if (res.status === 204) return undefined as T;
    return (await res.json()) as T;
  }

  get<T>(path: string, signal?: AbortSignal): Promise<T> {
    return this.json<T>('GET', path, undefined, signal);
  }

  whoami = () => this.get<Whoami>('/whoami');
  functions = (stats = false) => this.get<{ functions: FunctionSummary[]; count: number }>(`/functions${stats ? '?stats=true' : ''}`).then((r) => r.functions);
  fn = (name: string) => this.get<FunctionDetails>(`/functions/${enc(name)}`);
  create = (body: Record<string, unknown>) => this.json<FunctionDetails>('POST', '/functions', body);
  update = (name: string, body: Record<string, unknown>) => this.json<FunctionDetails>('PUT', `/functions/${enc(name)}`, body);
  remove = (name: string) => this.json<void>('DELETE', `/functions/${enc(name)}`);
  stats = () => this.get<Stats>('/stats');
  fnStats = (name: string) => this.get<FunctionStats>(`/stats/functions/${enc(name)}`);
  instances = () => this.get<{ instances: InstanceInfo[] }>('/instances').then((r) => r.instances);
  stopInstance = (id: string) => this.json<void>('DELETE', `/instances/${enc(id)}`);
  logs = (name: string, since?: string) => this.get<{ lines: LogLine[] }>(`/functions/${enc(name)}/logs?limit=500${since ? `&since=${encodeURIComponent(since)}` : ''}`).then((r) => r.lines);
  versions = (name: string) => this.get<{ live: number; versions: VersionInfo[] }>(`/functions/${enc(name)}/versions`);
  rollback = (name: string, version: number) => this.json<FunctionDetails>('POST', `/functions/${enc(name)}/rollback`, { version });
}

export function enc(s: string): string {
  return encodeURIComponent(s);
}

/** Public: says whether the quick-start keys are in force and which modes run. */
export async function health(): Promise<Health | null> {
  try {
    const res = await fetch('/health', { cache: 'no-store', credentials: 'omit' });
    return (await res.json()) as Health;
  } catch {
    return null;
  }
}
