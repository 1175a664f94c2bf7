// A function's files: every function is a set of files (a single-file function is one), with an
// entry file and the function in it to call. Paths are checked here once, for all the ways
// files arrive (JSON `files` map, .tar.gz upload, a directory named by faas_config.yaml), so a
// stored path can never leave the function's directory.
import crypto from 'node:crypto';
import { FaasError, badRequest } from '../errors.js';
import type { RuntimeName } from './runtime.js';

/** Path (relative, "/"-separated) -> content. */
export type FunctionFiles = Record<string, Buffer>;

/** At most this many files per function: a directory of thousands is a mistake (a vendored tree). */
export const MAX_FUNCTION_FILES = 1000;
const MAX_PATH_LENGTH = 255;
const MAX_PATH_DEPTH = 16;
/** Names faasd writes into a version directory itself: a function may not ship them. */
const RESERVED_TOP = new Set(['.deps', 'node_modules', '.complete']);

const EXTENSION: Record<RuntimeName, string> = { python: '.py', node: '.js' };
/** Entry files looked for, in order, when the handler does not name one. */
const DEFAULT_ENTRIES: Record<RuntimeName, readonly string[]> = { python: ['main.py', 'handler.py'], node: ['index.js', 'handler.js'] };

/**
 * A stored path from what a client sent: "./a/b.py" -> "a/b.py". Refused: absolute paths, "..",
 * backslashes, control characters, faasd's own names. `field` and `entry` say where it came from.
 */
export function normaliseFilePath(raw: string, field: string): string {
  const bad = (why: string): never => {
    throw new FaasError('BAD_REQUEST', `${field}: "${raw}" ${why}`, { details: { field, entry: raw } });
  };
  if (raw.startsWith('/')) bad('is an absolute path: paths are relative to the function directory');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  if (/[\\\u0000-\u001f\u007f]/.test(raw)) bad('contains a backslash or a control character');
  // Archives write "./a.py" and "dir/"; anything else unusual ("a//b", "a/./b") is refused.
  const segs = raw
    .replace(/^(\.\/)+/, '')
    .replace(/\/$/, '')
    .split('/');
  if (segs.some((s) => s === '' || s === '.')) bad('is not a plain file path');
  if (segs.includes('..')) bad('leaves the function directory ("..")');
  if (segs.length > MAX_PATH_DEPTH) bad(`is nested deeper than ${MAX_PATH_DEPTH} directories`);
  const p = segs.join('/');
  if (p.length > MAX_PATH_LENGTH) bad(`is longer than ${MAX_PATH_LENGTH} characters`);
  if (RESERVED_TOP.has(segs[0]!)) bad(`uses the name "${segs[0]}", which faasd writes itself (dependencies are installed at deploy)`);
  return p;
}

/** File-count and total-size caps, checked as files are added (an archive is refused early). */
export class FileSetBuilder {
  readonly files: FunctionFiles = Object.create(null) as FunctionFiles;
  private bytes = 0;
  private count = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly field: string,
  ) {}

  add(rawPath: string, content: Buffer): void {
    const p = normaliseFilePath(rawPath, this.field);
    if (p in this.files) throw new FaasError('BAD_REQUEST', `${this.field}: "${rawPath}" appears twice`, { details: { field: this.field, entry: rawPath } });
    if (++this.count > MAX_FUNCTION_FILES) {
      throw new FaasError('BAD_REQUEST', `${this.field}: more than ${MAX_FUNCTION_FILES} files (at "${rawPath}")`, { details: { field: this.field, entry: rawPath, limit: MAX_FUNCTION_FILES } });
    }
    this.bytes += content.length;
    if (this.bytes > this.maxBytes) {
      throw new FaasError('PAYLOAD_TOO_LARGE', `${this.field}: the files add up to more than ${this.maxBytes} bytes (system.max_code_size), at "${rawPath}"`, {
        details: { field: this.field, entry: rawPath, limit: this.maxBytes },
      });
    }
    this.files[p] = content;
  }

  build(): FunctionFiles {
    if (this.count === 0) throw badRequest(this.field, `${this.field} holds no files`);
    // "a" and "a/b" cannot both be files.
    for (const p of Object.keys(this.files)) {
      for (let i = p.indexOf('/'); i > 0; i = p.indexOf('/', i + 1)) {
        const dir = p.slice(0, i);
        if (dir in this.files) throw new FaasError('BAD_REQUEST', `${this.field}: "${dir}" is both a file and the directory of "${p}"`, { details: { field: this.field, entry: p } });
      }
    }
    return this.files;
  }
}

