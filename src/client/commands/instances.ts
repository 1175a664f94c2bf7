// faasd instances [NAME]: running instances; --stop ID stops one (DELETE /instances/:id, admin).
import type { InstanceInfo } from '../../model/api-types.js';
import type { FaasClient } from '../http.js';
import type { Output } from '../output.js';

function duration(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

export async function instancesCommand(client: FaasClient, out: Output, name: string | undefined, stop: readonly string[] = []): Promise<number> {
  if (stop.length > 0) {
    for (const id of stop) {
      await client.call('DELETE', `/instances/${encodeURIComponent(id)}`);
      if (!out.json) out.line(`Stopped ${id}`);
    }
    if (out.json) out.data({ stopped: stop });
    return 0;
  }
  const { instances } = await client.call<{ instances: InstanceInfo[] }>('GET', '/instances');
  const list = instances.filter((i) => name === undefined || i.function === name).sort((a, b) => a.function.localeCompare(b.function) || a.id.localeCompare(b.id));
  if (out.json) {
    out.data(list);
    return 0;
  }
  if (list.length === 0) {
    out.note(name ? `No instances of ${name} are running.` : 'No instances are running.');
    return 0;
  }
  out.table(
    [
      { header: 'ID' },
      { header: 'FUNCTION' },
      { header: 'VERSION', align: 'right' },
      { header: 'MODE' },
      { header: 'STATE' },
      { header: 'PID/CONTAINER' },
      { header: 'AGE', align: 'right' },
      { header: 'IDLE', align: 'right' },
      { header: 'INVOCATIONS', align: 'right' },
    ],
    list.map((i) => [
      i.id,
      i.function,
      String(i.version),
      i.mode,
      { text: i.state, style: i.state === 'busy' ? ('yellow' as const) : i.state === 'idle' ? ('green' as const) : undefined },
      i.pid !== null ? String(i.pid) : (i.container_id?.slice(0, 12) ?? '-'),
      duration(i.age_seconds),
      duration(i.idle_seconds),
      String(i.invocations),
    ]),
  );
  return 0;
}
