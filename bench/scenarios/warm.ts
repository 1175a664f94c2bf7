// Figure 1: warm invoke of a trivial JSON echo, per mode and runtime, at each concurrency,
// next to the ceiling (a bare Fastify echo in its own node process) and Cloudflare's workerd
// running the same echo as a Worker (another FaaS runtime, same machine, same load), and the
// floor of any gateway that runs the function in a second process (servers/two-hop.ts).
import { type BaselineServer, startCeiling, startTwoHop, startWorkerd } from '../lib/baselines.js';
import { outcome, type BenchContext } from '../lib/context.js';
import { CpuSampler } from '../lib/cpu.js';
import { ECHO_BODY, echoCode } from '../lib/functions.js';
import { measureLoad, runLoad, type LoadFigure } from '../lib/load.js';
import { combo, type WarmResults } from '../lib/results.js';

const JSON_HEADERS = { 'content-type': 'application/json' };

async function sweep(ctx: BenchContext, url: string, headers: Record<string, string>, what: string, cpu: () => CpuSampler): Promise<LoadFigure[]> {
  const { opts } = ctx;
  const out: LoadFigure[] = [];
  // One warm-up at the highest concurrency starts every instance the pool will use and lets
  // V8 optimise the hot path; each concurrency then gets a short warm-up of its own.
  ctx.needTime(opts.warmupS + 2, `${what} warm-up`);
  await runLoad({ url, method: 'POST', headers, body: ECHO_BODY, connections: Math.max(...opts.concurrencies), durationS: opts.warmupS });
  for (const c of opts.concurrencies) {
    ctx.needTime(opts.runs * (opts.durationS + 0.3) + 2, `${what} at c${c}`);
    const fig = await measureLoad(
      { url, method: 'POST', headers, body: ECHO_BODY, connections: c },
      { runs: opts.runs, durationS: opts.durationS, warmupS: Math.min(1, opts.warmupS / 4), cpu: cpu() },
    );
    const cpuNote = fig.cpu
      ? `, CPU/req: server ${Math.round(fig.cpu.server_us_per_req)} µs${fig.cpu.instances_us_per_req !== null ? `, instances ${Math.round(fig.cpu.instances_us_per_req)} µs` : ''}, load generator ${Math.round(fig.cpu.loadgen_us_per_req)} µs; machine ${Math.round(fig.cpu.machine_busy_pct)}% busy (${Math.round(fig.cpu.other_busy_pct)}% not ours)`
      : '';
    ctx.log(
      `${what} c${c}: ${Math.round(fig.rps.median)} req/s, p50 ${fig.p50.median.toFixed(2)} ms, p99 ${fig.p99.median.toFixed(2)} ms${fig.non2xx + fig.errors ? `, ${fig.non2xx} non-2xx, ${fig.errors} errors` : ''}${cpuNote}`,
    );
    out.push(fig);
  }
  return out;
}

export async function warmScenario(ctx: BenchContext): Promise<WarmResults> {
  const results: WarmResults = { body_bytes: Buffer.byteLength(ECHO_BODY), ceiling: { status: 'skipped', reason: 'not run' }, faasd: {} };
  // Each baseline in its own process, started, swept and stopped in turn.
  const baseline = async (what: string, start: () => Promise<BaselineServer & { workers?: number[] }>) =>
    outcome(ctx, what, async () => {
      const server = await start();
      // The two-hop floor's function processes count as its instances.
      const workers = server.workers ? async () => server.workers!.map((pid) => ({ id: `w${pid}`, pid, containerId: null })) : null;
      try {
        return await sweep(ctx, `${server.url}/echo`, JSON_HEADERS, what, () => new CpuSampler(server.child.pid, workers));
      } finally {
        await server.stop();
      }
    });
  results.ceiling = await baseline('ceiling', startCeiling);
  results.workerd = await baseline('workerd', startWorkerd);
  results.two_hop = await baseline('two-hop floor', startTwoHop);
  for (const mode of ctx.opts.modes) {
    for (const runtime of ctx.opts.runtimes) {
      const c = combo(mode, runtime);
      results.faasd[c] = await outcome(ctx, `warm ${c}`, async () => {
        const name = ctx.name(`bench-echo-${mode}-${runtime}`);
        await ctx.deploy(name, mode, runtime, echoCode(runtime));
        try {
          const first = await ctx.faasd.invoke(name, JSON.parse(ECHO_BODY));
          if (first.status !== 200) throw new Error(`first invoke of ${name}: ${first.status} ${first.body.slice(0, 300)}`);
          // Default function config (max_instances 10): what a user gets.
          const instances = () => ctx.faasd.instances(name);
          return await sweep(ctx, `${ctx.faasd.url}/invoke/${name}`, { ...JSON_HEADERS, ...ctx.faasd.authHeader }, `warm ${c}`, () => new CpuSampler(ctx.faasd.pid, instances));
        } finally {
          await ctx.faasd.remove(name);
        }
      });
    }
  }
  return results;
}