/** The JSON `files` map (path -> text) of the API, checked. */
export function filesFromJson(value: unknown, maxBytes: number, field = 'files'): FunctionFiles {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw badRequest(field, `${field} must be an object of path -> file text`);
  const set = new FileSetBuilder(maxBytes, field);
  for (const [p, text] of Object.entries(value)) {
    if (typeof text !== 'string') throw new FaasError('BAD_REQUEST', `${field}: "${p}" must be the file's text (a string)`, { details: { field, entry: p } });
    set.add(p, Buffer.from(text, 'utf8'));
  }
  return set.build();
}

export interface EntryPoint {
  /** The entry file, relative to the function directory. */
  file: string;
  /** The function to call in it; null: the runtime's default (handle / handler). */
  handler: string | null;
}

const HANDLER_RE = /^(?:([A-Za-z0-9_][A-Za-z0-9_/-]{0,200})\.)?([A-Za-z_$][A-Za-z0-9_$]{0,127})$/;

/** `handler` as the API takes it: "handle", or "file.function" (file without its extension). */
export function validateHandler(handler: unknown, field = 'handler'): string | null {
  if (handler === undefined || handler === null) return null;
  if (typeof handler !== 'string' || !HANDLER_RE.test(handler) || handler.split('/').includes('..')) {
    throw badRequest(field, `${field} must be a function name such as "handle", or file.function such as "handler.handle", got ${JSON.stringify(handler)}`);
  }
  return handler;
}

/** The entry file the runtime and handler point at when there are no files yet (a `code` string). */
export function defaultEntryFile(runtime: RuntimeName, handler: string | null): string {
  const m = handler ? HANDLER_RE.exec(handler) : null;
  return m?.[1] ? `${m[1]}${EXTENSION[runtime]}` : DEFAULT_ENTRIES[runtime][0]!;
}

/** Where a function starts: the file its handler names, else the runtime's usual entry files. */
export function entryPoint(runtime: RuntimeName, handler: string | null, paths: readonly string[], field = 'files'): EntryPoint {
  const m = handler ? HANDLER_RE.exec(handler) : null;
  if (m?.[1]) {
    const file = `${m[1]}${EXTENSION[runtime]}`;
    if (!paths.includes(file)) throw badRequest('handler', `handler "${handler}" names ${file}, which is not among the function's files`);
    return { file, handler: m[2]! };
  }
  const file = DEFAULT_ENTRIES[runtime].find((f) => paths.includes(f));
  if (!file) {
    throw badRequest(field, `no entry file: a ${runtime} function needs ${DEFAULT_ENTRIES[runtime].join(' or ')}, or handler: file.function naming its file`);
  }
  return { file, handler: m?.[2] ?? null };
}

/** sha256 over the sorted paths and contents: equal files, equal digest, whatever order they came in. */
export function filesDigest(files: FunctionFiles): string {
  const h = crypto.createHash('sha256');
  for (const p of Object.keys(files).sort()) {
    const content = files[p]!;
    h.update(`${p}\0${content.length}\0`);
    h.update(content);
  }
  return h.digest('hex');
}

export function fileList(files: FunctionFiles): { path: string; size: number }[] {
  return Object.keys(files)
    .sort()
    .map((p) => ({ path: p, size: files[p]!.length }));
}

/**
 * The packages to install at deploy: config.dependencies plus those the files declare
 * (requirements.txt for Python, package.json's "dependencies" for Node). pip options in
 * requirements.txt are refused: they could point pip at another index or a local path.
 */
export function declaredDependencies(runtime: RuntimeName, files: FunctionFiles): string[] {
  if (runtime === 'python') {
    const req = files['requirements.txt'];
    if (!req) return [];
    const out: string[] = [];
    req
      .toString('utf8')
      .split('\n')
      .forEach((raw, i) => {
        const line = raw.replace(/(^|\s)#.*$/, '').trim();
        if (!line) return;
        if (line.startsWith('-')) {
          throw badRequest('files.requirements.txt', `requirements.txt line ${i + 1}: pip options ("${line.split(/\s/)[0]}") are not accepted; list packages only`);
        }
        out.push(line);
      });
    return out;
  }
  const pkg = files['package.json'];
  if (!pkg) return [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(pkg.toString('utf8'));
  } catch (e) {
    throw badRequest('files.package.json', `package.json is not valid JSON: ${(e as Error).message}`);
  }
  const deps = (parsed as { dependencies?: unknown } | null)?.dependencies;
  if (deps === undefined) return [];
  if (deps === null || typeof deps !== 'object' || Array.isArray(deps) || Object.values(deps).some((v) => typeof v !== 'string')) {
    throw badRequest('files.package.json', 'package.json "dependencies" must be an object of package name -> version range');
  }
  return Object.entries(deps as Record<string, string>).map(([name, range]) => `${name}@${range}`);
}
