// Traffic protection in the gateway: a token bucket per API key (after auth), and a
// brute-force lockout per client IP (before auth). Both run in onRequest, before the body
// is read, and touch nothing but in-memory maps: a refused request costs a map lookup.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { FaasError } from '../errors.js';
import type { ApiKeyConfig, RateLimitSpec } from '../config/schema.js';

/** Seconds on a monotonic clock: wall-clock jumps (NTP, DST) must not mint or eat tokens. */
export const monotonicSeconds = (): number => performance.now() / 1000;

/**
 * A bucket of `capacity` tokens refilled at `rps` tokens per second. Refill is lazy (computed
 * on each call from the time elapsed), so an idle bucket costs no timer.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rps: number,
    readonly capacity: number,
    private readonly now: () => number = monotonicSeconds,
  ) {
    if (!(rps > 0)) throw new RangeError('TokenBucket needs rps > 0 (rps 0 means no bucket at all)');
    if (!(capacity >= 1)) throw new RangeError('TokenBucket needs a capacity of at least 1');
    this.tokens = capacity;
    this.last = now();
  }

  private refill(): void {
    const t = this.now();
    if (t > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (t - this.last) * this.rps);
      this.last = t;
    }
  }

  /** Takes one token: 0 when allowed, else the seconds until a token is available. */
  take(): number {
    this.refill();
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return (1 - this.tokens) / this.rps;
  }

  /** Seconds until a token is available without taking one (0 = one is there now). */
  peek(): number {
    this.refill();
    return this.tokens >= 1 ? 0 : (1 - this.tokens) / this.rps;
  }

  /** Whole tokens left right now. */
  get remaining(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  /** Seconds until the bucket is full again. */
  get secondsToFull(): number {
    this.refill();
    return (this.capacity - this.tokens) / this.rps;
  }

  get full(): boolean {
    this.refill();
    return this.tokens >= this.capacity;
  }
}

/** A per-key spec without burst gets the same default as rate_limit.default (2 s worth). */
function burstOf(spec: RateLimitSpec): number {
  return spec.burst ?? Math.max(1, Math.ceil(spec.rps * 2));
}

function bucketFor(spec: RateLimitSpec, now: () => number): TokenBucket | null {
  return spec.rps > 0 ? new TokenBucket(spec.rps, burstOf(spec), now) : null;
}

export interface RateLimitOptions {
  default: RateLimitSpec;
  apiKeys: readonly ApiKeyConfig[];
  /** Called once per refused request, with the key's name (metrics count these). */
  onLimited?: (keyName: string) => void;
  now?: () => number;
}

export interface RateLimiter {
  readonly limitedCount: number;
}

/**
 * Per-API-key limit. Register AFTER registerAuth: onRequest hooks run in registration order,
 * and this one reads req.apiKey. Public routes (health; metrics without metrics_auth) are not
 * limited.
 */
export function registerRateLimit(app: FastifyInstance, opts: RateLimitOptions): RateLimiter {
  const now = opts.now ?? monotonicSeconds;
  const onLimited = opts.onLimited ?? (() => {});
  // null = unlimited (rps 0). Keyed by name: names are unique (config/load.ts checks).
  const buckets = new Map<string, TokenBucket | null>();
  for (const k of opts.apiKeys) buckets.set(k.name, bucketFor(k.rate_limit ?? opts.default, now));
  let limitedCount = 0;

  app.addHook('onRequest', (req, reply, done) => {
    const key = req.apiKey;
    if (!key || !req.routeOptions.config?.scope) return done();
    let bucket = buckets.get(key.name);
    if (bucket === undefined) {
      bucket = bucketFor(key.rateLimit ?? opts.default, now);
      buckets.set(key.name, bucket);
    }
    if (!bucket) return done();
    const wait = bucket.take();
    // IETF draft-ietf-httpapi-ratelimit-headers: limit = burst, reset = seconds until full.
    reply.header('RateLimit-Limit', String(bucket.capacity));
    reply.header('RateLimit-Remaining', String(bucket.remaining));
    reply.header('RateLimit-Reset', String(Math.ceil(bucket.secondsToFull)));
    if (wait === 0) return done();
    limitedCount += 1;
    onLimited(key.name);
    done(
      new FaasError('RATE_LIMITED', `the key "${key.name}" is over its rate limit of ${bucket.rps} requests/s (burst ${bucket.capacity}); retry after ${Math.ceil(wait)} s`, {
        retryAfter: wait,
        details: { retry_after: Math.max(1, Math.ceil(wait)) },
      }),
    );
  });
  return {
    get limitedCount() {
      return limitedCount;
    },
  };
}

