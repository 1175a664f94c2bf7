// What the /secrets routes and the deploy path ask: create, change, delete and list secrets,
// and check the secrets a function names. Knows functions only through the two callbacks it
// is given (which functions name a secret; replace a function's instances), so it imports
// neither the deploy path nor the execution side.
import type { Logger } from 'pino';
import { FaasError, badRequest } from '../errors.js';
import { validateName } from '../model/function-model.js';
import type { SecretInfo, SecretStore } from './secret-store.js';

/** Largest secret value, in bytes (OpenFaaS and Kubernetes allow up to 1 MiB; a password or a key fits in far less). */
export const MAX_SECRET_BYTES = 64 * 1024;

export interface SecretsOptions {
  store: SecretStore;
  /** Every function and the secrets its config lists. */
  uses(): { function: string; secrets: readonly string[] }[];
  /** New instances for a function whose secret changed (old ones finish their calls and stop). */
  renew(fn: string): void;
  logger: Logger;
}

export interface SecretView extends SecretInfo {
  used_by: string[];
}

export class Secrets {
  constructor(private readonly opts: SecretsOptions) {}

  list(): SecretView[] {
    const uses = this.opts.uses();
    return this.opts.store.list().map((s) => view(s, uses));
  }

  get(name: string): SecretView {
    const info = this.opts.store.get(name);
    if (!info) throw new FaasError('SECRET_NOT_FOUND', `secret "${name}" does not exist`, { details: { secret: name } });
    return view(info, this.opts.uses());
  }

  create(body: Record<string, unknown>): SecretView {
    const name = validateName(body.name, 'name');
    const info = this.opts.store.create(name, secretValue(body));
    // Functions may name a secret before it exists (declared in faas_config.yaml): they get it now.
    return this.changed(info, 'secret created');
  }

  update(name: string, body: Record<string, unknown>): SecretView {
    if (body.name !== undefined && body.name !== name) throw badRequest('name', `name cannot be changed (the URL names "${name}")`);
    const info = this.opts.store.update(name, secretValue(body));
    return this.changed(info, 'secret updated');
  }

  delete(name: string): void {
    this.get(name);
    const users = usedBy(name, this.opts.uses());
    if (users.length > 0) {
      throw new FaasError('SECRET_IN_USE', `secret "${name}" is used by ${users.map((f) => `"${f}"`).join(', ')}: remove it from their config.secrets first`, {
        details: { secret: name, used_by: users },
      });
    }
    this.opts.store.delete(name);
    this.opts.logger.info({ secret: name }, 'secret deleted');
  }

  /**
   * Deploy-time check of a function's config.secrets: each must exist (422 naming the first
   * that does not). A function declared in faas_config.yaml is deployed anyway, with a
   * warning: its secrets can only be created once the daemon runs, and it gets them then.
   */
  checkFunction(fn: { name: string; source: string; config: { secrets?: readonly string[] } }): void {
    const missing = this.opts.store.missing(fn.config.secrets ?? []);
    if (missing.length === 0) return;
    if (fn.source === 'yaml') {
      this.opts.logger.warn({ function: fn.name, secrets: missing }, 'function names secrets that do not exist yet: create them with POST /secrets');
      return;
    }
    throw new FaasError('DEPLOY_FAILED', `config.secrets: secret "${missing[0]}" does not exist; create it first with POST /secrets`, {
      details: { field: 'config.secrets', secret: missing[0], missing },
    });
  }

  private changed(info: SecretInfo, what: string): SecretView {
    const out = view(info, this.opts.uses());
    for (const fn of out.used_by) this.opts.renew(fn);
    this.opts.logger.info({ secret: info.name, renewed: out.used_by }, what);
    return out;
  }
}

function usedBy(secret: string, uses: ReturnType<SecretsOptions['uses']>): string[] {
  return uses.filter((u) => u.secrets.includes(secret)).map((u) => u.function);
}

function view(s: SecretInfo, uses: ReturnType<SecretsOptions['uses']>): SecretView {
  return { name: s.name, created_at: s.created_at, updated_at: s.updated_at, used_by: usedBy(s.name, uses) };
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The secret's bytes: `value` as UTF-8 text, or `value_base64` for any bytes (a key file, a keystore). */
function secretValue(body: Record<string, unknown>): Buffer {
  const { value, value_base64: b64 } = body;
  if (value !== undefined && b64 !== undefined) throw badRequest('value_base64', 'send value (text) or value_base64 (any bytes), not both');
  let bytes: Buffer;
  let field: string;
  if (b64 !== undefined) {
    field = 'value_base64';
    // Node's decoder skips what is not base64: check first, so a typo is a 400, not other bytes.
    if (typeof b64 !== 'string' || b64.length === 0 || !BASE64_RE.test(b64)) throw badRequest(field, 'value_base64 must be non-empty standard base64 (A-Z a-z 0-9 + /, padded with =)');
    bytes = Buffer.from(b64, 'base64');
  } else {
    field = 'value';
    if (typeof value !== 'string' || value.length === 0) throw badRequest(field, 'value must be a non-empty string (or send value_base64 for bytes that are not text)');
    bytes = Buffer.from(value, 'utf8');
  }
  if (bytes.length > MAX_SECRET_BYTES) {
    throw new FaasError('BAD_REQUEST', `${field} is ${bytes.length} bytes, over the limit of ${MAX_SECRET_BYTES} (64 KiB)`, { details: { field, limit: MAX_SECRET_BYTES } });
  }
  return bytes;
}
