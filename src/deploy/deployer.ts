// The deploy path, one direction: validate the input, prepare a ready version (the mode can
// run it and its image is local, the code is written and loads, its dependencies are
// installed), then hand it to the registry and, last, to the pools. Order matters for
// "nothing lost": a failed deploy leaves the previous version serving and no half-made
// function behind. Reads of the registry go through here too, so the gateway has one door.
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { writeArchive } from './archive.js';
import { FaasError, badRequest } from '../errors.js';
import type { DeclaredFunctionSpec } from '../config/load.js';
import type { ExecutionMode } from '../model/runtime.js';
import type { DeployTarget } from '../execution/api.js';
import type { CodeStore } from './code-store.js';
import type { DependencyInstaller } from './dependencies.js';
import { defaultConfig, mergeConfig, normaliseRuntime, validateCode, validateHandler, validateName, type FunctionRecord, type FunctionVersion, functionEntry } from '../model/function-model.js';
import { type FunctionFiles, declaredDependencies, defaultEntryFile, entryPoint, filesDigest, filesFromJson } from '../model/function-files.js';
import type { RuntimeName } from '../model/runtime.js';
import type { RegistryStore } from '../registry/store.js';

export interface DeployerOptions {
  store: RegistryStore;
  code: CodeStore;
  /** The execution side: prepares, checks and serves versions. */
  target: DeployTarget;
  installer: DependencyInstaller;
  defaultMode: ExecutionMode;
  maxCodeSize: number;
  /** Versions whose content (row and code directory) is kept for rollback and pinned calls. */
  versionsRetained: number;
  logger: Logger;
  /** Told right after a function's row is written or deleted (the cron scheduler follows deploys). */
  onChanged?: (name: string) => void;
  /** Every secret the version's config.secrets names exists (throws DEPLOY_FAILED naming one that does not). */
  checkSecrets?: (rec: FunctionRecord) => void;
}

/** How a deploy came in. */
export interface DeployOptions {
  source?: 'api' | 'yaml';
  /** The files of a .tar.gz upload or a declared directory, already checked. */
  uploaded?: FunctionFiles;
  /** Who deploys: the API key's name (recorded with the version). */
  actor?: string;
}

export class Deployer {
  private readonly locks = new Map<string, Promise<unknown>>();

  constructor(private readonly opts: DeployerOptions) {}

  get(name: string): FunctionRecord {
    const rec = this.opts.store.get(name);
    if (!rec) throw new FaasError('FUNCTION_NOT_FOUND', `function "${name}" does not exist`, { details: { function: name } });
    return rec;
  }

  find(name: string): FunctionRecord | null {
    return this.opts.store.get(name);
  }

  list(): FunctionRecord[] {
    return this.opts.store.list();
  }

  /** The live version's files as a .tar.gz stream (GET /functions/:name/code). */
  archive(name: string): { version: number; stream: Readable } {
    const rec = this.get(name);
    return { version: rec.version, stream: writeArchive(this.codeDir(rec), Object.keys(rec.files)) };
  }

  healthy(): boolean {
    return this.opts.store.healthy();
  }

  /**
   * Boot: the functions declared in faas_config.yaml are deployed (created or updated), a lost
   * code directory is rebuilt from its row, and every registered function's pool is started.
   */
  async start(declared: readonly DeclaredFunctionSpec[]): Promise<void> {
    await this.syncDeclared(declared);
    for (const rec of this.list()) await this.opts.target.deployed(rec, this.codeDir(rec));
  }

  /** A mode that came up after boot (a Docker engine that answered late): its functions' pools. */
  async serveMode(mode: ExecutionMode): Promise<void> {
    for (const rec of this.list()) if (rec.config.execution_mode === mode) await this.opts.target.deployed(rec, this.codeDir(rec));
  }

  private codeDir(rec: FunctionRecord): string {
    return this.opts.code.versionDir(rec.name, rec.version);
  }

  /** `input` is the API's JSON (name, code and/or files, runtime, handler, config). */
  async create(input: Record<string, unknown>, opts: DeployOptions = {}): Promise<FunctionRecord> {
    const name = validateName(input.name);
    return this.serial(name, async () => {
      const runtime = normaliseRuntime(input.runtime as string | undefined);
      const handler = validateHandler(input.handler);
      const files = this.assembleFiles(runtime, handler, input, opts.uploaded, null);
      const config = mergeConfig(defaultConfig(this.opts.defaultMode), input.config);
      if (this.opts.store.get(name)) {
        throw new FaasError('FUNCTION_EXISTS', `function "${name}" already exists: use PUT /functions/${name} to update it`, { details: { field: 'name' } });
      }
      const now = new Date().toISOString();
      const source = opts.source ?? 'api';
      const rec: FunctionRecord = { name, runtime, handler, code: entryText(runtime, handler, files), files, config, version: 1, source, created_at: now, updated_at: now };
      const meta = { createdBy: actorOf(opts), change: 'created' };
      await this.commit(rec, () => this.opts.store.insert(rec, meta));
      return rec;
    });
  }

