// The web console at /ui: static files built from ui/ by scripts/build-ui.mjs into dist/ui.
// The files are public (no key: a browser cannot send one for a page load); every piece of
// data the console shows comes through the authenticated API with the key the user signs in
// with. Strict Content-Security-Policy on every answer: scripts and styles from this origin
// only, requests to this origin only, no frames, no forms that submit anywhere.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';

/** dist/ui of this package, from src/gateway/routes (tests) or dist/gateway/routes (built). */
export const UI_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'dist', 'ui');
const NONCE_MARK = '__CSP_NONCE__';
/** Scripts, styles and the icon are not documents: nothing in them may load anything. */
const ASSET_CSP = "default-src 'none'; frame-ancestors 'none'";

function csp(nonce: string): string {
  return [
    "default-src 'none'",
    "script-src 'self'",
    // CodeMirror 6 writes its editor theme into a <style> element at run time (style-mod).
    // A per-response nonce allows exactly those elements, and no 'unsafe-inline': the bundle
    // reads the nonce from its own <script> tag and hands it to EditorView.cspNonce.
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    "base-uri 'none'",
    // Nothing is ever submitted by the browser itself: a sign-in form can never put a key in a URL.
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function secure(reply: FastifyReply, nonce: string): void {
  reply.header('content-security-policy', csp(nonce));
  reply.header('x-content-type-options', 'nosniff');
  reply.header('referrer-policy', 'no-referrer');
  reply.header('cross-origin-opener-policy', 'same-origin');
}

export async function uiRoutes(app: FastifyInstance, opts: { dir?: string } = {}): Promise<void> {
  const dir = opts.dir ?? UI_DIR;
  if (!fs.existsSync(path.join(dir, 'index.html'))) app.log.warn({ dir }, 'the web console is not built (npm run build): /ui answers 503');
  // Read again when a rebuild replaces it (the old hashed bundle it names is gone by then).
  let page: { text: string; mtimeMs: number } | null = null;
  const index = async (_req: unknown, reply: FastifyReply) => {
    const file = path.join(dir, 'index.html');
    try {
      const { mtimeMs } = await fs.promises.stat(file);
      if (page?.mtimeMs !== mtimeMs) page = { text: await fs.promises.readFile(file, 'utf8'), mtimeMs };
    } catch {
      reply.code(503).type('text/plain; charset=utf-8');
      return 'The web console is not built: run "npm run build" (scripts/install.sh does), then reload.\n';
    }
    const nonce = crypto.randomBytes(16).toString('base64');
    secure(reply, nonce);
    // The page names the hashed bundle of this build: always revalidated, never stale.
    reply.header('cache-control', 'no-cache').type('text/html; charset=utf-8');
    return page.text.replaceAll(NONCE_MARK, nonce);
  };
  app.get('/ui', index);
  app.get('/ui/', index);

  // Hashed file names (app-3FQ2K7.js): a new build is a new URL, so a year and immutable.
  await app.register(fastifyStatic, {
    root: path.join(dir, 'assets'),
    prefix: '/ui/assets/',
    decorateReply: false,
    preCompressed: true,
    maxAge: '365d',
    immutable: true,
    suppressWarning: true,
    setHeaders: (reply) => {
      reply.header('content-security-policy', ASSET_CSP);
      reply.header('x-content-type-options', 'nosniff');
    },
  });
}
