// buildApp(deps): the Fastify gateway, separate from listening (tests use app.inject()).
import crypto from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { KeyRing, registerAuth } from './auth.js';
import type { AppDeps } from './deps.js';
import { registerSharedSchemas } from './api-schemas.js';
import { registerErrorHandling } from './error-handler.js';
import { registerOpenApi } from './openapi.js';
import { registerAuthLockout, registerRateLimit } from './rate-limit.js';
import { asyncRoutes } from './routes/async.js';
import { functionRoutes } from './routes/functions.js';
import { healthRoutes } from './routes/health.js';
import { instanceRoutes } from './routes/instances.js';
import { invokeRoutes } from './routes/invoke.js';
import { observabilityRoutes } from './routes/observability.js';
import { scheduleRoutes } from './routes/schedules.js';
import { secretRoutes } from './routes/secrets.js';
import { uiRoutes } from './routes/ui.js';
import { versionRoutes } from './routes/versions.js';
import { whoamiRoutes } from './routes/whoami.js';

// Request ids: 16 random hex digits, cut from a pooled random buffer (one getrandom() per 512
// requests instead of one per request).
const ID_BYTES = 8;
let idPool = Buffer.alloc(0);
let idOffset = 0;
function newRequestId(): string {
  if (idOffset + ID_BYTES > idPool.length) {
    idPool = crypto.randomBytes(ID_BYTES * 512);
    idOffset = 0;
  }
  idOffset += ID_BYTES;
  return idPool.toString('hex', idOffset - ID_BYTES, idOffset);
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const { system, rate_limit } = deps.config;
  const app = Fastify({
    // pino's Logger and fastify's base logger type differ only in generics.
    loggerInstance: deps.logger as unknown as FastifyBaseLogger,
    // One info line per request is ours (onResponse below), not fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
    // Never trust a client-sent request id; ours are random and short.
    requestIdHeader: false,
    genReqId: newRequestId,
    trustProxy: rate_limit.trusted_proxies.length > 0 ? [...rate_limit.trusted_proxies] : false,
    bodyLimit: system.max_request_body,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false } },
    return503OnClosing: true,
    forceCloseConnections: 'idle',
  });

  registerErrorHandling(app);
  // Order matters (onRequest hooks run as registered): IP lockout, then auth, then key limit.
  const lockout = registerAuthLockout(app, { failuresPerMinute: rate_limit.auth_failures_per_minute });
  registerAuth(app, new KeyRing(deps.config.api_keys), lockout.onAuthFailure);
  registerRateLimit(app, { default: rate_limit.default, apiKeys: deps.config.api_keys, onLimited: deps.onRateLimited ?? ((k) => deps.observability.rateLimited(k)) });

  // Callback-style hooks: they run on every request, and an async hook costs a promise each.
  app.addHook('onSend', (req, reply, payload, done) => {
    // An async enqueue answers with the job's id instead.
    if (!reply.hasHeader('x-faas-request-id')) reply.header('x-faas-request-id', req.id);
    done(null, payload);
  });
  app.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions.url;
    // Invocations are logged by the invoke route, with the function and how it started.
    if (route !== '/invoke/:name' && route !== '/invoke/:name/*') {
      req.log.info({ method: req.method, url: req.url.split('?')[0], status: reply.statusCode, ms: Math.round(reply.elapsedTime * 100) / 100, key_name: req.apiKey?.name }, 'request');
    }
    done();
  });

  // Before the routes: the document is built from every route registered after it.
  registerSharedSchemas(app);
  await registerOpenApi(app);

  await app.register(async (scope) => healthRoutes(scope, deps));
  await app.register(async (scope) => functionRoutes(scope, deps));
  await app.register(async (scope) => versionRoutes(scope, deps));
  await app.register(async (scope) => invokeRoutes(scope, deps));
  await app.register(async (scope) => asyncRoutes(scope, deps));
  await app.register(async (scope) => scheduleRoutes(scope, deps));
  await app.register(async (scope) => secretRoutes(scope, deps));
  await app.register(async (scope) => instanceRoutes(scope, deps));
  await app.register(async (scope) => observabilityRoutes(scope, deps));
  await app.register(async (scope) => whoamiRoutes(scope));
  if (system.ui) await app.register(async (scope) => uiRoutes(scope));
  return app;
}
