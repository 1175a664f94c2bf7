import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from '../src/gateway/rate-limit.js';
import { startTestDaemon } from './helpers/daemon.js';

const OPS = { name: 'ops', key: 'ops-key-0123456789', scopes: ['manage', 'invoke'] };
const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function get(url: string, headers: Record<string, string> = {}): Promise<Response> {
  const res = await fetch(url, { headers, signal: AbortSignal.timeout(5000) });
  await res.arrayBuffer();
  return res;
}

/** Sends raw bytes on a fresh loopback socket and resolves with the response head (bounded by 5 s). */
function rawRequest(url: string, write: (s: net.Socket) => void): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: hostname, port: Number(port) });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no response within 5 s; got ${JSON.stringify(got)}`));
    }, 5000);
    const finish = () => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    s.on('connect', () => write(s));
    s.on('data', (d) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n') && /\r\n\r\n[\s\S]*\}/.test(got)) finish();
    });
    s.on('end', finish);
    s.on('error', (e) => {
      if (got) return finish();
      clearTimeout(timer);
      reject(e);
    });
  });
}

describe('TokenBucket', () => {
  it('allows a burst of capacity, then refills at rps tokens per second', () => {
    let t = 100;
    const b = new TokenBucket(5, 10, () => t);
    for (let i = 0; i < 10; i++) expect(b.take()).toBe(0);
    expect(b.take()).toBeGreaterThan(0);
    t += 0.4; // two tokens
    expect(b.take()).toBe(0);
    expect(b.take()).toBe(0);
    expect(b.take()).toBeGreaterThan(0);
    t += 100; // never more than capacity
    expect(b.remaining).toBe(10);
  });

  it('says how many seconds until the next token when empty', () => {
    let t = 0;
    const b = new TokenBucket(2, 1, () => t);
    expect(b.take()).toBe(0);
    expect(b.take()).toBeCloseTo(0.5, 6);
    t += 0.2;
    expect(b.take()).toBeCloseTo(0.3, 6);
    expect(b.secondsToFull).toBeCloseTo(0.3, 6);
  });

  it('cannot be built with rps 0: unlimited means no bucket at all', () => {
    expect(() => new TokenBucket(0, 10)).toThrow(RangeError);
  });
});

describe('per-key rate limit over a real socket', () => {
  it('a flood gets 429 with Retry-After and RateLimit headers, the rest 200, and once a token refills it works again', async () => {
    // 0.5 rps: a token every 2 s, so a loaded CI machine cannot refill one between the flood and the check after it.
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS], rate_limit: { default: { rps: 0.5, burst: 10 } } } });
    const t0 = performance.now();
    // All at once: even on a loaded machine they arrive far faster than the bucket refills.
    const results = await Promise.all(Array.from({ length: 40 }, () => get(`${d.url}/functions`, auth(OPS.key))));
    const elapsed = (performance.now() - t0) / 1000;
    const ok = results.filter((r) => r.status === 200);
    const limited = results.filter((r) => r.status === 429);
    expect(ok.length + limited.length).toBe(results.length);
    expect(ok.length).toBeGreaterThanOrEqual(10);
    expect(ok.length).toBeLessThanOrEqual(10 + Math.ceil(elapsed * 0.5) + 1);
    expect(limited.length).toBeGreaterThan(0);
    for (const r of limited) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(r.headers.get('ratelimit-limit')).toBe('10');
      expect(r.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(r.headers.get('ratelimit-reset'))).toBeGreaterThanOrEqual(1);
    }
    for (const r of ok) expect(r.headers.get('ratelimit-limit')).toBe('10');
    expect(Math.max(...ok.map((r) => Number(r.headers.get('ratelimit-remaining'))))).toBe(9);
    const body = await (await fetch(`${d.url}/functions`, { headers: auth(OPS.key) })).json();
    expect(body).toMatchObject({ error: 'TooManyRequests' });
    // Refused requests are counted by key for /stats and /metrics.
    expect(d.observability.stats.rateLimited).toBe(limited.length + 1);

    await sleep(2100);
    expect((await get(`${d.url}/functions`, auth(OPS.key))).status).toBe(200);
  });

  it('a key with rps 0 is never limited', async () => {
    const free = { name: 'free', key: 'free-key-0123456789', scopes: ['manage'], rate_limit: { rps: 0, burst: 1 } };
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS, free], rate_limit: { default: { rps: 1, burst: 1 } } } });
    for (let i = 0; i < 50; i++) {
      const r = await get(`${d.url}/functions`, auth(free.key));
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBeNull();
    }
  });

  it('two keys have independent buckets', async () => {
    const other = { name: 'other', key: 'other-key-0123456789', scopes: ['manage'] };
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS, other], rate_limit: { default: { rps: 0.5, burst: 2 } } } });
    const a = [];
    for (let i = 0; i < 3; i++) a.push((await get(`${d.url}/functions`, auth(OPS.key))).status);
    expect(a).toEqual([200, 200, 429]);
    expect((await get(`${d.url}/functions`, auth(other.key))).status).toBe(200);
    expect((await get(`${d.url}/functions`, auth(other.key))).status).toBe(200);
  });

  it('a per-key limit overrides the default', async () => {
    const tight = { ...OPS, rate_limit: { rps: 0.5, burst: 1 } };
    const d = await startTestDaemon({ listen: true, config: { api_keys: [tight] } });
    expect((await get(`${d.url}/functions`, auth(OPS.key))).status).toBe(200);
    const r = await get(`${d.url}/functions`, auth(OPS.key));
    expect(r.status).toBe(429);
    expect(Number(r.headers.get('retry-after'))).toBe(2);
  });

  it('public routes such as /health are not key-limited', async () => {
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS], rate_limit: { default: { rps: 0.5, burst: 1 } } } });
    for (let i = 0; i < 20; i++) {
      const r = await get(`${d.url}/health`, auth(OPS.key));
      expect(r.status).toBe(200);
      expect(r.headers.get('ratelimit-limit')).toBeNull();
    }
  });
});

describe('brute-force protection per client IP', () => {
  it('25 wrong keys give 401s then 429s, and then even the right key is 429 until the bucket refills', async () => {
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS] } }); // 20 failures/minute
    const statuses: number[] = [];
    for (let i = 0; i < 25; i++) statuses.push((await get(`${d.url}/functions`, auth(`wrong-key-${i}`))).status);
    expect(statuses).toEqual([...Array(20).fill(401), ...Array(5).fill(429)]);
    const locked = await get(`${d.url}/functions`, auth(OPS.key));
    expect(locked.status).toBe(429);
    const retry = Number(locked.headers.get('retry-after'));
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(4); // one failure refills in 3 s at 20/minute
    // Public routes stay open to a locked-out address.
    expect((await get(`${d.url}/health`)).status).toBe(200);
    await sleep(retry * 1000 + 100);
    expect((await get(`${d.url}/functions`, auth(OPS.key))).status).toBe(200);
  });

  it('a scraper without credentials polling /metrics more often than the failure limit does not lock out the right keys of its host', async () => {
    const PROM = { name: 'prometheus', key: 'prom-key-0123456789', scopes: ['metrics'] };
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS, PROM], system: { metrics_auth: true } } }); // 20 failures/minute
    for (let i = 0; i < 30; i++) {
      const r = await get(`${d.url}/metrics`);
      expect(r.status).toBe(401);
      expect(r.headers.get('www-authenticate')).toContain('Bearer');
    }
    expect((await get(`${d.url}/functions`)).status).toBe(401); // nor on any other route
    expect((await get(`${d.url}/metrics`, auth(PROM.key))).status).toBe(200);
    expect((await get(`${d.url}/functions`, auth(OPS.key))).status).toBe(200);
  });

  it('wrong keys on /metrics count toward the lockout like wrong keys anywhere', async () => {
    const PROM = { name: 'prometheus', key: 'prom-key-0123456789', scopes: ['metrics'] };
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS, PROM], system: { metrics_auth: true } } });
    for (let i = 0; i < 20; i++) expect((await get(`${d.url}/metrics`, auth(`wrong-key-${i}`))).status).toBe(401);
    expect((await get(`${d.url}/metrics`, auth(PROM.key))).status).toBe(429);
    expect((await get(`${d.url}/functions`, auth(OPS.key))).status).toBe(429);
  });

  it('a spoofed X-Forwarded-For from an untrusted peer does not bypass the lockout', async () => {
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS] } });
    for (let i = 0; i < 20; i++) {
      expect((await get(`${d.url}/functions`, { ...auth('wrong-key'), 'x-forwarded-for': `198.51.100.${i}` })).status).toBe(401);
    }
    for (let i = 20; i < 30; i++) {
      expect((await get(`${d.url}/functions`, { ...auth(OPS.key), 'x-forwarded-for': `198.51.100.${i}` })).status).toBe(429);
    }
  });

  it('behind a trusted proxy the forwarded address is the client: one locked-out client does not lock out another', async () => {
    const d = await startTestDaemon({ listen: true, config: { api_keys: [OPS], rate_limit: { trusted_proxies: ['127.0.0.1'] } } });
    const from = (ip: string, key: string) => get(`${d.url}/functions`, { ...auth(key), 'x-forwarded-for': ip });
    for (let i = 0; i < 20; i++) expect((await from('203.0.113.7', 'wrong-key')).status).toBe(401);
    expect((await from('203.0.113.7', OPS.key)).status).toBe(429);
    expect((await from('203.0.113.8', 'wrong-key')).status).toBe(401);
    expect((await from('203.0.113.8', OPS.key)).status).toBe(200);
    // The proxy itself (no header) is its own client.
    expect((await get(`${d.url}/functions`, auth(OPS.key))).status).toBe(200);
  });
});

describe('request body limit', () => {
  const config = { api_keys: [OPS], system: { max_request_body: 2048 } };

  it('a Content-Length over max_request_body gets 413 before the body is sent', async () => {
    const d = await startTestDaemon({ listen: true, config });
    const head = await rawRequest(d.url, (s) => {
      s.write(`POST /invoke/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${OPS.key}\r\nContent-Type: application/octet-stream\r\nContent-Length: 10000000\r\n\r\n`);
      s.write(Buffer.alloc(1024, 0x61)); // 1 KB of the announced 10 MB
    });
    expect(head).toMatch(/^HTTP\/1\.1 413 /);
    expect(head).toContain('"error":"PayloadTooLarge"');
  });

  it('a chunked body that grows past max_request_body gets 413', async () => {
    const d = await startTestDaemon({ listen: true, config });
    const head = await rawRequest(d.url, (s) => {
      s.write(`POST /invoke/x HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${OPS.key}\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n`);
      for (let i = 0; i < 4; i++) s.write(`400\r\n${'a'.repeat(1024)}\r\n`); // 4 KB, never terminated
    });
    expect(head).toMatch(/^HTTP\/1\.1 413 /);
  });
});
