// Runs queued jobs through the same pools as synchronous calls (same limits: the pool's
// max_instances / max_concurrency apply, the job is one more caller). Fair: each pass takes
// at most one job per function in turn, oldest due first, so one function's backlog cannot
// starve another's jobs; bounded: at most `concurrency` jobs of a function and `max_running`
// of all run at once, so async work takes a bounded share of the pools and the synchronous
// path keeps the rest. A call that ends in a crash, an overload or a timeout (502/503/504) is
// retried with exponential backoff and jitter; a 4xx, or a function error (500) unless
// retry_on_error, is final.
import { coalesced } from './coalesced.js';
import type { Logger } from 'pino';
import type { AsyncDefaults } from '../config/schema.js';
import { ERROR_INFO, FaasError } from '../errors.js';
import type { ExecutionApi, InvokeOutcome } from '../execution/api.js';
import { type AsyncSettings, parseDuration } from '../model/function-schema.js';
import type { Job, JobError, JobStore } from './job-store.js';

/** Results are kept up to this size; the rest is cut and the result marked truncated. */
export const RESULT_BODY_CAP = 1024 * 1024;
/** Wake-up when nothing else wakes the dispatcher (a retry coming due, a missed kick). */
const POLL_MS = 250;
/** Finished jobs are pruned this often (and at start). */
const PRUNE_EVERY_MS = 3_600_000;

export interface ResolvedAsync {
  concurrency: number;
  maxQueue: number;
  maxAttempts: number;
  initialBackoffMs: number;
  maxBackoffMs: number;
  retryOnError: boolean;
}

/** A function's async settings over the system defaults. */
export function resolveAsync(own: AsyncSettings | undefined, d: AsyncDefaults): ResolvedAsync {
  const ms = (v: number | string | undefined, fallback: number) => (v === undefined ? fallback : (parseDuration(v) ?? fallback));
  return {
    concurrency: own?.concurrency ?? d.concurrency,
    maxQueue: own?.max_queue ?? d.max_queue,
    maxAttempts: own?.max_attempts ?? d.max_attempts,
    initialBackoffMs: ms(own?.initial_backoff, d.initial_backoff),
    maxBackoffMs: ms(own?.max_backoff, d.max_backoff),
    retryOnError: own?.retry_on_error ?? d.retry_on_error,
  };
}

export interface DispatcherOptions {
  store: JobStore;
  execution: Pick<ExecutionApi, 'invoke'>;
  /** The pool key of a retained version (deployer.pin): "name@N", or null when N is live; throws 404/410 for an unknown or pruned one. */
  pin?: (name: string, version: number) => Promise<string | null>;
  /** A function's settings, or null when it does not exist (deleted): its queued jobs are cancelled. */
  settings(fn: string): ResolvedAsync | null;
  defaults: AsyncDefaults;
  logger: Logger;
  /** Told when a job ends for good (metrics). */
  onFinished?: (job: Job, status: 'succeeded' | 'failed') => void;
  /** The result callbacks' sender, woken when a job with an X-Callback-Url ends (callbacks.ts). */
  callbacks?: { kick(): void };
}

type Verdict = { kind: 'succeeded'; outcome: InvokeOutcome } | { kind: 'retry' | 'final'; error: JobError };

export class Dispatcher {
  private readonly runningByFn = new Map<string, number>();
  private running = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private timer: NodeJS.Timeout | null = null;
  private pruner: NodeJS.Timeout | null = null;
  private pumping = false;
  /** The function a pass started with last (round-robin across passes). */
  private lastFirst = '';
  private readonly soon = coalesced(() => this.pump());
  private stopped = true;

  constructor(private readonly opts: DispatcherOptions) {}

  /** Boot: jobs a dead daemon left running go back to the queue, old ones are pruned, dispatching starts. */
  start(): void {
    const now = Date.now();
    const recovered = this.opts.store.recover(now);
    if (recovered > 0) this.opts.logger.info({ count: recovered }, 'async jobs that were running when faasd stopped are queued again');
    this.prune();
    this.stopped = false;
    this.pruner = setInterval(() => this.prune(), PRUNE_EVERY_MS);
    this.pruner.unref();
    this.pump();
  }

  /** Something was queued or came due: dispatch now rather than at the next poll. */
  kick(): void {
    // Coalesced: a burst costs one pass, not one each.
    if (!this.stopped) this.soon();
  }

