// Figure 2: a function that sleeps 0.5 s, at 50 concurrent clients (one instance each): the
// p95 above 500 ms is what faasd adds when the work is not trivial. Measured twice: with
// autocannon's clients, which start together and stay in lock-step (bursts of 50), and with
// clients whose starts are spread over the 0.5 s (see runStaggered). Then the same clients
// served by 2 instances of an async function with `concurrency` = clients / 2 (issue 17).
import { startCeiling } from '../lib/baselines.js';
import { outcome, type BenchContext } from '../lib/context.js';
import { asyncSleepCode, sleepCode } from '../lib/functions.js';
import { measureLoad, runStaggered, type LoadFigure } from '../lib/load.js';
import { combo, type SleepFigure, type SleepResults, type SleepVariant } from '../lib/results.js';
import { summarize } from '../lib/stats.js';

const SLEEP_S = 0.5;

/** Two to four calls per client per run: enough samples for a p95 (50 clients x 4); one in a quick run. */
function sleepRunS(ctx: BenchContext): number {
  if (ctx.opts.quick) return 1.6 * SLEEP_S;
  return Math.max(2 * SLEEP_S, Math.min(ctx.opts.durationS, 4 * SLEEP_S));
}

/** Seconds both variants take: lock-step runs, staggered runs (plus ramp and tail), warm-up. */
function sleepCostS(ctx: BenchContext): number {
  return ctx.opts.runs * (2 * sleepRunS(ctx) + 2 * SLEEP_S + 0.3) + (ctx.opts.quick ? 0 : 2 * SLEEP_S);
}

async function measureBoth(ctx: BenchContext, url: string, headers: Record<string, string>, clients: number, what: string): Promise<SleepFigure> {
  const { opts } = ctx;
  const spec = { url, method: 'POST' as const, headers: { 'content-type': 'application/json', ...headers }, body: '{}', connections: clients };
  const durationS = sleepRunS(ctx);
  const variant = (load: LoadFigure): SleepVariant => ({ load, p95_overhead_ms: summarize(load.p95.runs.map((p) => p - SLEEP_S * 1000)) });
  // The warm-up (two calls per client; none in a quick run) also serves the staggered runs.
  const lockstep = variant(await measureLoad(spec, { runs: opts.runs, durationS, warmupS: opts.quick ? 0 : 2 * SLEEP_S }));
  const staggered = variant(await measureLoad(spec, { runs: opts.runs, durationS, warmupS: 0, run: (s) => runStaggered({ ...s, staggerMs: (SLEEP_S * 1000) / clients }) }));
  for (const [label, v] of [
    ['lock-step', lockstep],
    ['staggered', staggered],
  ] as const) {
    ctx.log(`sleep ${what} ${label}: p50 ${v.load.p50.median.toFixed(1)} ms, p95 ${v.load.p95.median.toFixed(1)} ms (overhead ${v.p95_overhead_ms.median.toFixed(2)} ms)`);
  }
  return { lockstep, staggered };
}

export async function sleepScenario(ctx: BenchContext): Promise<SleepResults> {
  const { opts } = ctx;
  const clients = opts.sleepClients;
  const results: SleepResults = { clients, sleep_ms: SLEEP_S * 1000, ceiling: { status: 'skipped', reason: 'not run' }, faasd: {} };
  results.ceiling = await outcome(ctx, 'sleep ceiling', async () => {
    ctx.needTime(sleepCostS(ctx) + 2, 'sleep ceiling');
    const server = await startCeiling();
    try {
      return await measureBoth(ctx, `${server.url}/sleep?ms=${SLEEP_S * 1000}`, {}, clients, 'ceiling');
    } finally {
      await server.stop();
    }
  });
  for (const mode of ctx.opts.modes) {
    for (const runtime of ctx.opts.runtimes) {
      const c = combo(mode, runtime);
      results.faasd[c] = await outcome(ctx, `sleep ${c}`, async () => {
        ctx.needTime(sleepCostS(ctx) + (mode === 'container' ? 2 + clients * 0.25 : 1 + clients * 0.05), `sleep ${c}`);
        const name = ctx.name(`bench-sleep-${mode}-${runtime}`);
        // One warm instance per client, started before measuring: this figure is about the
        // warm path; cold starts have their own figure.
        await ctx.deploy(name, mode, runtime, sleepCode(runtime, SLEEP_S), { min_instances: clients, max_instances: clients, timeout: 10 });
        try {
          const startS = await ctx.faasd.waitIdle(name, clients, mode === 'container' ? 120_000 : 60_000);
          ctx.log(`sleep ${c}: ${clients} instances warm in ${startS.toFixed(1)} s`);
          return await measureBoth(ctx, `${ctx.faasd.url}/invoke/${name}`, ctx.faasd.authHeader, clients, c);
        } finally {
          await ctx.faasd.remove(name);
          await ctx.faasd.waitDriverIdle(mode, 60_000);
        }
      });
    }
  }
  const instances = 2;
  const concurrency = Math.ceil(clients / instances);
  results.concurrent = { instances, concurrency, faasd: {} };
  for (const mode of ctx.opts.modes) {
    for (const runtime of ctx.opts.runtimes) {
      const c = combo(mode, runtime);
      results.concurrent.faasd[c] = await outcome(ctx, `sleep ${c} concurrency ${concurrency}`, async () => {
        ctx.needTime(sleepCostS(ctx) + 3, `sleep ${c} with concurrency`);
        const name = ctx.name(`bench-sleepc-${mode}-${runtime}`);
        await ctx.deploy(name, mode, runtime, asyncSleepCode(runtime, SLEEP_S), { min_instances: instances, max_instances: instances, concurrency, timeout: 10 });
        try {
          await ctx.faasd.waitIdle(name, instances, mode === 'container' ? 60_000 : 30_000);
          const fig = await measureBoth(ctx, `${ctx.faasd.url}/invoke/${name}`, ctx.faasd.authHeader, clients, `${c} (concurrency ${concurrency}, ${instances} instances)`);
          const seen = (await ctx.faasd.instances(name)).length;
          return { ...fig, instances_seen: seen };
        } finally {
          await ctx.faasd.remove(name);
          await ctx.faasd.waitDriverIdle(mode, 60_000);
        }
      });
    }
  }
  return results;
}
