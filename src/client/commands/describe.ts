// faasd describe NAME: one function in full (GET /functions/:name and its statistics).
import type { FunctionDetails, FunctionStats } from '../../model/api-types.js';
import type { FaasClient } from '../http.js';
import { type Output, formatBytes, formatMs, relativeTime } from '../output.js';

export async function describeCommand(client: FaasClient, out: Output, name: string): Promise<number> {
  const d = await client.call<FunctionDetails>('GET', `/functions/${encodeURIComponent(name)}`);
  const s = await client.call<FunctionStats>('GET', `/stats/functions/${encodeURIComponent(name)}`);
  if (out.json) {
    out.data({ ...d, stats: s });
    return 0;
  }
  const c = d.config;
  const env = Object.keys((c.environment as Record<string, string> | undefined) ?? {});
  const deps = (c.dependencies as string[] | undefined) ?? [];
  const inst = d.instances;
  const pairs: [string, string][] = [
    ['name', out.style(d.name, 'bold')],
    ['runtime', d.runtime + (d.handler ? `  (handler ${d.handler})` : '')],
    ['version', `${d.version}  (from ${d.source})`],
    ['mode', String(c.execution_mode ?? d.execution_mode)],
    ['created', `${d.created_at}  (${relativeTime(d.created_at)})`],
    ['updated', `${d.updated_at}  (${relativeTime(d.updated_at)})`],
    ['limits', `timeout ${String(c.timeout)}s, memory ${String(c.memory)}, cpu ${String(c.cpu_limit)}`],
    ['instances', `min ${String(c.min_instances)}, max ${String(c.max_instances)}; now ${inst.total ?? 0} (${inst.idle ?? 0} idle, ${inst.busy ?? 0} busy, ${inst.starting ?? 0} starting)`],
    ['environment', env.length > 0 ? env.join(', ') : '-'],
    ['dependencies', deps.length > 0 ? deps.join(', ') : '-'],
    ['invocations', `${s.invocations.total} (${s.invocations.errors} errors, ${s.invocations.cold_starts} cold starts), queued ${s.queue_depth}`],
    ['latency', `p50 ${formatMs(s.latency_ms.p50)}, p95 ${formatMs(s.latency_ms.p95)}, p99 ${formatMs(s.latency_ms.p99)}; cold start p50 ${formatMs(s.cold_start_ms.p50)}`],
  ];
  if (d.digest) pairs.push(['digest', `sha256:${d.digest}`]);
  out.fields(pairs);
  if (d.files && d.files.length > 0) {
    out.line();
    out.table(
      [{ header: 'FILE' }, { header: 'SIZE', align: 'right' }],
      d.files.map((f) => [f.path, formatBytes(f.size)]),
    );
  }
  return 0;
}
