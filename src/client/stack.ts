// A stack file for `faasd deploy -f stack.yaml`: the `functions:` section of faas_config.yaml
// (a faas_config.yaml is a stack file too), `path:` relative to the file. It is checked by the
// daemon's own loader, so a stack file and faas_config.yaml are refused in the same words, with
// the same line numbers; what is sent is what the file says (no defaults filled in: the daemon
// applies its own, such as its default_mode), and a setting the file leaves out is sent as
// null, so that a redeploy puts it back to its default instead of keeping the last value.
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, loadConfig } from '../config/load.js';
import { FaasError } from '../errors.js';
import { functionConfigSchema } from '../model/function-schema.js';
import { ClientError } from './http.js';

export interface StackFunction {
  name: string;
  runtime: string;
  handler: string | null;
  /** The config keys as written in the file; every other key null (its default). */
  config: Record<string, unknown>;
  /** `code:` or `path:` to a file: one file's text. */
  code?: string;
  /** `path:` to a directory, absolute. */
  dir?: string;
}

/** Every config key the file does not set: the function's config is the file's, not a merge with the last deploy. */
const UNSET: Readonly<Record<string, null>> = Object.freeze(Object.fromEntries(Object.keys(functionConfigSchema.properties).map((k) => [k, null])));

export function loadStack(file: string): StackFunction[] {
  if (!fs.existsSync(file)) throw new ClientError('BadArgument', `stack file ${file} does not exist`);
  let loaded: ReturnType<typeof loadConfig>;
  try {
    // No environment: FAAS_* variables are the daemon's, not a stack file's.
    loaded = loadConfig({ file, env: {} });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof FaasError) throw new ClientError('StackFile', e.message);
    throw e;
  }
  const base = path.dirname(path.resolve(file));
  const out: StackFunction[] = [];
  for (const d of loaded.declared) {
    const raw = loaded.functions[d.name] as Record<string, unknown>;
    const { runtime: _r, handler: _h, code, path: p, ...config } = raw;
    const fn: StackFunction = { name: d.name, runtime: d.runtime, handler: d.handler, config: { ...UNSET, ...config } };
    if (typeof code === 'string') fn.code = code;
    else {
      const abs = path.resolve(base, String(p));
      if (fs.statSync(abs).isDirectory()) fn.dir = abs;
      else fn.code = fs.readFileSync(abs, 'utf8');
    }
    out.push(fn);
  }
  if (out.length === 0) throw new ClientError('StackFile', `${file} declares no functions (a functions: section, as in faas_config.yaml)`);
  return out;
}
