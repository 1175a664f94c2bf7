// Bearer-key authentication and scopes. Keys are stored as SHA-256 digests and compared in
// constant time against every configured key (no early exit), so neither the key's content
// nor which key matched leaks through timing.
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { FaasError } from '../errors.js';
import type { ApiKeyConfig, RateLimitSpec, Scope } from '../config/schema.js';

export interface AuthenticatedKey {
  name: string;
  scopes: ReadonlySet<Scope>;
  rateLimit?: RateLimitSpec;
}

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: AuthenticatedKey | null;
  }
  interface FastifyContextConfig {
    /** Scope a route needs; 'any' = any valid key (GET /whoami); undefined = public route. */
    scope?: Scope | 'any';
  }
}

interface StoredKey {
  digest: Buffer;
  key: AuthenticatedKey;
}

/** Valid keys remembered by their text (KeyRing.lookup): at most this many. */
const CACHED_KEYS = 64;

export class KeyRing {
  private readonly keys: StoredKey[];
  /**
   * Keys that matched, by their text: a repeat request skips the SHA-256 and the comparisons.
   * Only valid keys are kept (a guess always pays the full constant-time path), and the ring
   * is built once from the config, so a key removed from it (a restart) is gone from here too.
   * Bounded: cleared when full.
   */
  private readonly known = new Map<string, AuthenticatedKey>();

  constructor(configured: readonly ApiKeyConfig[]) {
    this.keys = configured.map((k) => {
      const key: AuthenticatedKey = { name: k.name, scopes: new Set(k.scopes) };
      if (k.rate_limit) key.rateLimit = k.rate_limit;
      return {
        digest: k.key_sha256
          ? Buffer.from(k.key_sha256.toLowerCase(), 'hex')
          : crypto
              .createHash('sha256')
              .update(k.key ?? '')
              .digest(),
        key,
      };
    });
  }

  lookup(token: string): AuthenticatedKey | null {
    const cached = this.known.get(token);
    if (cached) return cached;
    const digest = crypto.hash('sha256', token, 'buffer');
    let found: AuthenticatedKey | null = null;
    for (const k of this.keys) {
      if (crypto.timingSafeEqual(digest, k.digest)) found = k.key;
    }
    if (found) {
      if (this.known.size >= CACHED_KEYS) this.known.clear();
      this.known.set(token, found);
    }
    return found;
  }
}

const BEARER_RE = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

export function extractBearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = BEARER_RE.exec(header);
  return m ? m[1]! : null;
}

function unauthorized(reply: FastifyReply, message: string, error?: string): FaasError {
  reply.header('WWW-Authenticate', error ? `Bearer realm="faasd", error="${error}"` : 'Bearer realm="faasd"');
  return new FaasError('UNAUTHORIZED', message);
}

/**
 * Registers the onRequest hook on `app` (call before routes; not encapsulated on purpose).
 * `onWrongKey` is called for a key that is presented and unknown: a guess. A request with no
 * Bearer key at all (a scraper or health checker not yet given one, a browser) cannot be a
 * guess and is answered 401 without it, so it cannot lock out the right keys of its host.
 */
export function registerAuth(app: FastifyInstance, ring: KeyRing, onWrongKey?: (req: FastifyRequest) => void): void {
  app.decorateRequest('apiKey', null);
  // Callback style: this runs on every request, and an async hook costs a promise each time.
  app.addHook('onRequest', (req, reply, done) => {
    const scope = req.routeOptions.config?.scope;
    if (!scope) return done();
    const token = extractBearer(req.headers.authorization);
    if (!token) return done(unauthorized(reply, 'an API key is required: send "Authorization: Bearer <key>"'));
    const key = ring.lookup(token);
    if (!key) {
      onWrongKey?.(req);
      return done(unauthorized(reply, 'the API key is not valid', 'invalid_token'));
    }
    req.apiKey = key;
    if (scope !== 'any' && !key.scopes.has(scope)) {
      return done(new FaasError('FORBIDDEN', `the key "${key.name}" lacks the "${scope}" scope this route needs`, { details: { required_scope: scope } }));
    }
    done();
  });
}
