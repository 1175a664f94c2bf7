// faasd secret ls | set NAME [--from-file F] | rm NAME...: the /secrets API. A value never
// comes from the command line (the process list and shell history would show it): it is a
// file's bytes or stdin's, sent as value_base64 so that any bytes arrive as they are.
import fs from 'node:fs';
import { ClientError, type FaasClient } from '../http.js';
import { type Output, relativeTime } from '../output.js';
import { readStdin } from '../stdin.js';

interface SecretView {
  name: string;
  created_at: string;
  updated_at: string;
  used_by: string[];
}

export async function secretLsCommand(client: FaasClient, out: Output): Promise<number> {
  const res = await client.call<{ secrets: SecretView[] }>('GET', '/secrets');
  if (out.json) out.data(res);
  else {
    out.table(
      [{ header: 'NAME' }, { header: 'USED BY' }, { header: 'UPDATED' }],
      res.secrets.map((s) => [s.name, s.used_by.join(', ') || { text: '-', style: 'dim' as const }, relativeTime(s.updated_at)]),
    );
  }
  return 0;
}

/** The value: the file's bytes, or stdin's when it is not a terminal. */
async function secretValue(fromFile: string | undefined, stdinIsTTY: boolean): Promise<Buffer> {
  if (fromFile !== undefined) {
    try {
      return fs.readFileSync(fromFile);
    } catch (e) {
      throw new ClientError('BadArgument', `--from-file ${fromFile}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
    }
  }
  if (stdinIsTTY) throw new ClientError('BadArgument', 'give the value with --from-file FILE or on stdin (printf %s "$VALUE" | faasd secret set NAME), never on the command line');
  return readStdin();
}

/** Creates the secret, or changes it when it exists (the functions that use it get new instances). */
export async function secretSetCommand(client: FaasClient, out: Output, name: string, fromFile: string | undefined, stdinIsTTY = !!process.stdin.isTTY): Promise<number> {
  const value_base64 = (await secretValue(fromFile, stdinIsTTY)).toString('base64');
  const path = `/secrets/${encodeURIComponent(name)}`;
  let res = await client.request('PUT', path, { json: { value_base64 } });
  let created = false;
  if (res.status === 404) {
    await res.body?.cancel();
    res = await client.request('POST', '/secrets', { json: { name, value_base64 } });
    created = true;
  }
  if (!res.ok) throw await client.errorFrom(res);
  const view = (await res.json()) as SecretView;
  if (out.json) out.data(view);
  else out.line(`${created ? 'Created' : 'Updated'} secret ${name}${view.used_by.length ? ` (new instances for ${view.used_by.join(', ')})` : ''}`);
  return 0;
}

export async function secretRmCommand(client: FaasClient, out: Output, names: readonly string[]): Promise<number> {
  for (const name of names) {
    await client.call('DELETE', `/secrets/${encodeURIComponent(name)}`);
    if (!out.json) out.line(`Removed secret ${name}`);
  }
  if (out.json) out.data({ removed: names });
  return 0;
}
