// The console's only way to the daemon: the public HTTP API, with the signed-in key as a
// bearer header. Errors come back as ApiError with the API's own code, message and field.

// The API's answers: one set of types shared with the CLI (type-only: nothing is bundled).
import type {
  ApiFunctionConfig,
  FunctionDetails,
  FunctionStats,
  FunctionSummary,
  InstanceCounts,
  InstanceInfo,
  LogLine,
  Percentiles,
  PlatformStats,
  Scope,
  Traffic,
  VersionInfo,
  Whoami,
} from '../../src/model/api-types';

export type { ApiFunctionConfig as FunctionConfig, FunctionDetails, FunctionStats, FunctionSummary, InstanceCounts, InstanceInfo, LogLine, Percentiles, Scope, Traffic, VersionInfo, Whoami };
export type Stats = PlatformStats;

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
