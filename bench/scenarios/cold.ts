// Figure 3: cold start, the first call to a function with no instance (client-side, from
// writing the invoke request to the last byte of the answer), and the second (warm) call to
// the same function, over fresh functions: with
// faasd's default config (pre-warmed generic instances take the start when one is ready)
// and on a second daemon with prewarm 0 (every start from nothing). Then the naive
// baselines that start an interpreter or a container for every request.
import { setTimeout as sleep } from 'node:timers/promises';
import { startSpawnServer } from '../lib/baselines.js';
import { type BurstRun, runBurst } from '../lib/burst.js';
import { Skipped, outcome, type BenchContext } from '../lib/context.js';
import { Faasd, type Mode, type Runtime } from '../lib/daemon.js';
import { ECHO_BODY, echoCode } from '../lib/functions.js';
import { HttpClient } from '../lib/http.js';
import { STANDING_POOL, combo, type BurstFigure, type ColdFigure, type ColdResults } from '../lib/results.js';
import { percentile, summarize } from '../lib/stats.js';

function figure(samples: number[], extra: Partial<ColdFigure> = {}): ColdFigure {
  return {
    n: samples.length,
    samples_ms: samples.map((v) => Math.round(v * 100) / 100),
    p50: percentile(samples, 50),
    p95: percentile(samples, 95),
    min: Math.min(...samples),
    max: Math.max(...samples),
    ...extra,
  };
}

async function faasdCold(ctx: BenchContext, faasd: Faasd, mode: Mode, runtime: Runtime, label: string, prewarm: boolean): Promise<ColdFigure> {
  const n = ctx.opts.coldFunctions;
  ctx.needTime(n * (mode === 'container' ? 1.5 : 0.4) + 3, `${label} ${combo(mode, runtime)}`);
  const names: string[] = [];
  const deploys: number[] = [];
  const samples: number[] = [];
  const warm: number[] = [];
  const kinds: Record<string, number> = {};
  try {
    // Deploy all first: a deploy writes code and a registry row, and is not part of the cold
    // start. Each function's code differs, so nothing is shared between them.
    for (let i = 0; i < n; i++) {
      const name = ctx.name(`bench-cold-${mode}-${runtime}`);
      deploys.push(await ctx.deploy(name, mode, runtime, echoCode(runtime, `cold ${i} ${name}`), {}, faasd));
      names.push(name);
    }
    const body = JSON.parse(ECHO_BODY) as unknown;
    for (const name of names) {
      // Also primes the keep-alive connection, so the timed call carries no TCP handshake.
      const before = await faasd.driverInstances(mode);
      const res = await faasd.invoke(name, body);
      if (res.status !== 200) throw new Error(`cold invoke of ${name}: ${res.status} ${res.body.slice(0, 300)}`);
      if (res.headers['x-faas-cold-start'] !== 'true') throw new Error(`${name}: first call was not a cold start (x-faas-cold-start: ${String(res.headers['x-faas-cold-start'])})`);
      samples.push(res.ms);
      const kind = String(res.headers['x-faas-start'] ?? 'cold');
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      // The third kind of start: the next call, served by the instance the first one started.
      const again = await faasd.invoke(name, body);
      if (again.status !== 200 || again.headers['x-faas-start'] !== 'warm')
        throw new Error(`${name}: second call was not warm (${again.status}, x-faas-start: ${String(again.headers['x-faas-start'])})`);
      warm.push(again.ms);
      // One function at a time, as a trickle of new functions would arrive: the pre-warmed
      // pool refills before the next one (a burst larger than the pool gets full starts).
      // The driver counts a refill from its spawn, not from its `ready`, hence the extra
      // pause: a generic instance starts in ~30-60 ms (process) or ~0.4 s (container) here.
      if (kind === 'prewarmed') await faasd.waitRefilled(mode, before, mode === 'container' ? 10_000 : 3_000);
      // (A quick run skips the pause: it checks that the figure works, not its value.)
      if (prewarm && !ctx.opts.quick) await sleep(mode === 'container' ? 800 : 200);
    }
  } finally {
    await Promise.all(names.map((name) => faasd.remove(name).catch(() => undefined)));
    await faasd.waitDriverIdle(mode, 60_000);
  }
  const w = figure(warm);
  const fig = figure(samples, { deploy_p50_ms: summarize(deploys).median, start_kinds: kinds, warm: { n: w.n, p50: w.p50, p95: w.p95, min: w.min, max: w.max } });
  ctx.log(
    `${label} ${combo(mode, runtime)}: p50 ${fig.p50.toFixed(1)} ms, p95 ${fig.p95.toFixed(1)} ms over ${fig.n} functions (${JSON.stringify(kinds)}); second call (warm) p50 ${w.p50.toFixed(2)} ms`,
  );
  return fig;
}

