// What of an HTTP request reaches a function, for /invoke and /async alike.
import type { FastifyInstance, FastifyRequest } from 'fastify';

// Never forwarded to a function: the caller's credentials, and hop-by-hop headers.
const DROP_REQUEST = new Set(['authorization', 'proxy-authorization', 'connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

export const EMPTY_BODY = Buffer.alloc(0);

/** Request headers a function sees (one string each; repeated ones joined as HTTP does). */
export function forwardedHeaders(req: FastifyRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined || DROP_REQUEST.has(k)) continue;
    headers[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return headers;
}

/** Function bodies are opaque bytes: no parsing in the gateway, any content type (this route scope only). */
export function acceptRawBodies(app: FastifyInstance): void {
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
}