  /** Stop taking jobs; resolves when the running ones have ended (the rest stay queued). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.pruner) clearInterval(this.pruner);
    await Promise.all([...this.inFlight]);
  }

  private prune(): void {
    const n = this.opts.store.prune(Date.now() - this.opts.defaults.retention);
    if (n > 0) this.opts.logger.info({ count: n }, 'finished async jobs past their retention pruned');
  }

  private pump(): void {
    if (this.stopped || this.pumping) return;
    this.pumping = true;
    try {
      // Full: nothing could be claimed, so do not even ask the store (a pass per finished job).
      if (this.running >= this.opts.defaults.max_running) return;
      const { store } = this.opts;
      const now = Date.now();
      // Each pass starts after the function served first last time: no name is always first.
      const due = store.dueFunctions(now);
      const from = due.findIndex((f) => f > this.lastFirst);
      const fns = from <= 0 ? due : [...due.slice(from), ...due.slice(0, from)];
      if (fns.length > 0) this.lastFirst = fns[0]!;
      const settings = new Map<string, ResolvedAsync | null>();
      // Round-robin passes: one job per function per pass, while there is room.
      for (let progress = true; progress && this.running < this.opts.defaults.max_running; ) {
        progress = false;
        for (const fn of fns) {
          if (this.running >= this.opts.defaults.max_running) break;
          if (!settings.has(fn)) settings.set(fn, this.opts.settings(fn));
          const s = settings.get(fn);
          if (!s) {
            const n = store.cancelFunction(fn, now);
            if (n > 0) this.opts.logger.info({ function: fn, count: n }, 'queued async jobs of a deleted function cancelled');
            continue;
          }
          if ((this.runningByFn.get(fn) ?? 0) >= s.concurrency) continue;
          const job = store.claim(fn, now);
          if (!job) continue;
          progress = true;
          this.run(job, s);
        }
      }
    } catch (e) {
      this.opts.logger.error({ err: e }, 'async dispatch failed; retrying shortly');
    } finally {
      this.pumping = false;
      if (!this.stopped) {
        if (this.timer) clearTimeout(this.timer);
        this.timer = setTimeout(() => this.pump(), POLL_MS);
        this.timer.unref();
      }
    }
  }

  private run(job: Job, s: ResolvedAsync): void {
    const fn = job.function;
    this.running += 1;
    this.runningByFn.set(fn, (this.runningByFn.get(fn) ?? 0) + 1);
    const done = this.call(job)
      .then((verdict) => this.settle(job, s, verdict))
      .catch((e: unknown) => this.opts.logger.error({ err: e, job: job.id }, 'async job bookkeeping failed'))
      .finally(() => {
        this.running -= 1;
        this.runningByFn.set(fn, (this.runningByFn.get(fn) ?? 1) - 1);
        this.inFlight.delete(done);
        this.kick();
      });
    this.inFlight.add(done);
  }

  private async call(job: Job): Promise<Verdict> {
    const headers = { ...job.request.headers, 'x-faas-invocation-id': job.id, 'x-faas-attempt': String(job.attempts), 'x-faas-trigger': job.trigger };
    try {
      // A pinned job runs its version even if a newer one went live since it was queued.
      const target = job.version !== null && this.opts.pin ? ((await this.opts.pin(job.function, job.version)) ?? job.function) : job.function;
      const outcome = await this.opts.execution.invoke(target, { id: job.id, ...job.request, headers, body: job.body });
      const status = outcome.result.status;
      if (status < 500) return { kind: 'succeeded', outcome };
      const error: JobError = { error: 'FunctionStatus', message: `the function answered ${status}`, status };
      return { kind: status >= 502 && status <= 504 ? 'retry' : 'final', error };
    } catch (e) {
      const fe = e instanceof FaasError ? e : new FaasError('INTERNAL', (e as Error).message);
      const error: JobError = { error: ERROR_INFO[fe.code].name, message: fe.message, status: fe.status, ...fe.details };
      const retryable = (fe.status >= 502 && fe.status <= 504) || fe.code === 'INTERNAL' || fe.code === 'FUNCTION_ERROR';
      return { kind: retryable ? 'retry' : 'final', error };
    }
  }

  private settle(job: Job, s: ResolvedAsync, verdict: Verdict): void {
    const { store, logger } = this.opts;
    const now = Date.now();
    if (verdict.kind === 'succeeded') {
      const r = verdict.outcome.result;
      const truncated = r.body.length > RESULT_BODY_CAP;
      store.finish(job.id, 'succeeded', now, { result: { status: r.status, headers: r.headers, body: truncated ? r.body.subarray(0, RESULT_BODY_CAP) : r.body, truncated } });
      this.opts.onFinished?.(job, 'succeeded');
      if (job.callbackUrl) this.opts.callbacks?.kick();
      return;
    }
    // Stopping: a call cut short by the shutdown is not this job's failure. It stays `running`
    // and the next boot queues it again (its attempt counted).
    if (this.stopped && (verdict.error.error === 'Draining' || verdict.error.status === 502)) return;
    const functionError = verdict.error.status === 500 && verdict.error.error === 'FunctionError';
    const retry = verdict.kind === 'retry' && (!functionError || s.retryOnError) && job.attempts < s.maxAttempts;
    if (retry) {
      // Exponential backoff with "equal jitter": half fixed, half random, so retries of many
      // jobs that failed together do not come back together.
      const base = Math.min(s.maxBackoffMs, s.initialBackoffMs * 2 ** (job.attempts - 1));
      const delay = Math.round(base / 2 + Math.random() * (base / 2));
      store.requeue(job.id, now + delay, verdict.error);
      logger.info({ job: job.id, function: job.function, attempt: job.attempts, retry_in_ms: delay, error: verdict.error.error }, 'async job failed; retrying');
      return;
    }
    store.finish(job.id, 'failed', now, { error: verdict.error });
    logger.info({ job: job.id, function: job.function, attempts: job.attempts, error: verdict.error.error }, 'async job failed');
    this.opts.onFinished?.(job, 'failed');
    if (job.callbackUrl) this.opts.callbacks?.kick();
  }
}
