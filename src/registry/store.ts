// The SQLite registry (better-sqlite3, WAL). Rows only: code files on disk are code-store.ts.
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { FaasError } from '../errors.js';
import type { RuntimeName } from '../model/runtime.js';
import type { FunctionConfig, FunctionRecord, FunctionVersion, VersionMeta } from '../model/function-model.js';
import { configShapeProblem, fieldName, instanceBoundsProblem } from '../model/function-schema.js';
import { migrate } from './migrations.js';
import { defaultEntryFile, filesDigest, type FunctionFiles } from '../model/function-files.js';

/** A row of list(): everything but the content (code and files), which can be megabytes. */
type ListedRow = Omit<Row, 'code' | 'files'> & { code?: string; files?: string | null };

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

/** Reads a listed version's content when it is first needed (list() leaves it out). */
type ContentLoader = (name: string, version: number) => { code: string; files: FunctionFiles };

function toRecord(r: ListedRow, lazy?: ContentLoader): FunctionRecord {
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
  const meta = {
    name: r.name,
    runtime: r.runtime as RuntimeName,
    handler: r.handler,
    config,
    version: r.version,
    source: r.source as 'api' | 'yaml',
    created_at: r.created_at,
    updated_at: r.updated_at,
  };
  if (r.code !== undefined) return { ...meta, code: r.code, files: filesOf(r.runtime, r.handler, r.code, r.files ?? null) };
  // A listed row: its content is read when first asked for (see list()).
  const rec = meta as FunctionRecord;
  let content: { code: string; files: FunctionFiles } | null = null;
  const load = () => (content ??= lazy!(r.name, r.version));
  for (const key of ['code', 'files'] as const) {
    Object.defineProperty(rec, key, {
      enumerable: true,
      configurable: true,
      get: () => load()[key],
      set: (v) => Object.defineProperty(rec, key, { value: v, enumerable: true, writable: true, configurable: true }),
    });
  }
  return rec;
}

/** A row's files; rows written before multi-file functions are their one entry file. */
function filesOf(runtime: string, handler: string | null, code: string, files: string | null): FunctionFiles {
  return files === null ? { [defaultEntryFile(runtime as RuntimeName, handler)]: Buffer.from(code, 'utf8') } : decodeFiles(files);
}

function encodeFiles(files: FunctionFiles): string {
  return JSON.stringify(Object.fromEntries(Object.entries(files).map(([p, b]) => [p, b.toString('base64')])));
}

function decodeFiles(json: string): FunctionFiles {
  const out = Object.create(null) as FunctionFiles;
  for (const [p, b64] of Object.entries(JSON.parse(json) as Record<string, string>)) out[p] = Buffer.from(b64, 'base64');
  return out;
}

interface VersionRow extends Omit<Row, 'code' | 'config' | 'updated_at'> {
  code: string | null;
  config: string | null;
  created_by: string;
  digest: string;
  change: string;
  pruned_at: string | null;
}

function toVersion(r: VersionRow): FunctionVersion {
  return {
    version: r.version,
    created_at: r.created_at,
    created_by: r.created_by,
    // Versions recorded by the migration carry no digest: it is computed from their files.
    digest: r.digest || (r.files !== null ? filesDigest(decodeFiles(r.files)) : r.code !== null ? filesDigest({ x: Buffer.from(r.code) }) : ''),
    change: r.change,
    source: r.source as 'api' | 'yaml',
    retained: r.pruned_at === null,
  };
}

