// Where the client connects and with which key: flags, else FAASD_URL / FAASD_API_KEY, else
// the login file (~/.config/faasd/client.json, or $XDG_CONFIG_HOME/faasd/client.json), else the
// quick start's http://127.0.0.1:8000 and its public key demo-key.
//
// The login file's key is sent only to the gateway it was stored for: `--gateway` to another
// daemon never hands it a key meant for a different one.
import fs from 'node:fs';
import path from 'node:path';
import { ClientError, type Connection } from './http.js';

export const DEFAULT_GATEWAY = 'http://127.0.0.1:8000';
/** The quick start's public key (invoke, manage), in force while a daemon has no api_keys. */
export const QUICK_START_KEY = 'demo-key';

export interface LoginFile {
  gateway: string;
  key: string;
}

export interface ConnectionFlags {
  gateway?: string;
  key?: string;
}

export function loginFilePath(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || '/root', '.config');
  return path.join(base, 'faasd', 'client.json');
}

export function readLogin(env: NodeJS.ProcessEnv = process.env): LoginFile | null {
  const file = loginFilePath(env);
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new ClientError('LoginFile', `cannot read ${file}: ${(e as Error).message}`);
  }
  try {
    const v = JSON.parse(text) as Partial<LoginFile>;
    if (typeof v.gateway === 'string' && typeof v.key === 'string') return { gateway: v.gateway, key: v.key };
  } catch {
    // reported below
  }
  throw new ClientError('LoginFile', `${file} is not a login file ({"gateway": "...", "key": "..."}); run \`faasd login\` again`);
}

/** Writes the login file with mode 0600 (it holds a key), its directory 0700. */
export function writeLogin(login: LoginFile, env: NodeJS.ProcessEnv = process.env): string {
  const file = loginFilePath(env);
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  // Written beside, then renamed: a reader never sees half a file, and the mode is set before the key is in it.
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(login, null, 2)}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return file;
}

/** "localhost:8000" -> "http://localhost:8000"; no trailing slash. */
export function normaliseGateway(raw: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(raw) ? raw : `http://${raw}`;
  let u: URL;
  try {
    u = new URL(withScheme);
  } catch {
    throw new ClientError('BadArgument', `gateway ${JSON.stringify(raw)} is not a URL such as http://127.0.0.1:8000`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ClientError('BadArgument', `gateway ${JSON.stringify(raw)}: only http:// and https:// are supported`);
  return u.toString().replace(/\/+$/, '');
}

export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv = process.env): Connection {
  const login = readLogin(env);
  const gateway = normaliseGateway(flags.gateway || env.FAASD_URL || login?.gateway || DEFAULT_GATEWAY);
  if (flags.key) return { gateway, key: flags.key, keySource: '--key' };
  if (env.FAASD_API_KEY) return { gateway, key: env.FAASD_API_KEY, keySource: 'FAASD_API_KEY' };
  if (login && normaliseGateway(login.gateway) === gateway) return { gateway, key: login.key, keySource: loginFilePath(env) };
  return { gateway, key: QUICK_START_KEY, keySource: `the quick-start default (${QUICK_START_KEY})` };
}
