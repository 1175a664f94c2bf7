// faasd ls: every function with its runtime, mode, version, instances and traffic, in one
// request (GET /functions?stats=true); a daemon without that option is asked per function.
import type { FaasClient } from '../http.js';
import { type Output, formatMs, relativeTime } from '../output.js';

export interface FunctionStats {
  invocations: number;
  errors: number;
  cold_starts?: number;
  p95_ms: number | null;
}

export interface ListedFunction {
  name: string;
  runtime: string;
  version: number;
  execution_mode: string;
  updated_at: string;
  instances: { total: number; idle?: number; busy?: number };
  stats?: FunctionStats;
}

/** GET /stats/functions/:name in the shape of the list's `stats`. */
async function statsOf(client: FaasClient, name: string): Promise<FunctionStats> {
  const s = await client.call<{ invocations: { total: number; errors: number; cold_starts: number }; latency_ms: { p95: number | null } }>('GET', `/stats/functions/${name}`);
  return { invocations: s.invocations.total, errors: s.invocations.errors, cold_starts: s.invocations.cold_starts, p95_ms: s.latency_ms.p95 };
}

export async function listFunctions(client: FaasClient): Promise<ListedFunction[]> {
  const { functions } = await client.call<{ functions: ListedFunction[] }>('GET', '/functions', { query: { stats: 'true' } });
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
      String(f.stats?.invocations ?? 0),
      f.stats && f.stats.errors > 0 ? { text: String(f.stats.errors), style: 'red' as const } : String(f.stats?.errors ?? 0),
      formatMs(f.stats?.p95_ms),
      relativeTime(f.updated_at),
    ]),
  );
  return 0;
}
