// What cron schedules remember across restarts, behind a small interface like the job store's
// (SQLite is the one implementation: sqlite-schedule-store.ts). A schedule is the function's
// config.schedules[index]; its state here is keyed by (function, index) and follows the config:
// a schedule whose cron or time zone changed is a new schedule for catch-up (`since` moves).

export interface ScheduleState {
  function: string;
  index: number;
  cron: string;
  timezone: string;
  /** ms since the epoch: when this cron and time zone took effect at this index. */
  since: number;
  /** ms since the epoch: the last tick that queued a job. */
  lastRunAt: number | null;
  lastJobId: string | null;
  /** Ticks that queued nothing: the previous job still queued or running, or the queue full. */
  skipped: number;
}

export interface ScheduleStore {
  /**
   * Makes a function's state match its schedules (an empty list forgets the function): rows
   * beyond the list are deleted, new ones start at `now`, a changed cron or time zone restarts
   * `since` and the skipped count. Returns the state of each schedule, in order.
   */
  sync(fn: string, schedules: readonly { cron: string; timezone: string }[], now: number): ScheduleState[];
  get(fn: string, index: number): ScheduleState | null;
  /** Functions that have state. */
  functions(): string[];
  recordRun(fn: string, index: number, at: number, jobId: string): void;
  recordSkip(fn: string, index: number): void;
  /**
   * Runs `work` as one unit with the job queue's writes (a tick's job and its record commit
   * together, or neither does): both stores live in the registry's database.
   */
  atomically<T>(work: () => T): T;
}
