// A burst of deploys (issue 17, target 3), shared by the bench (scenarios/cold.ts) and the A/B
// tool (tools/ab-start.ts): n functions deployed evenly over windowMs, each called once as soon
// as its deploy answers, on connections of its own, all in parallel; every function removed
// afterwards. How each first call was served (x-faas-start) and how long it took.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Faasd } from './daemon.js';
import { ECHO_BODY } from './functions.js';
import { HttpClient } from './http.js';

export interface BurstRun {
  /** x-faas-start of the first calls: prewarmed, cold. */
  kinds: Record<string, number>;
  /** Each first call's time at the client, ms. */
  samples: number[];
}

/** `deploy(i)` deploys the i-th function and returns its name (throwing stops the burst). */
export async function runBurst(faasd: Faasd, n: number, windowMs: number, deploy: (i: number) => Promise<string>): Promise<BurstRun> {
  const names: string[] = [];
  const kinds: Record<string, number> = {};
  const samples: number[] = [];
  const body = JSON.parse(ECHO_BODY) as unknown;
  const client = new HttpClient(faasd.url, faasd.authHeader, n);
  try {
    await Promise.all(
      Array.from({ length: n }, async (_, i) => {
        await sleep((i * windowMs) / n);
        const name = await deploy(i);
        names.push(name);
        const res = await client.request('POST', `/invoke/${name}`, { body, timeoutMs: 60_000 });
        if (res.status !== 200) throw new Error(`burst invoke of ${name}: ${res.status} ${res.body.slice(0, 300)}`);
        const kind = String(res.headers['x-faas-start'] ?? 'cold');
        kinds[kind] = (kinds[kind] ?? 0) + 1;
        samples.push(res.ms);
      }),
    );
  } finally {
    client.close();
    await Promise.all(names.map((name) => faasd.remove(name).catch(() => undefined)));
  }
  return { kinds, samples };
}