/**
 * Issue 17, target 3: a burst of deploys (n within windowMs, evenly spaced), each function
 * called once as soon as its deploy answers, all in parallel: how many first calls still
 * found a pre-warmed generic instance (x-faas-start: prewarmed), and their latency.
 */
async function burst(ctx: BenchContext, mode: Mode, runtime: Runtime, faasd: Faasd = ctx.faasd): Promise<BurstFigure> {
  const n = ctx.opts.quick ? 5 : 20;
  const windowMs = ctx.opts.quick ? 500 : 2000;
  ctx.needTime(mode === 'container' ? 25 : 10, `burst ${combo(mode, runtime)}`);
  // Start from the configured pool size, refilled after whatever ran before.
  await sleep(mode === 'container' ? 3000 : 1000);
  let run: BurstRun;
  try {
    run = await runBurst(faasd, n, windowMs, async (i) => {
      const name = ctx.name(`bench-burst-${mode}-${runtime}`);
      await ctx.deploy(name, mode, runtime, echoCode(runtime, `burst ${i} ${name}`), {}, faasd);
      return name;
    });
  } finally {
    await faasd.waitDriverIdle(mode, 60_000);
  }
  const { kinds, samples } = run;
  const fig: BurstFigure = {
    n,
    window_ms: windowMs,
    start_kinds: kinds,
    prewarmed_share: (kinds.prewarmed ?? 0) / n,
    first_call_p50: percentile(samples, 50),
    first_call_p95: percentile(samples, 95),
  };
  ctx.log(`burst ${combo(mode, runtime)}: ${n} deploys in ${windowMs} ms, first calls ${JSON.stringify(kinds)}, p50 ${fig.first_call_p50.toFixed(1)} ms, p95 ${fig.first_call_p95.toFixed(1)} ms`);
  return fig;
}

async function baseline(ctx: BenchContext, client: HttpClient, route: string, n: number): Promise<ColdFigure> {
  ctx.needTime(n * (route.startsWith('/docker') ? 1.5 : 0.2) + 2, `baseline ${route}`);
  const body = JSON.parse(ECHO_BODY) as unknown;
  // Unmeasured requests fill the page cache, as faasd's warm-up does for it.
  for (let i = 0; i < (ctx.opts.quick ? 1 : 2); i++) {
    const r = await client.request('POST', route, { body, timeoutMs: 60_000 });
    if (r.status !== 200) throw new Error(`${route}: ${r.status} ${r.body.slice(0, 300)}`);
  }
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    // Any quick request primes the keep-alive connection (the server answers 404 at once).
    await client.request('GET', '/prime').catch(() => undefined);
    const r = await client.request('POST', route, { body, timeoutMs: 60_000 });
    if (r.status !== 200) throw new Error(`${route}: ${r.status} ${r.body.slice(0, 300)}`);
    samples.push(r.ms);
  }
  const fig = figure(samples);
  ctx.log(`baseline ${route}: p50 ${fig.p50.toFixed(1)} ms, p95 ${fig.p95.toFixed(1)} ms over ${fig.n} requests`);
  return fig;
}

