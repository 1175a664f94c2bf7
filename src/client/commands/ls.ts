// faasd ls: every function with its runtime, mode, version, instances and traffic, in one
// request (GET /functions?stats=true); a daemon without that option is asked per function.
import type { FunctionSummary, Traffic } from '../../model/api-types.js';
import type { FaasClient } from '../http.js';
import { type Output, formatMs, relativeTime } from '../output.js';

/** A daemon older than ?stats=true: GET /stats/functions/:name, trimmed to the list's `stats`. */
async function statsOf(client: FaasClient, name: string): Promise<Traffic> {
  const s = await client.call<Traffic>('GET', `/stats/functions/${encodeURIComponent(name)}`);
  return { invocations: s.invocations, latency_ms: s.latency_ms };
}

export async function listFunctions(client: FaasClient): Promise<FunctionSummary[]> {
  const { functions } = await client.call<{ functions: FunctionSummary[] }>('GET', '/functions', { query: { stats: 'true' } });
  for (const f of functions) f.stats ??= await statsOf(client, f.name);
  return functions.sort((a, b) => a.name.localeCompare(b.name));
}

export async function lsCommand(client: FaasClient, out: Output): Promise<number> {
  const fns = await listFunctions(client);
  if (out.json) {
    out.data(fns);
    return 0;
  }
  if (fns.length === 0) {
    out.note('No functions yet. Deploy one: faasd deploy NAME FILE|DIR');
    return 0;
  }
  out.table(
    [
      { header: 'NAME' },
      { header: 'RUNTIME' },
      { header: 'MODE' },
      { header: 'VERSION', align: 'right' },
      { header: 'INSTANCES', align: 'right' },
      { header: 'INVOCATIONS', align: 'right' },
      { header: 'ERRORS', align: 'right' },
      { header: 'P95', align: 'right' },
      { header: 'UPDATED' },
    ],
    fns.map((f) => [
      { text: f.name, style: 'bold' as const },
      f.runtime,
      f.execution_mode,
      String(f.version),
      String(f.instances.total),
      String(f.stats?.invocations.total ?? 0),
      f.stats && f.stats.invocations.errors > 0 ? { text: String(f.stats.invocations.errors), style: 'red' as const } : String(f.stats?.invocations.errors ?? 0),
      formatMs(f.stats?.latency_ms.p95),
      relativeTime(f.updated_at),
    ]),
  );
  return 0;
}
