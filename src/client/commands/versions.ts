// faasd versions NAME: a function's history; faasd rollback NAME [--to N]: make an earlier
// version live again (as a new version), by default the one before the live one.
import type { FaasClient } from '../http.js';
import { type Output, relativeTime } from '../output.js';

interface Version {
  version: number;
  created_at: string;
  created_by: string;
  digest: string;
  change: string;
  retained: boolean;
  live: boolean;
}

export async function versionsCommand(client: FaasClient, out: Output, name: string): Promise<number> {
  const res = await client.call<{ live: number; versions: Version[] }>('GET', `/functions/${encodeURIComponent(name)}/versions`);
  if (out.json) {
    out.data(res);
    return 0;
  }
  out.table(
    [{ header: 'VERSION', align: 'right' }, { header: 'CREATED' }, { header: 'BY' }, { header: 'DIGEST' }, { header: 'CHANGE' }],
    res.versions.map((v) => [
      v.live ? { text: `${v.version} live`, style: 'green' as const } : v.retained ? String(v.version) : { text: `${v.version} pruned`, style: 'dim' as const },
      relativeTime(v.created_at),
      v.created_by,
      v.digest.slice(0, 12),
      v.change,
    ]),
  );
  return 0;
}

export async function rollbackCommand(client: FaasClient, out: Output, name: string, to: number | undefined): Promise<number> {
  const rec = await client.call<{ version: number }>('POST', `/functions/${encodeURIComponent(name)}/rollback`, { json: to === undefined ? {} : { version: to } });
  if (out.json) out.data(rec);
  else out.line(`Rolled ${name} back${to === undefined ? '' : ` to version ${to}`}: live version is now ${rec.version}`);
  return 0;
}