  /** Partial update: any of code, files, runtime, handler, config (merged over the current config). */
  async update(name: string, patch: Record<string, unknown>, opts: DeployOptions = {}): Promise<FunctionRecord> {
    return this.serial(name, async () => {
      const cur = this.get(name);
      if (patch.name !== undefined && patch.name !== name) {
        throw badRequest('name', `name cannot be changed (the URL names "${name}"); create a new function instead`);
      }
      const runtime = patch.runtime === undefined ? cur.runtime : normaliseRuntime(patch.runtime as string);
      const handler = patch.handler === undefined ? cur.handler : validateHandler(patch.handler);
      const files = this.assembleFiles(runtime, handler, patch, opts.uploaded, cur);
      const config = mergeConfig(cur.config, patch.config, 'config', defaultConfig(this.opts.defaultMode));
      const rec: FunctionRecord = {
        ...cur,
        code: entryText(runtime, handler, files),
        files,
        runtime,
        handler,
        config,
        source: opts.source ?? 'api',
        version: cur.version + 1,
        updated_at: new Date().toISOString(),
      };
      const meta = { createdBy: actorOf(opts), change: describeChange(cur, rec) };
      await this.commit(rec, () => this.opts.store.update(rec, cur.version, meta));
      return rec;
    });
  }

  /** GET /functions/:name/versions: the history, newest first. */
  versions(name: string): { live: number; versions: FunctionVersion[] } {
    const live = this.get(name).version;
    return { live, versions: this.opts.store.versions(name) };
  }

  /** One retained version's content (404 for an unknown version, 410 for a pruned one). */
  versionRecord(name: string, version: number): FunctionRecord {
    const cur = this.get(name);
    if (version === cur.version) return cur;
    const v = this.opts.store.version(name, version);
    if (!v) throw new FaasError('VERSION_NOT_FOUND', `function "${name}" has no version ${version} (versions 1 to ${cur.version})`, { details: { field: 'version', function: name, version } });
    if (!v.record) {
      throw new FaasError('VERSION_PRUNED', `version ${version} of "${name}" is no longer retained (system.versions_retained keeps the last ${this.opts.versionsRetained})`, {
        details: { field: 'version', function: name, version },
      });
    }
    return v.record;
  }

  /**
   * Make `version`'s content live again, as a new version ("rollback to N"); by default the
   * newest retained version before the live one. Instances roll over as on an update.
   */
  async rollback(name: string, version: number | undefined, opts: DeployOptions = {}): Promise<FunctionRecord> {
    return this.serial(name, async () => {
      const cur = this.get(name);
      const target = version ?? this.opts.store.versions(name).find((v) => v.version < cur.version && v.retained)?.version;
      if (target === undefined) throw badRequest('version', `function "${name}" has no retained version before ${cur.version} to roll back to`);
      if (target === cur.version) throw badRequest('version', `version ${target} is already live`);
      const old = this.versionRecord(name, target);
      const rec: FunctionRecord = {
        ...cur,
        runtime: old.runtime,
        handler: old.handler,
        code: old.code,
        files: old.files,
        config: old.config,
        source: opts.source ?? 'api',
        version: cur.version + 1,
        updated_at: new Date().toISOString(),
      };
      const meta = { createdBy: actorOf(opts), change: `rollback to ${target}` };
      // The old version's directory, dependencies installed, is copied when it is still there.
      const from = (await this.opts.code.exists(name, target)) ? this.opts.code.versionDir(name, target) : undefined;
      await this.commit(rec, () => this.opts.store.update(rec, cur.version, meta), from);
      this.opts.logger.info({ function: name, version: rec.version, to: target }, 'function rolled back');
      return rec;
    });
  }

