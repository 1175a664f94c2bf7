// The job queue on the registry's SQLite database (WAL, synchronous=NORMAL: a committed job
// survives a crash of the daemon). Each method is one statement or one transaction.
import type Database from 'better-sqlite3';
import { type CallbackStatus, type Job, type JobError, type JobListQuery, type JobResult, type JobStatus, type JobStore, type NewJob, newJobId, type QueueStats } from './job-store.js';

interface Row {
  id: string;
  function: string;
  version: number | null;
  status: string;
  request: string;
  body: Buffer;
  idempotency_key: string | null;
  trigger: string;
  attempts: number;
  max_attempts: number;
  next_run_at: number;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  result: string | null;
  result_body: Buffer | null;
  error: string | null;
  callback_url: string | null;
  callback_status: string | null;
  callback_attempts: number;
  callback_next_at: number | null;
  callback_error: string | null;
  callback_done_at: number | null;
}

function toJob(r: Row): Job {
  const result = r.result ? (JSON.parse(r.result) as { status: number; headers: Record<string, string>; truncated: boolean }) : null;
  return {
    id: r.id,
    function: r.function,
    version: r.version,
    status: r.status as JobStatus,
    trigger: r.trigger as Job['trigger'],
    request: JSON.parse(r.request) as Job['request'],
    body: r.body,
    idempotencyKey: r.idempotency_key,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    nextRunAt: r.next_run_at,
    createdAt: r.created_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    result: result ? { ...result, body: r.result_body ?? Buffer.alloc(0) } : null,
    error: r.error ? (JSON.parse(r.error) as JobError) : null,
    callbackUrl: r.callback_url,
    callback: {
      status: r.callback_status as CallbackStatus | null,
      attempts: r.callback_attempts,
      nextAt: r.callback_next_at,
      error: r.callback_error,
      doneAt: r.callback_done_at,
    },
  };
}

/** Cursor: the last row's (created_at, id), opaque to callers. */
function encodeCursor(j: Job): string {
  return Buffer.from(`${j.createdAt}:${j.id}`).toString('base64url');
}

function decodeCursor(c: string): { createdAt: number; id: string } | null {
  const m = /^(\d+):([A-Za-z0-9_-]+)$/.exec(Buffer.from(c, 'base64url').toString('utf8'));
  return m ? { createdAt: Number(m[1]), id: m[2]! } : null;
}

