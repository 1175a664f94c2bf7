// faasd stats [NAME]: the platform's statistics (GET /stats) or one function's.
import type { FunctionStats, PlatformStats } from '../../model/api-types.js';
import type { FaasClient } from '../http.js';
import { type Output, formatBytes, formatMs } from '../output.js';

const counts = (r: Record<string, number>) =>
  Object.entries(r)
    .map(([k, v]) => `${v} ${k}`)
    .join(', ') || '-';

export async function statsCommand(client: FaasClient, out: Output, name: string | undefined): Promise<number> {
  if (name === undefined) {
    const s = await client.call<PlatformStats>('GET', '/stats');
    if (out.json) {
      out.data(s);
      return 0;
    }
    const i = s.invocations;
    out.fields([
      ['uptime', `${Math.floor(s.uptime_seconds / 3600)}h${Math.floor((s.uptime_seconds % 3600) / 60)}m`],
      ['functions', `${s.functions.total} (${counts(s.functions.by_mode)})`],
      ['instances', `${s.instances.total} (${counts(s.instances.by_state)})`],
      ['invocations', `${i.total} (${i.errors} errors, ${i.cold_starts} cold starts, ${i.prewarmed_starts} from pre-warmed)`],
      ['latency', `p50 ${formatMs(s.latency_ms.p50)}, p95 ${formatMs(s.latency_ms.p95)}, p99 ${formatMs(s.latency_ms.p99)}`],
      ['async', `${s.async.queued} queued, ${s.async.running} running`],
      ['rate limited', String(s.rate_limited)],
    ]);
    return 0;
  }
  const s = await client.call<FunctionStats>('GET', `/stats/functions/${encodeURIComponent(name)}`);
  if (out.json) {
    out.data(s);
    return 0;
  }
  const i = s.invocations;
  out.fields([
    ['function', `${s.name} v${s.version} (${s.mode})`],
    ['invocations', `${i.total} (${i.errors} errors, ${i.cold_starts} cold starts, ${i.prewarmed_starts} from pre-warmed)`],
    ['latency', `p50 ${formatMs(s.latency_ms.p50)}, p95 ${formatMs(s.latency_ms.p95)}, p99 ${formatMs(s.latency_ms.p99)}`],
    ['cold starts', `p50 ${formatMs(s.cold_start_ms.p50)}, p95 ${formatMs(s.cold_start_ms.p95)}`],
    ['queued', `${s.queue_depth} calls; async ${s.async.queued} queued, ${s.async.running} running`],
  ]);
  if (s.instances.length > 0) {
    out.line();
    out.table(
      [{ header: 'INSTANCE' }, { header: 'STATE' }, { header: 'INVOCATIONS', align: 'right' }, { header: 'CPU', align: 'right' }, { header: 'MEMORY', align: 'right' }],
      s.instances.map((x) => [x.id, x.state, String(x.invocations), x.cpu_seconds === null ? '-' : `${x.cpu_seconds}s`, formatBytes(x.memory_bytes)]),
    );
  }
  return 0;
}
