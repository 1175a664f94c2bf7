// Schedule state on the registry's SQLite database, beside the job queue (migration 4).
import type Database from 'better-sqlite3';
import type { ScheduleState, ScheduleStore } from './schedule-store.js';

interface Row {
  function: string;
  idx: number;
  cron: string;
  timezone: string;
  since: number;
  last_run_at: number | null;
  last_job_id: string | null;
  skipped: number;
}

function toState(r: Row): ScheduleState {
  return {
    function: r.function,
    index: r.idx,
    cron: r.cron,
    timezone: r.timezone,
    since: r.since,
    lastRunAt: r.last_run_at,
    lastJobId: r.last_job_id,
    skipped: r.skipped,
  };
}

export class SqliteScheduleStore implements ScheduleStore {
  private readonly s;

  constructor(private readonly db: Database.Database) {
    this.s = {
      ofFunction: db.prepare<[string], Row>('SELECT * FROM schedules WHERE function = ? ORDER BY idx'),
      get: db.prepare<[string, number], Row>('SELECT * FROM schedules WHERE function = ? AND idx = ?'),
      functions: db.prepare<[], { function: string }>('SELECT DISTINCT function FROM schedules ORDER BY function'),
      insert: db.prepare<[string, number, string, string, number]>('INSERT INTO schedules (function, idx, cron, timezone, since) VALUES (?, ?, ?, ?, ?)'),
      // The last job is kept: a running job of the old expression still holds off overlap.
      redefine: db.prepare<[string, string, number, string, number]>('UPDATE schedules SET cron = ?, timezone = ?, since = ?, skipped = 0 WHERE function = ? AND idx = ?'),
      trim: db.prepare<[string, number]>('DELETE FROM schedules WHERE function = ? AND idx >= ?'),
      run: db.prepare<[number, string, string, number]>('UPDATE schedules SET last_run_at = ?, last_job_id = ? WHERE function = ? AND idx = ?'),
      skip: db.prepare<[string, number]>('UPDATE schedules SET skipped = skipped + 1 WHERE function = ? AND idx = ?'),
    };
  }

  sync(fn: string, schedules: readonly { cron: string; timezone: string }[], now: number): ScheduleState[] {
    return this.db.transaction(() => {
      this.s.trim.run(fn, schedules.length);
      const have = new Map(this.s.ofFunction.all(fn).map((r) => [r.idx, r]));
      schedules.forEach((sc, i) => {
        const row = have.get(i);
        if (!row) this.s.insert.run(fn, i, sc.cron, sc.timezone, now);
        else if (row.cron !== sc.cron || row.timezone !== sc.timezone) this.s.redefine.run(sc.cron, sc.timezone, now, fn, i);
      });
      return this.s.ofFunction.all(fn).map(toState);
    })();
  }

  get(fn: string, index: number): ScheduleState | null {
    const r = this.s.get.get(fn, index);
    return r ? toState(r) : null;
  }

  functions(): string[] {
    return this.s.functions.all().map((r) => r.function);
  }

  recordRun(fn: string, index: number, at: number, jobId: string): void {
    this.s.run.run(at, jobId, fn, index);
  }

  recordSkip(fn: string, index: number): void {
    this.s.skip.run(fn, index);
  }

  atomically<T>(work: () => T): T {
    // better-sqlite3 nests the job store's own transactions inside this one as savepoints.
    return this.db.transaction(work)();
  }
}
