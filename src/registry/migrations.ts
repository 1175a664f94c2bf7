// Versioned schema migrations, applied in order inside one transaction each and recorded in
// SQLite's user_version. Append only: never edit a migration that has shipped.
import type Database from 'better-sqlite3';

const MIGRATIONS: readonly string[] = [
  // 1: the function registry
  `CREATE TABLE functions (
     name       TEXT PRIMARY KEY,
     runtime    TEXT NOT NULL,
     handler    TEXT,
     code       TEXT NOT NULL,
     config     TEXT NOT NULL,
     version    INTEGER NOT NULL,
     source     TEXT NOT NULL CHECK (source IN ('api', 'yaml')),
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   ) STRICT`,
  // 2: asynchronous invocations (jobs/): one row per job, its request, its state and result
  `CREATE TABLE jobs (
     id               TEXT PRIMARY KEY,
     function         TEXT NOT NULL,
     status           TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
     request          TEXT NOT NULL,
     body             BLOB NOT NULL,
     idempotency_key  TEXT,
     trigger          TEXT NOT NULL,
     attempts         INTEGER NOT NULL DEFAULT 0,
     max_attempts     INTEGER NOT NULL,
     next_run_at      INTEGER NOT NULL,
     created_at       INTEGER NOT NULL,
     started_at       INTEGER,
     finished_at      INTEGER,
     result           TEXT,
     result_body      BLOB,
     error            TEXT,
     callback_url     TEXT
   ) STRICT;
   CREATE INDEX jobs_queue ON jobs (status, function, next_run_at, created_at);
   CREATE UNIQUE INDEX jobs_idempotency ON jobs (function, idempotency_key) WHERE idempotency_key IS NOT NULL;
   CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL`,
  // 3: result callbacks (jobs/callbacks.ts): a job with a callback_url that ends is 'pending'
  // until its result is delivered or the deliveries are given up ('failed')
  `ALTER TABLE jobs ADD COLUMN callback_status TEXT CHECK (callback_status IN ('pending', 'delivered', 'failed'));
   ALTER TABLE jobs ADD COLUMN callback_attempts INTEGER NOT NULL DEFAULT 0;
   ALTER TABLE jobs ADD COLUMN callback_next_at INTEGER;
   ALTER TABLE jobs ADD COLUMN callback_error TEXT;
   ALTER TABLE jobs ADD COLUMN callback_done_at INTEGER;
   CREATE INDEX jobs_callbacks_due ON jobs (callback_next_at) WHERE callback_status = 'pending'`,
  // 4: cron schedules (jobs/scheduler.ts): what each schedule of a function remembers across
  // restarts (its last run and job, ticks skipped); the schedules themselves are the function's config
  `CREATE TABLE schedules (
     function     TEXT NOT NULL,
     idx          INTEGER NOT NULL,
     cron         TEXT NOT NULL,
     timezone     TEXT NOT NULL,
     since        INTEGER NOT NULL,
     last_run_at  INTEGER,
     last_job_id  TEXT,
     skipped      INTEGER NOT NULL DEFAULT 0,
     PRIMARY KEY (function, idx)
   ) STRICT`,
  // 5: jobs per function and status, kept by triggers in the same transaction as each change:
  // the max_queue check on every enqueue and the queue summary on every /metrics scrape read a
  // few rows instead of counting the whole backlog (3.3 ms and 29 ms at 100,000 queued).
  `CREATE TABLE job_counts (
     function TEXT NOT NULL,
     status   TEXT NOT NULL,
     n        INTEGER NOT NULL,
     PRIMARY KEY (function, status)
   ) STRICT;
   INSERT INTO job_counts SELECT function, status, count(*) FROM jobs GROUP BY function, status;
   CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs BEGIN
     INSERT INTO job_counts VALUES (NEW.function, NEW.status, 1) ON CONFLICT DO UPDATE SET n = n + 1;
   END;
   CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs BEGIN
     UPDATE job_counts SET n = n - 1 WHERE function = OLD.function AND status = OLD.status;
   END;
   CREATE TRIGGER job_counts_update AFTER UPDATE OF status ON jobs WHEN OLD.status <> NEW.status BEGIN
     UPDATE job_counts SET n = n - 1 WHERE function = OLD.function AND status = OLD.status;
     INSERT INTO job_counts VALUES (NEW.function, NEW.status, 1) ON CONFLICT DO UPDATE SET n = n + 1;
   END`,
  // 6: multi-file functions: every file of the live version, as JSON {path: base64}. NULL on
  // rows written before: those functions are their one entry file, the `code` column.
  `ALTER TABLE functions ADD COLUMN files TEXT`,
  // 7: secrets (secrets/secret-store.ts): each value sealed with AES-256-GCM under the key in
  // system.secrets_key_path, which is not in this database: a copy of it alone reveals none
  `CREATE TABLE secrets (
     name       TEXT PRIMARY KEY,
     sealed     BLOB NOT NULL,
     created_at TEXT NOT NULL,
     updated_at TEXT NOT NULL
   ) STRICT`,
  // 8: versions: every create, update and rollback, immutable; the content (code, files,
  // config) of all but the last system.versions_retained is dropped (pruned_at set). The
  // functions row stays the live version. Existing functions start with their live version.
  `CREATE TABLE function_versions (
     name       TEXT NOT NULL,
     version    INTEGER NOT NULL,
     runtime    TEXT NOT NULL,
     handler    TEXT,
     code       TEXT,
     files      TEXT,
     config     TEXT,
     source     TEXT NOT NULL,
     created_at TEXT NOT NULL,
     created_by TEXT NOT NULL,
     digest     TEXT NOT NULL,
     change     TEXT NOT NULL,
     pruned_at  TEXT,
     PRIMARY KEY (name, version)
   ) STRICT;
   INSERT INTO function_versions (name, version, runtime, handler, code, files, config, source, created_at, created_by, digest, change)
     SELECT name, version, runtime, handler, code, files, config, source, updated_at, '(before versions)', '', 'live when versions were introduced' FROM functions`,
  // 9: an async job may name a retained version (POST /async/name@N): null runs the live one.
  `ALTER TABLE jobs ADD COLUMN version INTEGER`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(`registry schema version ${current} is newer than this faasd understands (${MIGRATIONS.length}); upgrade faasd`);
  }
  for (let v = current; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v]!);
      db.pragma(`user_version = ${v + 1}`);
    })();
  }
  return MIGRATIONS.length - current;
}
