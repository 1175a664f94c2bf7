// Same-run A/B of a hot-path lever: two daemons side by side, one per variant (its
// environment), the same warm JSON echo deployed on each, load runs alternated A, B, A, B ...
// so both see the same machine. Prints req/s and CPU per request (daemon, instances) per run
// and the medians.
//   node --import tsx bench/tools/ab.ts --a FAASD_X=0 --b FAASD_X=1 [--runtime python] [--mode process] [--runs 6] [--duration 3] [--clients 64] [--daemon src|dist]
// --runtime-b node: B's echo in that runtime (same daemon build): two runtimes' instance CPU
// per call compared in the same run (issue 17 target 2: a Node instance no dearer than Python).
import { CpuSampler } from '../lib/cpu.js';
import { Faasd, type Mode, type Runtime } from '../lib/daemon.js';
import { ECHO_BODY, echoCode } from '../lib/functions.js';
import { arg, envSpec } from '../lib/ab-args.js';
import { runLoad } from '../lib/load.js';
import { percentile } from '../lib/stats.js';

const median = (v: number[]) => percentile(v, 50);

const variants = { A: envSpec(arg('a', '')), B: envSpec(arg('b', '')) };
const runtime = arg('runtime', 'python') as Runtime;
const runtimes: Record<string, Runtime> = { A: runtime, B: arg('runtime-b', runtime) as Runtime };
const mode = arg('mode', 'process') as Mode;
const runs = Number(arg('runs', '6'));
const durationS = Number(arg('duration', '3'));
const clients = Number(arg('clients', '64'));
const entry = arg('daemon', 'src') as 'src' | 'dist';
const repoA = arg('repo-a', '');

const daemons: Record<string, Faasd> = {};
const out: Record<string, { rps: number[]; server: number[]; inst: number[] }> = { A: { rps: [], server: [], inst: [] }, B: { rps: [], server: [], inst: [] } };
try {
  for (const [k, e] of Object.entries(variants)) daemons[k] = await Faasd.start({ entry, maxConcurrentFunctions: 1000, cpuProfDir: null, env: e, ...(k === 'A' && repoA ? { repoDir: repoA } : {}) });
  const spec = (f: Faasd) => ({ url: `${f.url}/invoke/ab-echo`, method: 'POST' as const, headers: { 'content-type': 'application/json', ...f.authHeader }, body: ECHO_BODY, connections: clients });
  for (const [k, f] of Object.entries(daemons)) {
    const r = await f.deploy('ab-echo', runtimes[k]!, echoCode(runtimes[k]!), { execution_mode: mode });
    if (!r.ok) throw new Error(r.message);
    await runLoad({ ...spec(f), durationS: 2 });
  }
  for (let i = 0; i < runs; i++) {
    for (const k of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
      const f = daemons[k]!;
      const cpu = new CpuSampler(f.pid, () => f.instances('ab-echo'));
      await cpu.before();
      const r = await runLoad({ ...spec(f), durationS });
      cpu.after();
      const c = cpu.result(r.ok);
      out[k]!.rps.push(r.rps);
      out[k]!.server.push(c?.server_us_per_req ?? Number.NaN);
      out[k]!.inst.push(c?.instances_us_per_req ?? Number.NaN);
      process.stderr.write(
        `${k} run ${i}: ${Math.round(r.rps)} req/s, daemon ${Math.round(c?.server_us_per_req ?? 0)} µs/req, instances ${Math.round(c?.instances_us_per_req ?? 0)} µs/req, p50 ${r.p50.toFixed(2)} ms${r.non2xx + r.errors ? `, ${r.non2xx + r.errors} failed` : ''}\n`,
      );
    }
  }
  for (const k of ['A', 'B']) {
    const o = out[k]!;
    console.log(
      `${k} ${runtimes[k]} ${JSON.stringify(variants[k as 'A' | 'B'])}: median ${Math.round(median(o.rps))} req/s, daemon ${Math.round(median(o.server))} µs/req, instances ${Math.round(median(o.inst))} µs/req`,
    );
  }
} finally {
  await Promise.all(Object.values(daemons).map((d) => d.stop()));
}
