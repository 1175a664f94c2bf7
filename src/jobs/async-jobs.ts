// Asynchronous invocations as the gateway sees them: enqueue (committed before the 202),
// read, list, cancel, re-queue. The dispatcher runs them.
import { FaasError, badRequest } from '../errors.js';
import type { CallbackPolicy } from './callbacks.js';
import type { Dispatcher, ResolvedAsync } from './dispatcher.js';
import type { Job, JobListQuery, JobRequest, JobStore, JobTrigger, QueueStats } from './job-store.js';

export class AsyncJobs {
  constructor(
    private readonly store: JobStore,
    private readonly dispatcher: Dispatcher,
    /** A function's async settings; null when it does not exist. */
    private readonly settings: (fn: string) => ResolvedAsync | null,
    /** Which X-Callback-Url values are accepted; without it, none. */
    private readonly callbacks?: CallbackPolicy,
  ) {}

  /**
   * Commits the job (or finds the one an earlier request with the same idempotency key made).
   * `callbackUrl`: where the result is POSTed when the job ends (checked here: 400 if refused).
   */
  enqueue(
    fn: string,
    request: JobRequest,
    body: Buffer,
    opts: { idempotencyKey: string | null; trigger: JobTrigger; callbackUrl?: string | null; version?: number | null },
  ): { job: Job; created: boolean } {
    const s = this.settings(fn);
    if (!s) throw new FaasError('FUNCTION_NOT_FOUND', `function "${fn}" does not exist`, { details: { function: fn } });
    let callbackUrl: string | null = null;
    if (opts.callbackUrl !== undefined && opts.callbackUrl !== null) {
      if (!this.callbacks) throw badRequest('X-Callback-Url', 'result callbacks (X-Callback-Url) are not available here; poll the status_url instead');
      callbackUrl = this.callbacks.check(opts.callbackUrl);
    }
    const out = this.store.enqueue(
      { function: fn, version: opts.version ?? null, trigger: opts.trigger, request, body, idempotencyKey: opts.idempotencyKey, maxAttempts: s.maxAttempts, callbackUrl },
      Date.now(),
      s.maxQueue,
    );
    if (!out) {
      throw new FaasError('ASYNC_QUEUE_FULL', `function "${fn}" has ${s.maxQueue} async jobs queued already (async.max_queue); retry later`, {
        retryAfter: 1,
        details: { limit: 'async.max_queue', max_queue: s.maxQueue },
      });
    }
    if (out.created) this.dispatcher.kick();
    return out;
  }

  get(id: string): Job {
    const job = this.store.get(id);
    if (!job) throw new FaasError('JOB_NOT_FOUND', `no async invocation "${id}" (finished ones are kept for async.retention)`, { details: { id } });
    return job;
  }

  list(q: JobListQuery): { jobs: Job[]; nextCursor: string | null } {
    return this.store.list(q);
  }

  cancel(id: string): Job {
    const job = this.get(id);
    if (!this.store.cancel(id, Date.now())) {
      throw new FaasError('JOB_CONFLICT', `invocation "${id}" is ${this.get(id).status}: only a queued one can be cancelled`, { details: { id, status: job.status } });
    }
    return this.get(id);
  }

  retry(id: string): Job {
    const job = this.get(id);
    if (!this.store.retry(id, Date.now())) {
      throw new FaasError('JOB_CONFLICT', `invocation "${id}" is ${job.status}: only a failed one can be re-queued`, { details: { id, status: job.status } });
    }
    this.dispatcher.kick();
    return this.get(id);
  }

  stats(): QueueStats[] {
    return this.store.stats();
  }
}
