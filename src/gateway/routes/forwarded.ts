// What of an HTTP request reaches a function, for /invoke and /async alike, and which version.
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { badRequest } from '../../errors.js';

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

const VERSION_RE = /^[1-9][0-9]{0,8}$/;

/** The function and version a call names: `name@N` in the URL or an X-Faas-Version: N header (null: the live one). */
export function versionAsked(raw: string, header: string | string[] | undefined): { name: string; version: number | null } {
  const at = raw.indexOf('@');
  const name = at < 0 ? raw : raw.slice(0, at);
  const fromPath = at < 0 ? undefined : raw.slice(at + 1);
  const fromHeader = Array.isArray(header) ? header[0] : header;
  for (const [field, v] of [
    ['version', fromPath],
    ['x-faas-version', fromHeader],
  ] as const) {
    if (v !== undefined && !VERSION_RE.test(v)) throw badRequest(field, `${field} must be a version number such as 3, got ${JSON.stringify(v)}`);
  }
  if (fromPath !== undefined && fromHeader !== undefined && fromPath !== fromHeader) {
    throw badRequest('x-faas-version', `the URL names version ${fromPath} and X-Faas-Version ${fromHeader}: send one`);
  }
  const v = fromPath ?? fromHeader;
  return { name, version: v === undefined ? null : Number(v) };
}