export async function coldScenario(ctx: BenchContext): Promise<ColdResults> {
  const results: ColdResults = { faasd: {}, faasd_no_prewarm: {}, baselines: {}, burst: {} };
  for (const mode of ctx.opts.modes) {
    for (const runtime of ctx.opts.runtimes) results.faasd[combo(mode, runtime)] = await outcome(ctx, `cold ${combo(mode, runtime)}`, () => faasdCold(ctx, ctx.faasd, mode, runtime, 'cold', true));
  }
  for (const mode of ctx.opts.modes) {
    for (const runtime of ctx.opts.runtimes) results.burst![combo(mode, runtime)] = await outcome(ctx, `burst ${combo(mode, runtime)}`, () => burst(ctx, mode, runtime));
  }

  // What a burst gets in container mode when the operator keeps a standing pool (the engine
  // starts ~8 containers a second here: the default pool of 1, growing to 2, cannot keep up).
  if (ctx.opts.modes.includes('container')) {
    results.burst_standing_pool = {};
    const standing = await outcome(ctx, 'burst (standing container pool)', async () => {
      if (ctx.opts.quick) throw new Skipped('skipped in a quick run (it starts a second daemon)');
      ctx.needTime(40, 'burst with a standing container pool');
      const faasd = await Faasd.start({ entry: ctx.faasd.entry, maxConcurrentFunctions: 1000, cpuProfDir: null, prewarmConfig: { container: STANDING_POOL } });
      try {
        for (const runtime of ctx.opts.runtimes) {
          // The pool fills at the engine's pace before the burst.
          await sleep(6000);
          results.burst_standing_pool![combo('container', runtime)] = await outcome(ctx, `burst, standing pool container/${runtime}`, () => burst(ctx, 'container', runtime, faasd));
        }
      } finally {
        await faasd.stop();
      }
    });
    if (standing.status !== 'ok') for (const runtime of ctx.opts.runtimes) results.burst_standing_pool[combo('container', runtime)] ??= standing;
  }

  const noPrewarm = await outcome(ctx, 'cold (prewarm off)', async () => {
    if (ctx.opts.quick) throw new Skipped('skipped in a quick run (it starts a second daemon)');
    ctx.needTime(10, 'cold start with prewarm off');
    const faasd = await Faasd.start({ entry: ctx.faasd.entry, maxConcurrentFunctions: 1000, cpuProfDir: null, prewarm: false });
    try {
      for (const mode of ctx.opts.modes) {
        for (const runtime of ctx.opts.runtimes) {
          results.faasd_no_prewarm[combo(mode, runtime)] = await outcome(ctx, `cold, prewarm off ${combo(mode, runtime)}`, () => faasdCold(ctx, faasd, mode, runtime, 'cold, prewarm off', false));
        }
      }
    } finally {
      await faasd.stop();
    }
  });
  if (noPrewarm.status !== 'ok') for (const mode of ctx.opts.modes) for (const runtime of ctx.opts.runtimes) results.faasd_no_prewarm[combo(mode, runtime)] ??= noPrewarm;

  const server = await startSpawnServer();
  const client = new HttpClient(server.url);
  try {
    for (const runtime of ctx.opts.runtimes) {
      results.baselines[`spawn/${runtime}`] = await outcome(ctx, `baseline spawn/${runtime}`, () => baseline(ctx, client, `/spawn/${runtime}`, ctx.opts.spawnSamples));
    }
    for (const runtime of ctx.opts.runtimes) {
      const o = await outcome(ctx, `baseline docker-run/${runtime}`, () => baseline(ctx, client, `/docker/${runtime}`, ctx.opts.dockerRunSamples));
      // No Docker engine or image here is "unavailable", like container mode itself.
      results.baselines[`docker-run/${runtime}`] =
        o.status === 'error' && /No such image|Unable to find image|Cannot connect|spawn docker ENOENT/.test(o.reason) ? { status: 'unavailable', reason: o.reason } : o;
    }
  } finally {
    client.close();
    await server.stop();
  }
  return results;
}
