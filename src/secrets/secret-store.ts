// Secrets at rest: one row per secret in the registry's SQLite database (table `secrets`,
// registry/migrations.ts), its value sealed with the key file's key (cipher.ts). Values are
// opened only to hand them to an instance that is starting (SecretSource.read); nothing
// here logs or returns one anywhere else.
import type Database from 'better-sqlite3';
import { FaasError } from '../errors.js';
import { open, seal } from './cipher.js';
import type { KeyFile } from './key-file.js';

export interface SecretInfo {
  name: string;
  created_at: string;
  updated_at: string;
}

/** A secret's value as an instance gets it (a file named after it). */
export interface SecretValue {
  name: string;
  value: Buffer;
}

interface Row extends SecretInfo {
  sealed: Buffer;
}

export class SecretStore {
  private readonly stmts;

  /** `onUnreadable`: told when read() leaves a secret out (its name and why; never its value). */
  constructor(
    db: Database.Database,
    private readonly key: KeyFile,
    private readonly onUnreadable: (name: string, why: string) => void = () => {},
  ) {
    this.stmts = {
      info: db.prepare<[string], SecretInfo>('SELECT name, created_at, updated_at FROM secrets WHERE name = ?'),
      row: db.prepare<[string], Row>('SELECT * FROM secrets WHERE name = ?'),
      list: db.prepare<[], SecretInfo>('SELECT name, created_at, updated_at FROM secrets ORDER BY name'),
      all: db.prepare<[], Row>('SELECT * FROM secrets'),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM secrets'),
      insert: db.prepare('INSERT INTO secrets (name, sealed, created_at, updated_at) VALUES (@name, @sealed, @now, @now)'),
      update: db.prepare('UPDATE secrets SET sealed = @sealed, updated_at = @now WHERE name = @name'),
      delete: db.prepare<[string]>('DELETE FROM secrets WHERE name = ?'),
    };
  }

  list(): SecretInfo[] {
    return this.stmts.list.all();
  }

  get(name: string): SecretInfo | null {
    return this.stmts.info.get(name) ?? null;
  }

  /** The names in `names` that are not stored. */
  missing(names: readonly string[]): string[] {
    return names.filter((n) => !this.stmts.info.get(n));
  }

  create(name: string, value: Buffer): SecretInfo {
    const sealed = seal(this.sealingKey(), name, value);
    try {
      this.stmts.insert.run({ name, sealed, now: new Date().toISOString() });
    } catch (e) {
      if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new FaasError('SECRET_EXISTS', `secret "${name}" already exists: use PUT /secrets/${name} to change its value`, { details: { field: 'name', secret: name } });
      }
      throw e;
    }
    return this.get(name)!;
  }

  update(name: string, value: Buffer): SecretInfo {
    if (!this.get(name)) throw notFound(name);
    const r = this.stmts.update.run({ name, sealed: seal(this.sealingKey(), name, value), now: new Date().toISOString() });
    if (r.changes !== 1) throw notFound(name);
    return this.get(name)!;
  }

  delete(name: string): void {
    if (this.stmts.delete.run(name).changes !== 1) throw notFound(name);
  }

  /**
   * The values of `names` for an instance that is starting. Never throws: a secret that is
   * missing or does not open is left out (its file will not exist) and reported to
   * onUnreadable, so one bad secret cannot wedge a pool.
   */
  read(names: readonly string[]): SecretValue[] {
    if (names.length === 0) return [];
    let key: Buffer | null;
    try {
      key = this.key.load();
    } catch (e) {
      for (const n of names) this.onUnreadable(n, (e as Error).message);
      return [];
    }
    const out: SecretValue[] = [];
    for (const name of names) {
      const row = this.stmts.row.get(name);
      if (!row) {
        this.onUnreadable(name, 'no such secret');
        continue;
      }
      const value = key ? open(key, name, row.sealed) : null;
      if (value) out.push({ name, value });
      else this.onUnreadable(name, key ? `it does not open with the key in ${this.key.file} (not the key it was sealed with?)` : `the key file ${this.key.file} is missing`);
    }
    return out;
  }

  /** Boot check: the names of stored secrets the key cannot open (all of them without a key file). */
  unreadable(): string[] {
    const rows = this.stmts.all.all();
    if (rows.length === 0) return [];
    const key = this.key.load();
    return rows.filter((r) => !key || !open(key, r.name, r.sealed)).map((r) => r.name);
  }

  /**
   * The key to seal with, made on first use. Never a fresh key while sealed values exist: they
   * were sealed with a key file that is missing now (a registry copied without it), and a new
   * key would leave a mix that no single file opens.
   */
  private sealingKey(): Buffer {
    const key = this.key.load();
    if (key) return key;
    if (this.stmts.count.get()!.n > 0) {
      throw new FaasError(
        'CONFIG_INVALID',
        `the secrets key file ${this.key.file} is missing but the registry holds secrets sealed with it: restore the file, or DELETE every secret before setting new ones`,
        { details: { field: 'system.secrets_key_path' } },
      );
    }
    return this.key.loadOrCreate();
  }
}

function notFound(name: string): FaasError {
  return new FaasError('SECRET_NOT_FOUND', `secret "${name}" does not exist`, { details: { secret: name } });
}
