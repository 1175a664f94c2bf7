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
