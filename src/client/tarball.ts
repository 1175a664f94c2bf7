// A function directory as a .tar.gz for `faasd deploy NAME DIR` (POST/PUT /functions with
// Content-Type application/gzip). Paths are relative to the directory; version control, installed
// dependencies and caches stay behind (the daemon installs dependencies itself, and refuses
// node_modules and .deps). A link to a file is packed as the file it points to, as
// faas_config.yaml's `path:` reads it; a link to a directory is refused (loops).
import fs from 'node:fs';
import path from 'node:path';
import { create as createTar } from 'tar';
import { ClientError } from './http.js';

/** Directories never packed. */
export const EXCLUDED_DIRS: ReadonlySet<string> = new Set(['.git', 'node_modules', '__pycache__', '.deps']);
/** Files never packed: byte-code and editor droppings. */
const EXCLUDED_FILE = /(\.pyc|~|\.swp)$|^\.DS_Store$/;

export interface Packed {
  archive: Buffer;
  /** The packed paths, relative and sorted. */
  files: string[];
  /** Sum of the files' sizes before compression. */
  bytes: number;
}

/** The files of `dir` to pack, relative, sorted (deterministic archives). */
export function listFiles(dir: string): { files: string[]; bytes: number } {
  const files: string[] = [];
  let bytes = 0;
  const walk = (abs: string, rel: string) => {
    for (const ent of fs.readdirSync(abs, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
      const full = path.join(abs, ent.name);
      const relPath = rel ? `${rel}/${ent.name}` : ent.name;
      let st: fs.Stats;
      try {
        st = fs.statSync(full); // follows links
      } catch (e) {
        throw new ClientError('BadArgument', `${full}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'a link to nothing' : (e as Error).message}`);
      }
      if (st.isDirectory()) {
        if (ent.isSymbolicLink()) throw new ClientError('BadArgument', `${full} is a link to a directory; link files, not directories`);
        if (!EXCLUDED_DIRS.has(ent.name)) walk(full, relPath);
      } else if (st.isFile()) {
        if (EXCLUDED_FILE.test(ent.name)) continue;
        files.push(relPath);
        bytes += st.size;
      }
      // sockets, fifos, devices: not code
    }
  };
  walk(dir, '');
  if (files.length === 0) throw new ClientError('BadArgument', `${dir} holds no files to deploy`);
  return { files, bytes };
}

export async function packDirectory(dir: string): Promise<Packed> {
  const { files, bytes } = listFiles(dir);
  // portable: no uid/gid/user names of this machine; follow: a link is packed as its target's content.
  const stream = createTar({ gzip: true, cwd: dir, portable: true, follow: true, noDirRecurse: true }, files);
  const chunks: Buffer[] = [];
  for await (const c of stream as AsyncIterable<Buffer>) chunks.push(c);
  return { archive: Buffer.concat(chunks), files, bytes };
}
