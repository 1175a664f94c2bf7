// .tar.gz <-> a function's files. Reading is done in memory under the code-size cap: nothing
// from an archive touches the disk before every entry is checked (paths, types, count, size),
// so a hostile archive ("../", absolute paths, links, a gzip bomb) is refused with the entry
// it tripped on, having written nothing.
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { Parser, type ReadEntry, create as createTar } from 'tar';
import { FaasError } from '../errors.js';
import { FileSetBuilder, type FunctionFiles } from '../model/function-files.js';

const FIELD = 'archive';

function refuse(entry: string, why: string): FaasError {
  return new FaasError('BAD_REQUEST', `archive entry "${entry}" ${why}`, { details: { field: FIELD, entry } });
}

/** The files of a .tar.gz (or plain .tar) upload, checked; 400/413 naming the bad entry. */
export async function readArchive(body: Buffer, maxBytes: number): Promise<FunctionFiles> {
  let tarBytes = body;
  if (body[0] === 0x1f && body[1] === 0x8b) {
    try {
      // Capped: a few KB of gzip can inflate to gigabytes.
      tarBytes = zlib.gunzipSync(body, { maxOutputLength: maxBytes * 2 + 1024 * 1024 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new FaasError('PAYLOAD_TOO_LARGE', `the archive inflates to more than the function size limit (system.max_code_size, ${maxBytes} bytes)`, {
          details: { field: FIELD, limit: maxBytes },
        });
      }
      throw new FaasError('BAD_REQUEST', `the archive is not valid gzip: ${(e as Error).message}`, { details: { field: FIELD } });
    }
  }
  const set = new FileSetBuilder(maxBytes, FIELD);
  let failure: unknown = null;
  const pending: Promise<void>[] = [];
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (failure) return entry.resume();
      try {
        checkEntry(entry);
      } catch (e) {
        failure = e;
        return entry.resume();
      }
      if (entry.type === 'Directory') return entry.resume();
      const chunks: Buffer[] = [];
      entry.on('data', (c: Buffer) => chunks.push(c));
      pending.push(
        new Promise<void>((resolve) =>
          entry.on('end', () => {
            try {
              if (!failure) set.add(entry.path, Buffer.concat(chunks));
            } catch (e) {
              failure = e;
            }
            resolve();
          }),
        ),
      );
    },
  });
  await new Promise<void>((resolve) => {
    parser.on('error', (e: Error) => {
      failure ??= new FaasError('BAD_REQUEST', `the archive is not a valid tar file: ${e.message}`, { details: { field: FIELD } });
      resolve();
    });
    parser.on('end', () => resolve());
    parser.end(tarBytes);
  });
  await Promise.all(pending);
  if (failure) throw failure;
  return set.build();
}

function checkEntry(entry: ReadEntry): void {
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
    case 'Directory':
      return;
    case 'SymbolicLink':
    case 'Link':
      // Links inside the tree would need resolving against the rest of it; none is simpler and safe.
      throw refuse(entry.path, `is a link (to "${entry.linkpath ?? ''}"): links are not accepted, put the file itself in the archive`);
    default:
      throw refuse(entry.path, `is a ${entry.type}: only regular files and directories are accepted`);
  }
}

/** A .tar.gz of the given files read from `dir` (a version directory), as a stream. */
export function writeArchive(dir: string, paths: readonly string[]): Readable {
  // portable: no uid/gid/owner names from this host; the files are the function's, not ours.
  return Readable.from(createTar({ gzip: true, cwd: dir, portable: true }, [...paths].sort()));
}