function versionColumns(rec: FunctionRecord, meta: VersionMeta) {
  return { created_by: meta.createdBy, change: meta.change, digest: filesDigest(rec.files) };
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
      list: this.db.prepare<[], ListedRow>('SELECT name, runtime, handler, config, version, source, created_at, updated_at FROM functions ORDER BY name'),
      // Versions are immutable: a listed record's content is there even if the function moved on since.
      content: this.db.prepare<[string, number], { code: string | null; files: string | null; runtime: string; handler: string | null }>(
        'SELECT code, files, runtime, handler FROM function_versions WHERE name = ? AND version = ?',
      ),
      insert: this.db.prepare(
        `INSERT INTO functions (name, runtime, handler, code, files, config, version, source, created_at, updated_at)
         VALUES (@name, @runtime, @handler, @code, @files, @config, @version, @source, @created_at, @updated_at)`,
      ),
      update: this.db.prepare(
        `UPDATE functions SET runtime = @runtime, handler = @handler, code = @code, files = @files, config = @config,
           version = @version, source = @source, updated_at = @updated_at WHERE name = @name AND version = @prev_version`,
      ),
      delete: this.db.prepare<[string]>('DELETE FROM functions WHERE name = ?'),
      deleteVersions: this.db.prepare<[string]>('DELETE FROM function_versions WHERE name = ?'),
      insertVersion: this.db.prepare(
        `INSERT INTO function_versions (name, version, runtime, handler, code, files, config, source, created_at, created_by, digest, change)
         VALUES (@name, @version, @runtime, @handler, @code, @files, @config, @source, @updated_at, @created_by, @digest, @change)`,
      ),
      // Content only where the digest has to be computed (versions recorded by the migration).
      listVersions: this.db.prepare<[string], VersionRow>(
        `SELECT name, version, runtime, handler, source, created_at, created_by, digest, change, pruned_at,
                CASE WHEN digest = '' THEN code END AS code, CASE WHEN digest = '' THEN files END AS files, NULL AS config
         FROM function_versions WHERE name = ? ORDER BY version DESC`,
      ),
      getVersion: this.db.prepare<[string, number], VersionRow>('SELECT * FROM function_versions WHERE name = ? AND version = ?'),
      pruneVersions: this.db.prepare<[string, string, string, number], { version: number }>(
        `UPDATE function_versions SET code = NULL, files = NULL, config = NULL, pruned_at = ?
         WHERE name = ? AND pruned_at IS NULL AND version NOT IN (SELECT version FROM function_versions WHERE name = ? ORDER BY version DESC LIMIT ?)
         RETURNING version`,
      ),
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

  private readonly loadContent: ContentLoader = (name, version) => {
    const r = this.stmts.content.get(name, version);
    if (!r || r.code === null) throw new FaasError('FUNCTION_NOT_FOUND', `version ${version} of function "${name}" is no longer in the registry`, { details: { function: name } });
    return { code: r.code, files: filesOf(r.runtime, r.handler, r.code, r.files) };
  };

  /**
   * Every row whose config validates; one that does not is reported, not fatal to the list.
   * The records' code and files are read when first used: the list is read on every
   * /functions and /stats request, and decoding every function's files there cost ~1 ms per
   * 200 KB function.
   */
  list(): FunctionRecord[] {
    const out: FunctionRecord[] = [];
    for (const row of this.stmts.list.all()) {
      try {
        out.push(toRecord(row, this.loadContent));
      } catch (e) {
        if (!(e instanceof FaasError)) throw e;
        const key = `${row.name}@${row.version}`;
        if (!this.reported.has(key)) this.onInvalidRow(e.message);
        this.reported.add(key);
      }
    }
    return out;
  }

  /** A new function and its first version, in one transaction. */
  insert(rec: FunctionRecord, meta: VersionMeta): void {
    try {
      this.db.transaction(() => {
        const row = toRow(rec);
        this.stmts.insert.run(row);
        this.stmts.insertVersion.run({ ...row, ...versionColumns(rec, meta) });
      })();
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new FaasError('FUNCTION_EXISTS', `function "${rec.name}" already exists: use PUT /functions/${rec.name} to update it`, {
          details: { field: 'name' },
        });
      }
      throw e;
    }
  }

  /** Optimistic update, recorded as a new version: fails with 409 if someone else updated the row in between. */
  update(rec: FunctionRecord, prevVersion: number, meta: VersionMeta): void {
    this.db.transaction(() => {
      const row = toRow(rec);
      const r = this.stmts.update.run({ ...row, prev_version: prevVersion });
      if (r.changes !== 1) {
        throw new FaasError('FUNCTION_EXISTS', `function "${rec.name}" was changed concurrently; retry the update`);
      }
      this.stmts.insertVersion.run({ ...row, ...versionColumns(rec, meta) });
    })();
  }

  /** A function and its whole version history. */
  delete(name: string): boolean {
    return this.db.transaction(() => {
      this.stmts.deleteVersions.run(name);
      return this.stmts.delete.run(name).changes === 1;
    })();
  }

  /** Every version of `name`, newest first (content left out). */
  versions(name: string): FunctionVersion[] {
    return this.stmts.listVersions.all(name).map(toVersion);
  }

  /** One version with its content; null when there is no such version, or its content was pruned. */
  version(name: string, version: number): { info: FunctionVersion; record: FunctionRecord | null } | null {
    const row = this.stmts.getVersion.get(name, version);
    if (!row) return null;
    const info = toVersion(row);
    if (row.pruned_at !== null || row.code === null || row.config === null) return { info, record: null };
    return { info, record: toRecord({ ...row, code: row.code, config: row.config, updated_at: row.created_at, created_at: row.created_at }) };
  }

  /** Drop the content of all but the newest `keep` versions; the versions whose content went. */
  pruneVersions(name: string, keep: number): number[] {
    return this.stmts.pruneVersions.all(new Date().toISOString(), name, name, keep).map((r) => r.version);
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
