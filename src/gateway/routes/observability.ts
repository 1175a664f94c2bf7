// GET /metrics (Prometheus text), /stats, /stats/functions/:name, /functions/:name/logs
// (?follow=true streams them: log-stream.ts).
import type { FastifyInstance } from 'fastify';
import { badRequest } from '../../errors.js';
import { NAME_PARAMS, R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';
import { LogStreams } from './log-stream.js';

const PCT = [50, 95, 99] as const;
export async function observabilityRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  const obs = deps.observability;
  const streams = new LogStreams();
  // Before the server stops listening and waits for its connections: a follower's stream
  // never ends on its own, so close() would wait for it forever.
  app.addHook('preClose', (done) => {
    streams.endAll('shutdown');
    done();
  });

  app.get('/metrics', { config: deps.config.system.metrics_auth ? { scope: 'metrics' } : {}, schema: { summary: 'Prometheus metrics', response: R.metrics } }, async (_req, reply) => {
    reply.header('content-type', obs.metrics.contentType);
    return obs.metrics.text();
  });

  app.get('/stats', { config: { scope: 'manage' }, schema: { summary: 'Daemon-wide statistics', response: R.stats } }, async () => {
    const t = obs.stats.totals();
    // Every mode this daemon knows (running or not), so a dashboard sees zeros, not gaps.
    const byMode: Record<string, number> = Object.fromEntries(Object.keys(deps.execution.health()).map((m) => [m, 0]));
    const functions = deps.functions.list();
    for (const f of functions) byMode[f.config.execution_mode] = (byMode[f.config.execution_mode] ?? 0) + 1;
    const byState: Record<string, number> = { starting: 0, idle: 0, busy: 0, stopping: 0 };
    const states = deps.execution.instanceStates();
    for (const s of states) byState[s.state] = (byState[s.state] ?? 0) + 1;
    return {
      uptime_seconds: Math.round((Date.now() - obs.stats.startedAt) / 1000),
      functions: { total: functions.length, by_mode: byMode },
      instances: { total: states.length, by_state: byState },
      invocations: { total: t.invocations, errors: t.errors, cold_starts: t.coldStarts, prewarmed_starts: t.prewarmedStarts },
      rate_limited: obs.stats.rateLimited,
      async: asyncQueue(deps.jobs.stats()),
      latency_ms: t.latency.percentiles(PCT),
    };
  });

  app.get<{ Params: { name: string } }>(
    '/stats/functions/:name',
    { config: { scope: 'manage' }, schema: { summary: "One function's statistics and its instances' CPU and memory", params: NAME_PARAMS, response: R.functionStats } },
    async (req) => {
      const fn = deps.functions.get(req.params.name);
      const c = obs.stats.of(fn.name);
      const usage = await deps.execution.instanceUsage(fn.name);
      const states = new Map(
        deps.execution
          .listInstances()
          .filter((i) => i.function === fn.name)
          .map((i) => [i.id, i]),
      );
      return {
        name: fn.name,
        version: fn.version,
        mode: fn.config.execution_mode,
        invocations: { total: c?.invocations ?? 0, errors: c?.errors ?? 0, cold_starts: c?.coldStarts ?? 0, prewarmed_starts: c?.prewarmedStarts ?? 0 },
        latency_ms: c ? c.latency.percentiles(PCT) : { p50: null, p95: null, p99: null },
        cold_start_ms: c ? c.coldStartLatency.percentiles([50, 95]) : { p50: null, p95: null },
        queue_depth: deps.execution.queueDepths().find((q) => q.function === fn.name)?.depth ?? 0,
        async: asyncQueue(deps.jobs.stats().filter((s) => s.function === fn.name)),
        instances: usage.map((u) => ({
          id: u.instance,
          state: states.get(u.instance)?.state ?? 'unknown',
          invocations: states.get(u.instance)?.invocations ?? 0,
          cpu_seconds: u.usage ? Math.round(u.usage.cpuSeconds * 1000) / 1000 : null,
          memory_bytes: u.usage?.memoryBytes ?? null,
        })),
      };
    },
  );

  app.get<{ Params: { name: string }; Querystring: { limit?: string; since?: string; follow?: string } }>(
    '/functions/:name/logs',
    {
      config: { scope: 'manage' },
      schema: {
        summary: 'What the function printed; follow=true streams new lines as server-sent events',
        params: NAME_PARAMS,
        response: R.logs,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            limit: { type: 'string', pattern: '^[0-9]{1,5}$' },
            since: { type: 'string', maxLength: 64 },
            follow: { type: 'string', enum: ['true', 'false', '1', '0'] },
          },
        },
      },
    },
    async (req, reply) => {
      const fn = deps.functions.get(req.params.name);
      const q = req.query;
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (limit < 1 || limit > 1000) throw badRequest('limit', 'limit must be from 1 to 1000');
      let since: Date | undefined;
      if (q.since !== undefined) {
        since = new Date(q.since);
        if (Number.isNaN(since.getTime())) throw badRequest('since', `since must be an ISO 8601 time such as 2026-11-23T10:00:00Z, got ${JSON.stringify(q.since)}`);
      }
      const lines = obs.logs.read(fn.name, limit, since);
      if (q.follow === 'true' || q.follow === '1') {
        // The backlog read and the subscription happen in the same tick: no line falls between.
        streams.start(req, reply, obs.logs, fn.name, lines);
        return reply;
      }
      return { function: fn.name, count: lines.length, lines };
    },
  );
}

/** The async queue for /stats: totals and, per function with work, queued / running / oldest age. */
function asyncQueue(stats: readonly { function: string; queued: number; running: number; oldestQueuedAt: number | null }[]) {
  const now = Date.now();
  const age = (at: number | null) => (at === null ? null : Math.round((now - at) / 100) / 10);
  const oldest = stats.reduce<number | null>((o, s) => (s.oldestQueuedAt !== null && (o === null || s.oldestQueuedAt < o) ? s.oldestQueuedAt : o), null);
  return {
    queued: stats.reduce((n, s) => n + s.queued, 0),
    running: stats.reduce((n, s) => n + s.running, 0),
    oldest_job_age_seconds: age(oldest),
    functions: stats.map((s) => ({ function: s.function, queued: s.queued, running: s.running, oldest_job_age_seconds: age(s.oldestQueuedAt) })),
  };
}
