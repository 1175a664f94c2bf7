// Asynchronous invocations: POST /async/:name[/*] queues (committed to SQLite before the
// 202), /invocations reads, lists, cancels and re-queues them.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { badRequest } from '../../errors.js';
import type { Job, JobStatus } from '../../jobs/job-store.js';
import { R } from '../api-schemas.js';
import type { AppDeps } from '../deps.js';
import { EMPTY_BODY, acceptRawBodies, forwardedHeaders, versionAsked } from './forwarded.js';

const STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
const IDEMPOTENCY_KEY_RE = /^[\x21-\x7e]{1,255}$/;

/** A job as the API shows it: times in ISO 8601, the result body as text when it is UTF-8, else base64. */
export function jobView(j: Job) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  let result = null;
  if (j.result) {
    const text = j.result.body.toString('utf8');
    const isText = Buffer.from(text, 'utf8').equals(j.result.body);
    result = {
      status_code: j.result.status,
      headers: j.result.headers,
      body: isText ? text : j.result.body.toString('base64'),
      body_encoding: isText ? 'utf8' : 'base64',
      truncated: j.result.truncated,
    };
  }
  return {
    id: j.id,
    function: j.function,
    version: j.version,
    status: j.status,
    trigger: j.trigger,
    attempts: j.attempts,
    max_attempts: j.maxAttempts,
    created_at: iso(j.createdAt),
    started_at: iso(j.startedAt),
    finished_at: iso(j.finishedAt),
    ...(j.status === 'queued' ? { next_run_at: iso(j.nextRunAt) } : {}),
    result,
    error: j.error,
    callback: callbackView(j),
    status_url: `/invocations/${j.id}`,
  };
}

/**
 * Where the result callback stands: pending (the job has not ended, or a delivery is due),
 * delivered, failed (given up or refused, with the last error), skipped (the job was cancelled).
 */
function callbackView(j: Job) {
  if (!j.callbackUrl) return null;
  const c = j.callback;
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  return {
    url: j.callbackUrl,
    status: c.status ?? (j.status === 'cancelled' ? 'skipped' : 'pending'),
    attempts: c.attempts,
    ...(c.status === 'pending' ? { next_attempt_at: iso(c.nextAt) } : {}),
    last_error: c.error,
    ...(c.doneAt !== null ? { finished_at: iso(c.doneAt) } : {}),
  };
}

interface AsyncParams {
  name: string;
  '*'?: string;
}

export async function asyncRoutes(app: FastifyInstance, deps: AppDeps): Promise<void> {
  acceptRawBodies(app);
  const jobs = deps.jobs;

  const enqueue = async (req: FastifyRequest<{ Params: AsyncParams }>, reply: FastifyReply) => {
    const key = req.headers['idempotency-key'];
    if (key !== undefined && (typeof key !== 'string' || !IDEMPOTENCY_KEY_RE.test(key))) {
      throw badRequest('Idempotency-Key', 'the Idempotency-Key header must be 1-255 visible ASCII characters');
    }
    const callbackUrl = req.headers['x-callback-url'];
    if (callbackUrl !== undefined && typeof callbackUrl !== 'string') throw badRequest('X-Callback-Url', 'give one X-Callback-Url header, not several');
    const headers = forwardedHeaders(req);
    delete headers['idempotency-key'];
    // Where the result goes is faasd's business, and the URL may carry the receiver's token.
    delete headers['x-callback-url'];
    const qIndex = req.url.indexOf('?');
    const query = qIndex >= 0 ? Object.fromEntries(new URLSearchParams(req.url.slice(qIndex + 1))) : {};
    // name@N or X-Faas-Version: N queues a call of a retained version (404 / 410 now, not when it runs).
    const { name, version } = versionAsked(req.params.name, req.headers['x-faas-version']);
    if (version !== null) deps.functions.versionRecord(name, version);
    const { job, created } = jobs.enqueue(name, { method: req.method, path: `/${req.params['*'] ?? ''}`, query, headers }, Buffer.isBuffer(req.body) ? req.body : EMPTY_BODY, {
      idempotencyKey: key ?? null,
      trigger: 'api',
      callbackUrl: callbackUrl ?? null,
      version,
    });
    req.log.info({ function: job.function, job: job.id, created }, created ? 'async invocation queued' : 'async invocation found by its idempotency key');
    reply.code(202).header('Location', `/invocations/${job.id}`).header('x-faas-request-id', job.id);
    return { id: job.id, status: job.status, status_url: `/invocations/${job.id}` };
  };
  const invoke = { config: { scope: 'invoke' as const } };
  const enqueueSchema = {
    summary: 'Queue a call (committed before the 202); name@N (or X-Faas-Version: N) queues a call of retained version N; Idempotency-Key and X-Callback-Url headers optional',
    consumes: ['*/*'],
    response: R.enqueued,
  };
  app.post<{ Params: AsyncParams }>('/async/:name', { ...invoke, schema: enqueueSchema }, enqueue);
  app.post<{ Params: AsyncParams }>('/async/:name/*', { ...invoke, schema: enqueueSchema }, enqueue);

  const idParams = { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' } } } as const;
  app.get<{ Params: { id: string } }>('/invocations/:id', { ...invoke, schema: { summary: 'An async call: status, attempts, result or error', params: idParams, response: R.job } }, async (req) =>
    jobView(jobs.get(req.params.id)),
  );
  app.delete<{ Params: { id: string } }>('/invocations/:id', { ...invoke, schema: { summary: 'Cancel a queued async call', params: idParams, response: R.job } }, async (req) =>
    jobView(jobs.cancel(req.params.id)),
  );
  app.post<{ Params: { id: string } }>(
    '/invocations/:id/retry',
    { config: { scope: 'manage' }, schema: { summary: 'Queue a failed async call again', params: idParams, response: R.job } },
    async (req) => jobView(jobs.retry(req.params.id)),
  );

  app.get<{ Querystring: { function?: string; status?: string; limit?: string; cursor?: string } }>(
    '/invocations',
    {
      config: { scope: 'manage' },
      schema: {
        summary: 'List async calls, newest first',
        response: R.jobList,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            function: { type: 'string', maxLength: 63 },
            status: { type: 'string', enum: STATUSES },
            limit: { type: 'string', pattern: '^[0-9]{1,4}$' },
            cursor: { type: 'string', maxLength: 200 },
          },
        },
      },
    },
    async (req) => {
      const limit = req.query.limit === undefined ? 50 : Number(req.query.limit);
      if (limit < 1 || limit > 500) throw badRequest('limit', 'limit must be from 1 to 500');
      const page = jobs.list({
        limit,
        ...(req.query.function ? { function: req.query.function } : {}),
        ...(req.query.status ? { status: req.query.status as JobStatus } : {}),
        ...(req.query.cursor ? { cursor: req.query.cursor } : {}),
      });
      return { invocations: page.jobs.map(jobView), count: page.jobs.length, next_cursor: page.nextCursor };
    },
  );
}
