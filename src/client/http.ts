// The one HTTP client the commands share: the daemon's base URL and key, JSON in and out, and
// every failure turned into a ClientError the CLI prints as `faasd: <CODE>: <message>`.
// Node 20's global fetch (undici); nothing here knows any command.

/** A failure the CLI reports in one line: the daemon's error code and message, or our own. */
export class ClientError extends Error {
  constructor(
    readonly code: string,
    message: string,
    /** HTTP status when the daemon answered; undefined for local and network errors. */
    readonly status?: number,
    /** The daemon's whole error body (for --json). */
    readonly body?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}

export interface Connection {
  gateway: string;
  key: string;
  /** Where the key came from, for the "wrong key" message. */
  keySource: string;
}

export interface RequestOptions {
  json?: unknown;
  body?: Uint8Array | string;
  headers?: Record<string, string>;
  query?: Record<string, string | undefined>;
  signal?: AbortSignal;
}

/**
 * The daemon's error body as a ClientError. The gateway answers `{"error": "FunctionNotFound",
 * "message": "...", ...details}`; `{"error": {"code", "message"}}` is read too.
 */
export async function errorFrom(res: Response, conn: Connection): Promise<ClientError> {
  const text = await res.text().catch(() => '');
  let body: Record<string, unknown> | undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) body = parsed as Record<string, unknown>;
  } catch {
    // not JSON: a proxy's page, say
  }
  let code = `HTTP${res.status}`;
  let message = text.trim().slice(0, 500) || res.statusText || 'no message';
  const err = body?.error;
  if (typeof err === 'string') {
    code = err;
    if (typeof body?.message === 'string') message = body.message;
  } else if (err && typeof err === 'object') {
    const e = err as Record<string, unknown>;
    if (typeof e.code === 'string') code = e.code;
    if (typeof e.message === 'string') message = e.message;
  }
  if (res.status === 401) message += ` (the key from ${conn.keySource} was refused by ${conn.gateway}; give another with --key, FAASD_API_KEY or \`faasd login\`)`;
  if (res.status === 403) message += ` (the key from ${conn.keySource} lacks the scope this needs)`;
  return new ClientError(code, message, res.status, body);
}

function networkError(e: unknown, gateway: string): ClientError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const code = cause?.code ?? '';
  const why = code || cause?.message || (e as Error).message;
  const down = ['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'].includes(code);
  return new ClientError(
    'Unreachable',
    `cannot reach the faasd daemon at ${gateway} (${why})${down ? ': is it running? Start one with `faasd`, or point the client elsewhere with --gateway or FAASD_URL' : ''}`,
  );
}

export class FaasClient {
  readonly gateway: string;

  constructor(readonly conn: Connection) {
    this.gateway = conn.gateway.replace(/\/+$/, '');
  }

  url(path: string, query?: Record<string, string | undefined>): string {
    const u = new URL(this.gateway + path);
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) u.searchParams.set(k, v);
    return u.toString();
  }

  /** The raw response, whatever its status; a ClientError only when the daemon cannot be reached. */
  async request(method: string, path: string, opts: RequestOptions = {}): Promise<Response> {
    const url = this.url(path, opts.query);
    const headers: Record<string, string> = { authorization: `Bearer ${this.conn.key}`, ...(opts.headers ?? {}) };
    let body: Uint8Array | string | undefined = opts.body;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers['content-type'] ??= 'application/json';
    }
    try {
      return await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      throw networkError(e, this.gateway);
    }
  }

  /** A JSON answer, or the daemon's error as a ClientError. 204 gives null. */
  async call<T = Record<string, unknown>>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    if (!res.ok) throw await errorFrom(res, this.conn);
    if (res.status === 204) return null as T;
    const text = await res.text();
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ClientError('BadResponse', `${method} ${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`, res.status);
    }
  }

  errorFrom(res: Response): Promise<ClientError> {
    return errorFrom(res, this.conn);
  }
}
