// Cron schedules: each tick of a function's config.schedules[i] queues an async job (trigger
// 'cron') through AsyncJobs, so a scheduled run is durable, retried and listed like any other.
// croner keeps the time (seconds, time zones, DST); this file decides whether a tick queues:
// not while the schedule's previous job is still queued or running (no pile-up behind a slow
// function) unless `overlap`, and ticks missed while faasd was down are not replayed unless
// `catch_up` (then once, at start). The deploy path tells it when a function changes.
import { Cron } from 'croner';
import type { Logger } from 'pino';
import { FaasError } from '../errors.js';
import type { FunctionRecord } from '../model/function-model.js';
import { CRON_MODE, type ScheduleConfig } from '../model/function-schema.js';
import type { AsyncJobs } from './async-jobs.js';
import type { JobRequest, JobStatus } from './job-store.js';
import type { ScheduleStore } from './schedule-store.js';

export const DEFAULT_TIMEZONE = 'UTC';

type FunctionView = Pick<FunctionRecord, 'name' | 'config'>;

export interface SchedulerOptions {
  store: ScheduleStore;
  jobs: Pick<AsyncJobs, 'enqueue' | 'get'>;
  /** The registry: a function by name (null once deleted), and every function. */
  functions: { find(name: string): FunctionView | null; list(): FunctionView[] };
  logger: Logger;
}

/** One schedule as GET /schedules shows it (times in ms since the epoch). */
export interface ScheduleView {
  function: string;
  index: number;
  cron: string;
  timezone: string;
  overlap: boolean;
  catchUp: boolean;
  nextRunAt: number | null;
  lastRunAt: number | null;
  lastJobId: string | null;
  /** The last job's status; null before the first run, or once that job was pruned. */
  lastStatus: JobStatus | null;
  skipped: number;
}

interface Active {
  fn: string;
  index: number;
  def: ScheduleConfig;
  timezone: string;
  /** What each tick queues, built once per definition. */
  request: JobRequest;
  body: Buffer;
  timer: Cron;
}

const EMPTY = Buffer.alloc(0);

