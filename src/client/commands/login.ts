// faasd login [--gateway URL] [--key-stdin]: check the key against the daemon, then store the
// gateway and key in the login file (mode 0600) for the commands that follow.
import { ClientError, FaasClient } from '../http.js';
import type { Output } from '../output.js';
import { DEFAULT_GATEWAY, normaliseGateway, writeLogin } from '../settings.js';
import { readStdin } from '../stdin.js';

export interface LoginFlags {
  gateway?: string;
  key?: string;
  keyStdin?: boolean;
}

/** Asks for the key on the terminal without echoing it. */
async function prompt(out: Output): Promise<string> {
  const stdin = process.stdin;
  out.stderr.write('API key: ');
  stdin.setRawMode(true);
  stdin.resume();
  let key = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const onData = (b: Buffer) => {
        for (const ch of b.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            return resolve(key);
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new ClientError('Cancelled', 'login cancelled'));
          }
          if (ch === '\u007f') key = key.slice(0, -1);
          else key += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    out.stderr.write('\n');
  }
}

export async function loginCommand(out: Output, flags: LoginFlags, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const gateway = normaliseGateway(flags.gateway || env.FAASD_URL || DEFAULT_GATEWAY);
  let key: string;
  if (flags.keyStdin) key = (await readStdin()).toString('utf8').trim();
  else if (flags.key) key = flags.key;
  else if (process.stdin.isTTY) key = (await prompt(out)).trim();
  else throw new ClientError('BadArgument', 'give the key on stdin with --key-stdin (echo "$KEY" | faasd login --key-stdin), or run faasd login on a terminal');
  if (!key) throw new ClientError('BadArgument', 'the key is empty');

  // The key is checked before it is stored: a typo fails here, not at the next command.
  const client = new FaasClient({ gateway, key, keySource: 'this login' });
  const res = await client.request('GET', '/functions');
  let note = '';
  if (res.status === 403) note = ' (the key is valid but cannot manage functions: invoke only)';
  else if (!res.ok) throw await client.errorFrom(res);
  await res.body?.cancel();
  const file = writeLogin({ gateway, key }, env);
  if (out.json) out.data({ gateway, file });
  else out.line(`Logged in to ${gateway}${note}; saved in ${file}`);
  return 0;
}