export interface AuthLockoutOptions {
  /** Failed authentications allowed per IP per minute (a bucket of N refilling N/60 per s). */
  failuresPerMinute: number;
  /** Most IPs tracked at once; past it, full buckets go first, then the oldest. */
  maxTrackedIps?: number;
  /** How often buckets that are full again are forgotten, ms. */
  sweepIntervalMs?: number;
  now?: () => number;
}

export interface AuthLockout {
  /** Pass to registerAuth: each wrong key takes a token from the caller's IP (no key: none). */
  onAuthFailure(req: FastifyRequest): void;
  readonly lockedOutCount: number;
  readonly trackedIps: number;
}

/**
 * Brute-force protection per client IP (req.ip, which honours X-Forwarded-For only from
 * rate_limit.trusted_proxies via Fastify's trustProxy). Register BEFORE registerAuth so a
 * locked-out client is refused before its key is even compared: it cannot keep guessing.
 */
export function registerAuthLockout(app: FastifyInstance, opts: AuthLockoutOptions): AuthLockout {
  const now = opts.now ?? monotonicSeconds;
  const perMinute = opts.failuresPerMinute;
  const maxIps = opts.maxTrackedIps ?? 10_000;
  const failures = new Map<string, TokenBucket>();
  let lockedOutCount = 0;

  const sweep = (): void => {
    for (const [ip, b] of failures) if (b.full) failures.delete(ip);
  };
  // A full bucket says nothing a fresh one would not: forgetting it bounds memory to the
  // IPs that failed within the last minute or so.
  const timer = setInterval(sweep, opts.sweepIntervalMs ?? 60_000);
  timer.unref();
  app.addHook('onClose', (_app, done) => {
    clearInterval(timer);
    done();
  });

  app.addHook('onRequest', (req, reply, done) => {
    // No failures tracked (the common case): nothing to look up, not even the client address.
    if (failures.size === 0 || !req.routeOptions.config?.scope) return done();
    const b = failures.get(req.ip);
    const wait = b ? b.peek() : 0;
    if (wait === 0) return done();
    lockedOutCount += 1;
    reply.header('RateLimit-Limit', String(perMinute));
    reply.header('RateLimit-Remaining', '0');
    reply.header('RateLimit-Reset', String(Math.ceil(wait)));
    done(
      new FaasError('RATE_LIMITED', `too many failed authentications from this address; retry after ${Math.ceil(wait)} s`, {
        retryAfter: wait,
        details: { retry_after: Math.max(1, Math.ceil(wait)) },
      }),
    );
  });

  return {
    onAuthFailure(req) {
      const ip = req.ip;
      let b = failures.get(ip);
      if (!b) {
        if (failures.size >= maxIps) {
          sweep();
          // Still full of active offenders: drop the oldest (Map keeps insertion order).
          if (failures.size >= maxIps) failures.delete(failures.keys().next().value!);
        }
        b = new TokenBucket(perMinute / 60, perMinute, now);
        failures.set(ip, b);
      }
      b.take();
    },
    get lockedOutCount() {
      return lockedOutCount;
    },
    get trackedIps() {
      return failures.size;
    },
  };
}