/** The job a tick queues: POST / with the schedule's headers and body, and X-Faas-Trigger: cron. */
function requestOf(def: ScheduleConfig): { request: JobRequest; body: Buffer } {
  const headers = Object.fromEntries(Object.entries(def.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  let body = EMPTY;
  if (def.body !== undefined) {
    const text = typeof def.body === 'string';
    body = Buffer.from(text ? (def.body as string) : JSON.stringify(def.body));
    headers['content-type'] ??= text ? 'text/plain; charset=utf-8' : 'application/json';
  }
  headers['x-faas-trigger'] = 'cron';
  return { request: { method: 'POST', path: '/', query: {}, headers }, body };
}

export class Scheduler {
  /** The running schedules of each function, by index. */
  private readonly active = new Map<string, Active[]>();
  private stopped = true;

  constructor(private readonly opts: SchedulerOptions) {}

  /** Boot: every function's schedules run from now; a `catch_up` one that missed a tick runs once. */
  start(): void {
    const { store, functions, logger } = this.opts;
    const now = Date.now();
    this.stopped = false;
    const names = new Set<string>();
    for (const rec of functions.list()) {
      names.add(rec.name);
      this.sync(rec.name, now);
    }
    // State of functions that are gone (or whose row no longer validates) is forgotten.
    for (const fn of store.functions()) if (!names.has(fn)) store.sync(fn, [], now);
    for (const list of this.active.values()) {
      for (const e of list) {
        if (!e.def.catch_up) continue;
        const state = store.get(e.fn, e.index);
        if (!state) continue;
        // The first tick after the last run (or after the schedule took effect): if it is past,
        // at least one tick was missed while faasd was down; one run stands for all of them.
        const missed = e.timer.nextRun(new Date(Math.max(state.since, state.lastRunAt ?? 0)));
        if (missed && missed.getTime() <= now) {
          logger.info({ function: e.fn, schedule: e.index, missed: missed.toISOString() }, 'cron schedule missed a tick while faasd was down: running it once (catch_up)');
          this.tick(e);
        }
      }
    }
  }

  /** The deploy path committed or deleted `fn`: its schedules follow (a no-op before start). */
  functionChanged(fn: string): void {
    if (this.stopped) return;
    try {
      this.sync(fn, Date.now());
    } catch (e) {
      this.opts.logger.error({ err: e, function: fn }, 'cron schedules of a changed function could not be updated');
    }
  }

  /** No tick fires after this; idempotent. Jobs already queued stay with the dispatcher. */
  stop(): void {
    this.stopped = true;
    for (const list of this.active.values()) for (const e of list) e.timer.stop();
    this.active.clear();
  }

  list(fn?: string): ScheduleView[] {
    const names = fn === undefined ? [...this.active.keys()].sort() : this.active.has(fn) ? [fn] : [];
    return names.flatMap((name) =>
      (this.active.get(name) ?? []).map((e) => {
        const state = this.opts.store.get(e.fn, e.index);
        const lastJobId = state?.lastJobId ?? null;
        return {
          function: e.fn,
          index: e.index,
          cron: e.def.cron,
          timezone: e.timezone,
          overlap: e.def.overlap ?? false,
          catchUp: e.def.catch_up ?? false,
          nextRunAt: e.timer.nextRun()?.getTime() ?? null,
          lastRunAt: state?.lastRunAt ?? null,
          lastJobId,
          lastStatus: lastJobId ? this.jobStatus(lastJobId) : null,
          skipped: state?.skipped ?? 0,
        };
      }),
    );
  }

  /** Reads the function's schedules and makes the timers and the stored state match them. */
  private sync(fn: string, now: number): void {
    const defs = this.opts.functions.find(fn)?.config.schedules ?? [];
    const old = this.active.get(fn) ?? [];
    this.opts.store.sync(
      fn,
      defs.map((d) => ({ cron: d.cron, timezone: d.timezone ?? DEFAULT_TIMEZONE })),
      now,
    );
    const next = defs.map((def, index) => {
      const prev = old[index];
      const timezone = def.timezone ?? DEFAULT_TIMEZONE;
      // Same expression and zone: the timer keeps its rhythm; body, headers and flags are taken as they are now.
      if (prev && prev.def.cron === def.cron && prev.timezone === timezone) {
        Object.assign(prev, { def }, requestOf(def));
        return prev;
      }
      prev?.timer.stop();
      const e = { fn, index, def, timezone, ...requestOf(def) } as Active;
      e.timer = new Cron(def.cron, { mode: CRON_MODE, timezone, unref: true }, () => this.tick(e));
      return e;
    });
    for (const e of old.slice(defs.length)) e.timer.stop();
    if (next.length > 0) this.active.set(fn, next);
    else this.active.delete(fn);
  }

  /** One tick: queue the job, or count the tick as skipped; the decision and its record commit together. */
  private tick(e: Active): void {
    if (this.stopped) return;
    const { store, jobs, logger } = this.opts;
    try {
      store.atomically(() => {
        const state = store.get(e.fn, e.index);
        if (!e.def.overlap && state?.lastJobId) {
          const status = this.jobStatus(state.lastJobId);
          if (status === 'queued' || status === 'running') {
            store.recordSkip(e.fn, e.index);
            logger.debug({ function: e.fn, schedule: e.index, job: state.lastJobId, status }, 'cron tick skipped: the previous run has not finished');
            return;
          }
        }
        try {
          const { job } = jobs.enqueue(e.fn, e.request, e.body, { idempotencyKey: null, trigger: 'cron' });
          store.recordRun(e.fn, e.index, Date.now(), job.id);
          logger.debug({ function: e.fn, schedule: e.index, job: job.id }, 'cron tick queued a job');
        } catch (err) {
          if (!(err instanceof FaasError)) throw err;
          // Deleted between the registry write and our update: nothing to run.
          if (err.code === 'FUNCTION_NOT_FOUND') return;
          if (err.code !== 'ASYNC_QUEUE_FULL') throw err;
          store.recordSkip(e.fn, e.index);
          logger.warn({ function: e.fn, schedule: e.index }, 'cron tick skipped: the async queue of the function is full (async.max_queue)');
        }
      });
    } catch (err) {
      logger.error({ err, function: e.fn, schedule: e.index }, 'cron tick failed');
    }
  }

  private jobStatus(id: string): JobStatus | null {
    try {
      return this.opts.jobs.get(id).status;
    } catch (e) {
      if (e instanceof FaasError && e.code === 'JOB_NOT_FOUND') return null;
      throw e;
    }
  }
}
