// The job queue's storage, behind a small interface so that a shared engine can take
// SQLite's place later: every state change is one call, and each call is atomic.
//
// A job: queued -> running -> succeeded | failed, or queued -> cancelled; a failed call that
// may be retried goes back to queued with a later next_run_at. `attempts` counts the runs
// started (a job running when the daemon died has used its attempt; boot puts it back in
// the queue: at least once, never lost).
import crypto from 'node:crypto';

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';
export type JobTrigger = 'api' | 'cron';

export interface JobRequest {
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
}

export interface JobResult {
  status: number;
  headers: Record<string, string>;
  /** The body as stored: at most the store's cap. */
  body: Buffer;
  /** The body was longer than the cap and was cut. */
  truncated: boolean;
}

/** What went wrong: the platform's error body ({error, message, ...}). */
export type JobError = { error: string; message: string; status: number } & Record<string, unknown>;

/**
 * A result callback's delivery (X-Callback-Url): `pending` from the moment the job ends (in the
 * same transaction) until a 2xx answer (`delivered`) or the last attempt (`failed`).
 */
export type CallbackStatus = 'pending' | 'delivered' | 'failed';

export interface CallbackState {
  /** null while the job has not ended (or was cancelled: no callback then). */
  status: CallbackStatus | null;
  attempts: number;
  /** ms since the epoch: the next delivery of a pending callback. */
  nextAt: number | null;
  /** Why the last delivery that failed did (kept once a later one is delivered). */
  error: string | null;
  /** ms since the epoch: delivered or given up. */
  doneAt: number | null;
}

export interface Job {
  id: string;
  function: string;
  /** A retained version this job runs (POST /async/name@N); null: the live version when it runs. */
  version: number | null;
  status: JobStatus;
  trigger: JobTrigger;
  request: JobRequest;
  body: Buffer;
  idempotencyKey: string | null;
  attempts: number;
  maxAttempts: number;
  /** ms since the epoch: a queued job is not run before. */
  nextRunAt: number;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  result: JobResult | null;
  error: JobError | null;
  callbackUrl: string | null;
  callback: CallbackState;
}

export interface NewJob {
  function: string;
  /** A retained version to run (absent or null: the live one). */
  version?: number | null;
  trigger: JobTrigger;
  request: JobRequest;
  body: Buffer;
  idempotencyKey: string | null;
  maxAttempts: number;
  callbackUrl: string | null;
}

export interface JobListQuery {
  function?: string;
  status?: JobStatus;
  limit: number;
  /** From a previous page's nextCursor. */
  cursor?: string;
}

export interface QueueStats {
  function: string;
  queued: number;
  running: number;
  /** ms since the epoch of the oldest queued job. */
  oldestQueuedAt: number | null;
}

export interface JobStore {
  /**
   * Commits a new queued job (or, for an idempotency key seen before for this function, the
   * job that key made: `created` false). `maxQueue`: refuse (null) when the function already
   * has that many queued.
   */
  enqueue(job: NewJob, now: number, maxQueue: number): { job: Job; created: boolean } | null;
  get(id: string): Job | null;
  list(q: JobListQuery): { jobs: Job[]; nextCursor: string | null };
  /** Functions with a queued job due at `now` (in name order; the dispatcher rotates it). */
  dueFunctions(now: number): string[];
  /** Takes the function's oldest due job: queued -> running, attempts + 1. */
  claim(fn: string, now: number): Job | null;
  finish(id: string, status: 'succeeded' | 'failed', now: number, outcome: { result?: JobResult; error?: JobError }): void;
  /** A failed attempt that will be retried: running -> queued, due at `at`. */
  requeue(id: string, at: number, error: JobError): void;
  /** queued -> cancelled; false if it was not queued. */
  cancel(id: string, now: number): boolean;
  /** failed -> queued with a fresh set of attempts; false if it was not failed. */
  retry(id: string, now: number): boolean;
  /** Boot: jobs left running by a daemon that died go back to the queue. Returns how many. */
  recover(now: number): number;
  /** Finished jobs older than `before` are deleted. Returns how many. */
  prune(before: number): number;
  /** Queued and running jobs per function (metrics, /stats). */
  stats(): QueueStats[];
  /** A deleted function's queued jobs are cancelled. */
  cancelFunction(fn: string, now: number): number;
  /** Jobs whose callback is pending and due at `now`, the earliest due first. */
  dueCallbacks(now: number, limit: number): Job[];
  /**
   * Records delivery attempt number `attempts` of a pending callback: `delivered`, `failed`
   * (given up), or still `pending` with the next attempt at `nextAt`; `error` replaces the last
   * one when given. False when the callback
   * was no longer pending (the job was re-queued meanwhile).
   */
  recordCallback(id: string, attempts: number, now: number, outcome: { status: CallbackStatus; nextAt?: number; error?: string }): boolean;
}

/** 128 random bits, URL-safe: a job id is its own capability to read the job. */
export function newJobId(): string {
  return crypto.randomBytes(16).toString('base64url');
}
