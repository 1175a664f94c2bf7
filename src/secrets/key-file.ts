// The key every secret is sealed with: 32 random bytes in a file of its own
// (system.secrets_key_path, default next to the registry), made on first use with mode 0600.
// Kept apart from the registry on purpose: a copy of registry.db alone (a backup, a file
// attached to a bug report) reveals no secret. Like ssh with a private key, faasd refuses a
// key file that others could read or replace, rather than use it and warn.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { FaasError } from '../errors.js';

/** AES-256: the key is exactly this many raw bytes. */
export const KEY_BYTES = 32;

export class KeyFile {
  private key: Buffer | null = null;

  constructor(readonly file: string) {}

  /** The key if its file exists (checked), else null. Throws CONFIG_INVALID for a bad file. */
  load(): Buffer | null {
    if (this.key) return this.key;
    let fd: number;
    try {
      // O_NOFOLLOW: a symlink put in the key's place is refused, not followed.
      fd = fs.openSync(this.file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ELOOP') throw bad(this.file, 'is a symbolic link; point system.secrets_key_path at the file itself');
      throw bad(this.file, `cannot be read: ${code ?? (e as Error).message}`);
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw bad(this.file, 'is not a regular file');
      const uid = process.getuid?.();
      if (uid !== undefined && st.uid !== uid) throw bad(this.file, `belongs to uid ${st.uid}, not to faasd's uid ${uid}: chown ${uid} ${this.file}`);
      if ((st.mode & 0o077) !== 0) {
        throw bad(this.file, `has mode 0${(st.mode & 0o777).toString(8)}; it must be readable by faasd only: chmod 600 ${this.file}`);
      }
      if (st.size !== KEY_BYTES) throw bad(this.file, `is ${st.size} bytes, expected exactly ${KEY_BYTES} raw bytes (an AES-256 key; make one with: head -c 32 /dev/urandom)`);
      const key = Buffer.alloc(KEY_BYTES);
      if (fs.readSync(fd, key, 0, KEY_BYTES, 0) !== KEY_BYTES) throw bad(this.file, 'changed while it was read');
      this.key = key;
      return key;
    } finally {
      fs.closeSync(fd);
    }
  }

  /** The key, made now (0600, in a 0700 directory) if its file does not exist yet. */
  loadOrCreate(): Buffer {
    const existing = this.load();
    if (existing) return existing;
    fs.mkdirSync(path.dirname(this.file), { recursive: true, mode: 0o700 });
    const key = crypto.randomBytes(KEY_BYTES);
    let fd: number;
    try {
      // O_EXCL: two daemons cannot share a registry (the lock), but never overwrite a key.
      fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW, 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return this.load()!;
      throw bad(this.file, `cannot be created: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    try {
      fs.writeSync(fd, key);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    this.key = key;
    return key;
  }
}

function bad(file: string, why: string): FaasError {
  return new FaasError('CONFIG_INVALID', `secrets key file ${file} (system.secrets_key_path) ${why}`, { details: { field: 'system.secrets_key_path' } });
}

/** The key must not be where function code is kept (or be the registry itself). */
export function checkKeyPath(keyPath: string, functionStorage: string, registry: string): void {
  const inside = (dir: string) => {
    const rel = path.relative(path.resolve(dir), path.resolve(keyPath));
    return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
  };
  if (inside(functionStorage)) {
    throw new FaasError('CONFIG_INVALID', `system.secrets_key_path ${keyPath} is under system.function_storage_path ${functionStorage}; keep the key outside the function storage`, {
      details: { field: 'system.secrets_key_path' },
    });
  }
  if (path.resolve(keyPath) === path.resolve(registry)) {
    throw new FaasError('CONFIG_INVALID', `system.secrets_key_path is the registry file itself (${registry})`, { details: { field: 'system.secrets_key_path' } });
  }
}
