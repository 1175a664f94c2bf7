// The SQLite registry (better-sqlite3, WAL). Rows only: code files on disk are code-store.ts.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FaasError } from '../errors.js';
import type { RuntimeName } from '../model/runtime.js';
import type { FunctionConfig, FunctionRecord } from '../model/function-model.js';
import { configShapeProblem, fieldName, instanceBoundsProblem } from '../model/function-schema.js';
import { migrate } from './migrations.js';
import { defaultEntryFile, type FunctionFiles } from '../model/function-files.js';

interface Row {
  name: string;
  runtime: string;
  handler: string | null;
  code: string;
  files: string | null;
  config: string;
  version: number;
  source: string;
  created_at: string;
  updated_at: string;
}

function toRecord(r: Row): FunctionRecord {
  // A row written by an older faasd, or edited by hand, may not match today's schema: say which
  // field, rather than hand a bad config to the pool.
  let config: FunctionConfig;
  try {
    config = JSON.parse(r.config) as FunctionConfig;
  } catch {
    config = r.config as unknown as FunctionConfig; // not JSON: the schema reports "expected an object"
  }
  const problem = configShapeProblem(config) ?? instanceBoundsProblem(config);
  if (problem) {
    throw new FaasError(
      'CONFIG_INVALID',
      `registry row of function "${r.name}" (version ${r.version}) no longer validates: ${fieldName('config', problem.path)}: ${problem.detail}; delete the function and deploy it again`,
      { details: { function: r.name } },
    );
  }
  return {
    name: r.name,
    runtime: r.runtime as RuntimeName,
    handler: r.handler,
    code: r.code,
    files: r.files === null ? { [defaultEntryFile(r.runtime as RuntimeName, r.handler)]: Buffer.from(r.code, 'utf8') } : decodeFiles(r.files),
    config,
    version: r.version,
    source: r.source as 'api' | 'yaml',
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
}

function encodeFiles(files: FunctionFiles): string {
  return JSON.stringify(Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])));
}

function decodeFiles(json: string): FunctionFiles {
  const out = Object.create(null) as FunctionFiles;
  for (const [p, b64] of Object.entries(JSON.parse(json) as Record<string, string>)) out[p] = Buffer.from(b64, 'base64');
  return out;
}

/** A record as the statements bind it. */
function toRow(rec: FunctionRecord): Row {
  return { ...rec, files: encodeFiles(rec.files), config: JSON.stringify(rec.config) };
}

export class RegistryStore {
  private readonly db: Database.Database;
  private readonly stmts;
  private closed = false;

  /** Rows list() left out, already reported (once each). */
  private readonly reported = new Set<string>();

  /** `onInvalidRow`: told once about each row list() leaves out (default: a process warning). */
  constructor(
    readonly file: string,
    private readonly onInvalidRow: (message: string) => void = (m) => process.emitWarning(m, { code: 'FAASD_REGISTRY_ROW' }),
  ) {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    this.db = new Database(file);
    // WAL: readers never block the writer; NORMAL sync is durable across process crashes.
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.pragma('foreign_keys = ON');
    migrate(this.db);
    // The registry holds function code and environments: readable by the daemon only.
    try {
      fs.chmodSync(file, 0o600);
    } catch {
      /* not ours to change (e.g. a read-only mount): leave it */
    }
    this.stmts = {
      get: this.db.prepare<[string], Row>('SELECT * FROM functions WHERE name = ?'),
      list: this.db.prepare<[], Row>('SELECT * FROM functions ORDER BY name'),
      insert: this.db.prepare(
        `INSERT INTO functions (name, runtime, handler, code, files, config, version, source, created_at, updated_at)
         VALUES (@name, @runtime, @handler, @code, @files, @config, @version, @source, @created_at, @updated_at)`,
      ),
      update: this.db.prepare(
        `UPDATE functions SET runtime = @runtime, handler = @handler, code = @code, files = @files, config = @config,
           version = @version, source = @source, updated_at = @updated_at WHERE name = @name AND version = @prev_version`,
      ),
      delete: this.db.prepare<[string]>('DELETE FROM functions WHERE name = ?'),
      ping: this.db.prepare('SELECT 1'),
    };
  }

  /** The connection, for other durable state that lives in the registry (the job queue). */
  get database(): Database.Database {
    return this.db;
  }

  get(name: string): FunctionRecord | null {
    const row = this.stmts.get.get(name);
    return row ? toRecord(row) : null;
  }

  /** Every row whose config validates; one that does not is reported, not fatal to the list. */
  list(): FunctionRecord[] {
    const out: FunctionRecord[] = [];
    for (const row of this.stmts.list.all()) {
      try {
        out.push(toRecord(row));
      } catch (e) {
        if (!(e instanceof FaasError)) throw e;
        const key = `${row.name}@${row.version}`;
        if (!this.reported.has(key)) this.onInvalidRow(e.message);
        this.reported.add(key);
      }
    }
    return out;
  }

  insert(rec: FunctionRecord): void {
    try {
      this.stmts.insert.run(toRow(rec));
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new FaasError('FUNCTION_EXISTS', `function "${rec.name}" already exists: use PUT /functions/${rec.name} to update it`, {
          details: { field: 'name' },
        });
      }
      throw e;
    }
  }

  /** Optimistic update: fails with 409 if someone else updated the row in between. */
  update(rec: FunctionRecord, prevVersion: number): void {
    const r = this.stmts.update.run({ ...toRow(rec), prev_version: prevVersion });
    if (r.changes !== 1) {
      throw new FaasError('FUNCTION_EXISTS', `function "${rec.name}" was changed concurrently; retry the update`);
    }
  }

  delete(name: string): boolean {
    return this.stmts.delete.run(name).changes === 1;
  }

  healthy(): boolean {
    if (this.closed) return false;
    try {
      this.stmts.ping.get();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }
}
