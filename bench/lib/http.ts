// A small HTTP client for control calls and single timed requests (deploys, cold starts,
// baselines). One keep-alive connection per client, so a timed request never includes a
// TCP handshake; the load runs use autocannon instead.
import http from 'node:http';

export interface HttpResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** Request written to last byte of the response read, ms. */
  ms: number;
}

export class HttpClient {
  private readonly agent: http.Agent;

  constructor(
    readonly baseUrl: string,
    private readonly defaultHeaders: Record<string, string> = {},
    maxSockets = 4,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  request(method: string, path: string, opts: { body?: unknown; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<HttpResponse> {
    const body = opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
    const headers: Record<string, string> = { ...this.defaultHeaders, ...(opts.headers ?? {}) };
    if (body !== undefined) {
      headers['content-type'] ??= 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const url = new URL(path, this.baseUrl);
    return new Promise((resolve, reject) => {
      const t0 = performance.now();
      const req = http.request(url, { method, headers, agent: this.agent, timeout: opts.timeoutMs ?? 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), ms: performance.now() - t0 }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out after ${(opts.timeoutMs ?? 60_000) / 1000}s`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** The message of a faasd JSON error body, or the raw text. */
export function errorMessage(res: HttpResponse): string {
  try {
    const j = JSON.parse(res.body) as { message?: string; error?: string };
    return j.message ?? j.error ?? res.body;
  } catch {
    return res.body.slice(0, 300);
  }
}
