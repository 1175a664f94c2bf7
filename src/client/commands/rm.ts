// faasd rm NAME...: delete functions (their instances stop; running calls finish).
import type { FaasClient } from '../http.js';
import type { Output } from '../output.js';

export async function rmCommand(client: FaasClient, out: Output, names: readonly string[]): Promise<number> {
  for (const name of names) {
    await client.call('DELETE', `/functions/${encodeURIComponent(name)}`);
    if (!out.json) out.line(`Removed ${name}`);
  }
  if (out.json) out.data({ removed: names });
  return 0;
}