  /**
   * A pinned call (POST /invoke/name@N): the version's own small pool, made on first use from
   * its retained content (its directory rebuilt if lost). The live version is not pinned.
   */
  async pin(name: string, version: number): Promise<string | null> {
    const rec = this.versionRecord(name, version);
    if (rec.version === this.get(name).version) return null;
    if (!(await this.opts.code.exists(name, version))) {
      await this.serial(name, () => this.opts.code.write(name, version, rec.runtime, rec.files, (dir) => this.installDependencies(rec, dir)));
    }
    return this.opts.target.pinned(rec, this.opts.code.versionDir(name, version));
  }

  /**
   * The files of the new version: the uploaded ones, or the JSON `files` map, or (on update)
   * the current ones; then `code`, if given, is the entry file's new text. A single-file
   * function whose runtime or handler changes keeps its one file under the new entry name.
   */
  private assembleFiles(runtime: RuntimeName, handler: string | null, input: Record<string, unknown>, uploaded: FunctionFiles | undefined, cur: FunctionRecord | null): FunctionFiles {
    const max = this.opts.maxCodeSize;
    let files: FunctionFiles;
    if (uploaded) files = uploaded;
    else if (input.files !== undefined) files = filesFromJson(input.files, max);
    else if (cur && !(Object.keys(cur.files).length === 1 && (cur.runtime !== runtime || cur.handler !== handler))) files = cur.files;
    else files = Object.create(null) as FunctionFiles;
    let code = input.code === undefined ? undefined : this.checkCode(input.code);
    if (code === undefined && Object.keys(files).length === 0) {
      if (!cur) throw badRequest('code', 'code (the source text) or files (path -> text) is required');
      code = cur.code; // a single-file function moved to another runtime or entry name
    }
    if (code !== undefined) {
      let file: string;
      try {
        file = entryPoint(runtime, handler, Object.keys(files)).file;
      } catch {
        file = defaultEntryFile(runtime, handler);
      }
      files = { ...files, [file]: Buffer.from(code, 'utf8') };
      const total = Object.values(files).reduce((n, b) => n + b.length, 0);
      if (total > max) {
        throw new FaasError('PAYLOAD_TOO_LARGE', `the function's files add up to ${total} bytes, over the limit of ${max} (system.max_code_size)`, { details: { field: 'code', limit: max } });
      }
    }
    entryPoint(runtime, handler, Object.keys(files));
    declaredDependencies(runtime, files); // a bad requirements.txt / package.json is a 400 now, not a failed install
    return files;
  }

  async delete(name: string): Promise<void> {
    await this.serial(name, async () => {
      if (!this.opts.store.delete(name)) {
        throw new FaasError('FUNCTION_NOT_FOUND', `function "${name}" does not exist`, { details: { function: name } });
      }
      this.opts.logger.info({ function: name }, 'function deleted');
      this.opts.onChanged?.(name);
      await this.opts.target.removed(name);
      await this.opts.code.removeFunction(name);
    });
  }

  /** Upsert the functions declared in faas_config.yaml, then make sure every code dir exists. */
  private async syncDeclared(declared: readonly DeclaredFunctionSpec[]): Promise<void> {
    await this.opts.code.init();
    for (const d of declared) {
      const cur = this.opts.store.get(d.name);
      const input = { name: d.name, runtime: d.runtime, handler: d.handler, config: d.config };
      if (!cur) {
        await this.create(input, { source: 'yaml', uploaded: d.files, actor: 'faas_config.yaml' });
        this.opts.logger.info({ function: d.name }, 'declared function created from config');
      } else if (
        filesDigest(cur.files) !== filesDigest(d.files) ||
        cur.runtime !== d.runtime ||
        cur.handler !== d.handler ||
        JSON.stringify(cur.config) !== JSON.stringify(d.config) ||
        cur.source !== 'yaml'
      ) {
        const { name: _n, ...patch } = input;
        await this.update(d.name, patch, { source: 'yaml', uploaded: d.files, actor: 'faas_config.yaml' });
        this.opts.logger.info({ function: d.name }, 'declared function updated from config');
      }
    }
    for (const rec of this.opts.store.list()) {
      if (!(await this.opts.code.exists(rec.name, rec.version))) {
        this.opts.logger.warn({ function: rec.name, version: rec.version }, 'code directory missing, rebuilding it from the registry');
        // Not checked again: that version was accepted once already.
        await this.opts.code.write(rec.name, rec.version, rec.runtime, rec.files, (dir) => this.installDependencies(rec, dir));
      }
    }
  }

  private checkCode(code: unknown): string {
    const c = validateCode(code);
    const size = Buffer.byteLength(c, 'utf8');
    if (size > this.opts.maxCodeSize) {
      throw new FaasError('PAYLOAD_TOO_LARGE', `code is ${size} bytes, over the limit of ${this.opts.maxCodeSize} (system.max_code_size)`, {
        details: { field: 'code', limit: this.opts.maxCodeSize },
      });
    }
    return c;
  }

