// Function code on disk, one directory per version: <root>/<name>/v<version>/. A version is
// assembled in a temp directory (code + installed dependencies) and renamed into place, so an
// executor never sees half a deploy. The registry row stays the source of truth: a lost
// directory (function_storage_path under a wiped /tmp) is rebuilt from it at boot.
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { RuntimeName } from '../model/runtime.js';
import type { FunctionFiles } from '../model/function-files.js';

export type PrepareHook = (dir: string) => Promise<void>;

export class CodeStore {
  constructor(readonly root: string) {}

  async init(): Promise<void> {
    // 0711: instances (uid 65534 in standard/none modes) may traverse to their own version
    // directory but cannot list the other functions.
    await fs.mkdir(this.root, { recursive: true, mode: 0o711 });
    await fs.chmod(this.root, 0o711).catch(() => undefined);
  }

  functionDir(name: string): string {
    return path.join(this.root, name);
  }

  versionDir(name: string, version: number): string {
    return path.join(this.root, name, `v${version}`);
  }

  async exists(name: string, version: number): Promise<boolean> {
    try {
      await fs.access(path.join(this.versionDir(name, version), '.complete'));
      return true;
    } catch {
      return false;
    }
  }

  /** Write the version's directory atomically; `prepare` runs inside the temp dir first. */
  async write(name: string, version: number, runtime: RuntimeName, files: FunctionFiles, prepare?: PrepareHook): Promise<string> {
    return this.place(name, version, async (tmp) => {
      await fs.mkdir(tmp, { mode: 0o755 });
      // Paths were checked when the files came in (model/function-files.ts): relative, no "..".
      for (const [rel, content] of Object.entries(files)) {
        const file = path.join(tmp, rel);
        await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
        await fs.writeFile(file, content, { mode: 0o644 });
      }
      if (runtime === 'node' && !files['package.json']) {
        // Pin CommonJS whatever package.json a host directory above might declare.
        await fs.writeFile(path.join(tmp, 'package.json'), `${JSON.stringify({ name: `faas-fn-${name}`, private: true, type: 'commonjs' })}\n`, { mode: 0o644 });
      }
      if (prepare) await prepare(tmp);
      await fs.writeFile(path.join(tmp, '.complete'), `${new Date().toISOString()}\n`, { mode: 0o644 });
    });
  }

  /** Copy a version directory (dependencies and .complete included) as version `version`: a rollback. */
  async copy(name: string, from: string, version: number): Promise<string> {
    return this.place(name, version, (tmp) => fs.cp(from, tmp, { recursive: true, preserveTimestamps: true, verbatimSymlinks: true }));
  }

  /** `fill` makes a temp directory beside the versions; it is renamed into place only once whole. */
  private async place(name: string, version: number, fill: (tmp: string) => Promise<void>): Promise<string> {
    const fnDir = this.functionDir(name);
    await fs.mkdir(fnDir, { recursive: true, mode: 0o711 });
    const tmp = path.join(fnDir, `.tmp-v${version}-${crypto.randomBytes(4).toString('hex')}`);
    try {
      await fill(tmp);
      const dest = this.versionDir(name, version);
      await fs.rm(dest, { recursive: true, force: true });
      await fs.rename(tmp, dest);
      return dest;
    } catch (e) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw e;
    }
  }

  async removeVersion(name: string, version: number): Promise<void> {
    await fs.rm(this.versionDir(name, version), { recursive: true, force: true });
  }

  /** Remove every version directory of `name` except those in `keep`. */
  async prune(name: string, keep: ReadonlySet<number>): Promise<void> {
    let entries: string[];
    try {
      entries = await fs.readdir(this.functionDir(name));
    } catch {
      return;
    }
    await Promise.all(entries.filter((e) => /^v\d+$/.test(e) && !keep.has(Number(e.slice(1)))).map((e) => fs.rm(path.join(this.functionDir(name), e), { recursive: true, force: true })));
  }

  async removeFunction(name: string): Promise<void> {
    await fs.rm(this.functionDir(name), { recursive: true, force: true });
  }
}