export class SqliteJobStore implements JobStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      insert: db.prepare(
        `INSERT INTO jobs (id, function, version, status, request, body, idempotency_key, trigger, attempts, max_attempts, next_run_at, created_at, callback_url)
         VALUES (@id, @function, @version, 'queued', @request, @body, @idempotency_key, @trigger, 0, @max_attempts, @now, @now, @callback_url)`,
      ),
      byKey: db.prepare<[string, string], Row>('SELECT * FROM jobs WHERE function = ? AND idempotency_key = ?'),
      // job_counts is kept by triggers (migration 5): one row read, not a count of the backlog.
      queued: db.prepare<[string], { n: number }>(`SELECT n FROM job_counts WHERE function = ? AND status = 'queued'`),
      get: db.prepare<[string], Row>('SELECT * FROM jobs WHERE id = ?'),
      // Functions with queued jobs, one index seek each (jobs_queue: status, function, ...):
      // a GROUP BY would read every queued row on every dispatch pass (O(backlog)).
      nextQueuedFunction: db.prepare<[string], { function: string }>(`SELECT function FROM jobs WHERE status = 'queued' AND function > ? ORDER BY function LIMIT 1`),
      hasDue: db.prepare<[string, number], { one: number }>(`SELECT 1 AS one FROM jobs WHERE status = 'queued' AND function = ? AND next_run_at <= ? LIMIT 1`),
      next: db.prepare<[string, number], Row>(`SELECT * FROM jobs WHERE status = 'queued' AND function = ? AND next_run_at <= ? ORDER BY next_run_at, created_at, id LIMIT 1`),
      start: db.prepare<[number, string]>(`UPDATE jobs SET status = 'running', attempts = attempts + 1, started_at = ? WHERE id = ? AND status = 'queued'`),
      // A job with a callback ends with its delivery pending, in the same statement: a crash
      // right after cannot lose the callback.
      finish: db.prepare(
        `UPDATE jobs SET status = @status, finished_at = @now, result = @result, result_body = @result_body, error = @error,
           callback_status = CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END, callback_next_at = CASE WHEN callback_url IS NULL THEN NULL ELSE @now END
         WHERE id = @id AND status = 'running'`,
      ),
      requeue: db.prepare<[number, string, string]>(`UPDATE jobs SET status = 'queued', next_run_at = ?, error = ? WHERE id = ? AND status = 'running'`),
      cancel: db.prepare<[number, string]>(`UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE id = ? AND status = 'queued'`),
      retry: db.prepare<[number, string]>(
        `UPDATE jobs SET status = 'queued', attempts = 0, next_run_at = ?, finished_at = NULL, started_at = NULL, result = NULL, result_body = NULL,
           callback_status = NULL, callback_attempts = 0, callback_next_at = NULL, callback_error = NULL, callback_done_at = NULL
         WHERE id = ? AND status = 'failed'`,
      ),
      recover: db.prepare<[]>(`UPDATE jobs SET status = 'queued' WHERE status = 'running'`),
      prune: db.prepare<[number]>(`DELETE FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ?`),
      pruneCounts: db.prepare<[]>('DELETE FROM job_counts WHERE n = 0'),
      // Per function with work: its counts (job_counts) and the age of the job next in line
      // (one index seek; a retried job waiting for its backoff may be older still).
      stats: db.prepare<[], { function: string; queued: number; running: number; oldest: number | null }>(
        `SELECT c.function, sum(CASE WHEN c.status = 'queued' THEN c.n ELSE 0 END) AS queued, sum(CASE WHEN c.status = 'running' THEN c.n ELSE 0 END) AS running,
                (SELECT j.created_at FROM jobs j WHERE j.status = 'queued' AND j.function = c.function ORDER BY j.next_run_at LIMIT 1) AS oldest
         FROM job_counts c WHERE c.status IN ('queued', 'running') AND c.n > 0 GROUP BY c.function`,
      ),
      cancelFunction: db.prepare<[number, string]>(`UPDATE jobs SET status = 'cancelled', finished_at = ? WHERE function = ? AND status = 'queued'`),
      dueCallbacks: db.prepare<[number, number], Row>(`SELECT * FROM jobs WHERE callback_status = 'pending' AND callback_next_at <= ? ORDER BY callback_next_at, id LIMIT ?`),
      recordCallback: db.prepare(
        `UPDATE jobs SET callback_status = @status, callback_attempts = @attempts, callback_next_at = @next_at, callback_error = coalesce(@error, callback_error), callback_done_at = @done_at
         WHERE id = @id AND callback_status = 'pending'`,
      ),
    };
  }

  enqueue(job: NewJob, now: number, maxQueue: number): { job: Job; created: boolean } | null {
    return this.db.transaction(() => {
      if (job.idempotencyKey) {
        const seen = this.s.byKey.get(job.function, job.idempotencyKey);
        if (seen) return { job: toJob(seen), created: false };
      }
      if ((this.s.queued.get(job.function)?.n ?? 0) >= maxQueue) return null;
      const id = newJobId();
      this.s.insert.run({
        id,
        function: job.function,
        version: job.version ?? null,
        request: JSON.stringify(job.request),
        body: job.body,
        idempotency_key: job.idempotencyKey,
        trigger: job.trigger,
        max_attempts: job.maxAttempts,
        now,
        callback_url: job.callbackUrl,
      });
      return { job: toJob(this.s.get.get(id)!), created: true };
    })();
  }

  get(id: string): Job | null {
    const r = this.s.get.get(id);
    return r ? toJob(r) : null;
  }

  list(q: JobListQuery): { jobs: Job[]; nextCursor: string | null } {
    const where: string[] = [];
    const args: (string | number)[] = [];
    const add = (clause: string, ...values: (string | number)[]) => {
      where.push(clause);
      args.push(...values);
    };
    if (q.function) add('function = ?', q.function);
    if (q.status) add('status = ?', q.status);
    const after = q.cursor ? decodeCursor(q.cursor) : null;
    // Newest first; the cursor continues after the last row of the previous page.
    if (after) add('(created_at < ? OR (created_at = ? AND id < ?))', after.createdAt, after.createdAt, after.id);
    const sql = `SELECT * FROM jobs ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY created_at DESC, id DESC LIMIT ?`;
    const rows = this.db.prepare<(string | number)[], Row>(sql).all(...args, q.limit + 1);
    const jobs = rows.slice(0, q.limit).map(toJob);
    return { jobs, nextCursor: rows.length > q.limit ? encodeCursor(jobs[jobs.length - 1]!) : null };
  }

  dueFunctions(now: number): string[] {
    const out: string[] = [];
    for (let row = this.s.nextQueuedFunction.get(''); row; row = this.s.nextQueuedFunction.get(row.function)) {
      if (this.s.hasDue.get(row.function, now)) out.push(row.function);
    }
    return out;
  }

  claim(fn: string, now: number): Job | null {
    return this.db.transaction(() => {
      const r = this.s.next.get(fn, now);
      if (!r || this.s.start.run(now, r.id).changes !== 1) return null;
      return toJob(this.s.get.get(r.id)!);
    })();
  }

  finish(id: string, status: 'succeeded' | 'failed', now: number, outcome: { result?: JobResult; error?: JobError }): void {
    const r = outcome.result;
    this.s.finish.run({
      id,
      status,
      now,
      result: r ? JSON.stringify({ status: r.status, headers: r.headers, truncated: r.truncated }) : null,
      result_body: r ? r.body : null,
      error: outcome.error ? JSON.stringify(outcome.error) : null,
    });
  }

  requeue(id: string, at: number, error: JobError): void {
    this.s.requeue.run(at, JSON.stringify(error), id);
  }

  cancel(id: string, now: number): boolean {
    return this.s.cancel.run(now, id).changes === 1;
  }

  retry(id: string, now: number): boolean {
    return this.s.retry.run(now, id).changes === 1;
  }

  recover(): number {
    return this.s.recover.run().changes;
  }

  prune(before: number): number {
    const n = this.s.prune.run(before).changes;
    this.s.pruneCounts.run(); // functions (or states) with no job left
    return n;
  }

  stats(): QueueStats[] {
    return this.s.stats.all().map((r) => ({ function: r.function, queued: r.queued, running: r.running, oldestQueuedAt: r.oldest }));
  }

  cancelFunction(fn: string, now: number): number {
    return this.s.cancelFunction.run(now, fn).changes;
  }

  dueCallbacks(now: number, limit: number): Job[] {
    return this.s.dueCallbacks.all(now, limit).map(toJob);
  }

  recordCallback(id: string, attempts: number, now: number, outcome: { status: CallbackStatus; nextAt?: number; error?: string }): boolean {
    const pending = outcome.status === 'pending';
    return (
      this.s.recordCallback.run({
        id,
        status: outcome.status,
        attempts,
        next_at: pending ? (outcome.nextAt ?? now) : null,
        error: outcome.error ?? null,
        done_at: pending ? null : now,
      }).changes === 1
    );
  }
}