  private async installDependencies(rec: FunctionRecord, dir: string): Promise<void> {
    const deps = [...rec.config.dependencies, ...declaredDependencies(rec.runtime, rec.files)];
    if (deps.length > 0) await this.opts.installer.install(rec.runtime, deps, dir);
  }

  /**
   * Prepare a ready version, write its row (`write`), then hand it to the pools. `from`: a
   * version directory to copy (a rollback) instead of writing and installing the files again.
   */
  private async commit(rec: FunctionRecord, write: () => void, from?: string): Promise<void> {
    const target = this.opts.target;
    this.opts.checkSecrets?.(rec);
    await target.prepare(rec.config.execution_mode, rec.runtime);
    const entry = functionEntry(rec);
    const dir = from
      ? await this.opts.code.copy(rec.name, from, rec.version)
      : await this.opts.code.write(rec.name, rec.version, rec.runtime, rec.files, async (tmp) => {
          // Checked before its dependencies are installed: fail fast.
          await target.checkCode(rec.runtime, tmp, entry.file, entry.handler);
          await this.installDependencies(rec, tmp);
        });
    try {
      write();
    } catch (e) {
      await this.opts.code.removeVersion(rec.name, rec.version);
      throw e;
    }
    this.opts.onChanged?.(rec.name);
    this.opts.logger.info({ function: rec.name, version: rec.version, runtime: rec.runtime, mode: rec.config.execution_mode }, 'function deployed');
    await target.deployed(rec, dir);
    await this.pruneVersions(rec.name);
  }

  /** Content beyond system.versions_retained goes: the rows' code and the directories. */
  private async pruneVersions(name: string): Promise<void> {
    const pruned = this.opts.store.pruneVersions(name, this.opts.versionsRetained);
    if (pruned.length === 0) return;
    const keep = new Set(
      this.opts.store
        .versions(name)
        .filter((v) => v.retained)
        .map((v) => v.version),
    );
    await this.opts.code.prune(name, keep);
    this.opts.target.unpinned(name, keep);
    this.opts.logger.info({ function: name, versions: pruned }, 'old versions pruned');
  }

  /** One deploy at a time per function name; different functions proceed in parallel. */
  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(name) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.catch(() => undefined);
    this.locks.set(name, settled);
    void settled.then(() => {
      if (this.locks.get(name) === settled) this.locks.delete(name);
    });
    return next;
  }
}

/** The entry file's text: what `code` shows for the function. */
function entryText(runtime: RuntimeName, handler: string | null, files: FunctionFiles): string {
  return files[entryPoint(runtime, handler, Object.keys(files)).file]!.toString('utf8');
}

function actorOf(opts: DeployOptions): string {
  return opts.actor ?? (opts.source === 'yaml' ? 'faas_config.yaml' : 'api');
}

/** What a new version changed against the one before, in a few words. */
export function describeChange(prev: FunctionRecord, next: FunctionRecord): string {
  const parts: string[] = [];
  const names = (list: string[]) => (list.length <= 3 ? list.join(', ') : `${list.slice(0, 3).join(', ')} and ${list.length - 3} more`);
  const added = Object.keys(next.files).filter((p) => !(p in prev.files));
  const removed = Object.keys(prev.files).filter((p) => !(p in next.files));
  const changed = Object.keys(next.files).filter((p) => p in prev.files && !prev.files[p]!.equals(next.files[p]!));
  if (changed.length) parts.push(`changed ${names(changed)}`);
  if (added.length) parts.push(`added ${names(added)}`);
  if (removed.length) parts.push(`removed ${names(removed)}`);
  if (prev.runtime !== next.runtime) parts.push(`runtime ${prev.runtime} -> ${next.runtime}`);
  if (prev.handler !== next.handler) parts.push(`handler ${prev.handler ?? '(default)'} -> ${next.handler ?? '(default)'}`);
  const keys = [...new Set([...Object.keys(prev.config), ...Object.keys(next.config)])].filter(
    (k) => JSON.stringify(prev.config[k as keyof FunctionRecord['config']]) !== JSON.stringify(next.config[k as keyof FunctionRecord['config']]),
  );
  if (keys.length) parts.push(`config: ${keys.sort().join(', ')}`);
  return parts.length ? parts.join('; ') : 'no change (redeployed)';
}
