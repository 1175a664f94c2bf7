// Figure 5 (section 5 of RESULTS.md): N warm instances of one Python and one JavaScript function per mode, sitting
// idle: the daemon's RSS, memory per instance (cgroup usage as the kernel charges it, and
// PSS summed over the instance's processes), and the p99 of /health and of a warm invoke.
import { outcome, type BenchContext } from '../lib/context.js';
import { StalledStart, type Mode, type Runtime } from '../lib/daemon.js';
import { ECHO_BODY, echoCode } from '../lib/functions.js';
import { measureLoad } from '../lib/load.js';
import { instanceMemory, rssBytes } from '../lib/memory.js';
import { combo, type DensityFigure, type DensityResults } from '../lib/results.js';
import { mean } from '../lib/stats.js';

const mb = (b: number | null) => (b === null ? 'n/a' : `${(b / 1024 / 1024).toFixed(1)} MiB`);

async function density(ctx: BenchContext, mode: Mode, runtime: Runtime, n: number): Promise<DensityFigure> {
  const { faasd, opts } = ctx;
  const probeS = opts.quick ? opts.durationS : Math.max(1, opts.durationS / 2);
  ctx.needTime((mode === 'container' ? 1 + n * 0.2 : 0.5 + n * 0.03) + 2 * (opts.runs * (probeS + 0.15) + 0.3) + 0.5, `density ${combo(mode, runtime)} N=${n}`);
  const name = ctx.name(`bench-dense-${mode}-${runtime}`);
  const rssBefore = rssBytes(faasd.pid);
  const t0 = performance.now();
  // Default limits (128Mi): a limit is a ceiling, not a reservation, so N of them fit.
  await ctx.deploy(name, mode, runtime, echoCode(runtime), { min_instances: n, max_instances: n });
  try {
    const bound = mode === 'container' ? 60_000 + n * 1000 : 30_000 + n * 200;
    let up = n;
    let failures: string[] | undefined;
    try {
      await faasd.waitIdle(name, n, Math.min(bound, Math.max(10_000, (ctx.timeLeftS() - 20) * 1000)));
    } catch (e) {
      // Some starts failed and the pool gave up on them: measure what did start, and say why.
      if (!(e instanceof StalledStart) || e.idle === 0) throw e;
      up = e.idle;
      failures = faasd.startFailures();
      ctx.log(`density ${combo(mode, runtime)}: ${e.message}; failures: ${failures.join(' | ')}`);
    }
    const startS = (performance.now() - t0) / 1000;
    ctx.log(`density ${combo(mode, runtime)}: ${up} instances idle after ${startS.toFixed(1)} s`);

    const mem = instanceMemory(await faasd.instances(name));
    const stats = await faasd.client.request('GET', `/stats/functions/${name}`);
    const cg = (JSON.parse(stats.body) as { instances?: { memory_bytes: number | null }[] }).instances?.map((i) => i.memory_bytes).filter((v): v is number => typeof v === 'number') ?? [];
    const found = [...mem.values()].filter((m) => m.processes > 0);

    const headers = faasd.authHeader;
    const health = await measureLoad({ url: `${faasd.url}/health`, method: 'GET', headers, connections: 1 }, { runs: opts.runs, durationS: probeS, warmupS: 0.3 });
    // Round-robin spreads these calls over all N idle instances.
    const invoke = await measureLoad(
      { url: `${faasd.url}/invoke/${name}`, method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: ECHO_BODY, connections: 1 },
      { runs: opts.runs, durationS: probeS, warmupS: 0.3 },
    );
    const fig: DensityFigure = {
      n_requested: n,
      n: up,
      ...(failures ? { start_failures: failures } : {}),
      start_s: startS,
      daemon_rss_before_bytes: rssBefore,
      daemon_rss_bytes: rssBytes(faasd.pid),
      cgroup_bytes_per_instance: cg.length > 0 ? mean(cg) : null,
      pss_bytes_per_instance: found.length > 0 ? mean(found.map((m) => m.pss)) : null,
      processes_per_instance: found.length > 0 ? mean(found.map((m) => m.processes)) : null,
      host_shim_pss_bytes_per_instance: mode === 'container' && found.length > 0 ? mean(found.map((m) => m.hostShimPss)) : null,
      health,
      invoke,
    };
    ctx.log(
      `density ${combo(mode, runtime)}: daemon RSS ${mb(fig.daemon_rss_bytes)}, cgroup ${mb(fig.cgroup_bytes_per_instance)}/instance, PSS ${mb(fig.pss_bytes_per_instance)}/instance, /health p99 ${health.p99.median.toFixed(2)} ms, invoke p99 ${invoke.p99.median.toFixed(2)} ms`,
    );
    return fig;
  } finally {
    await faasd.remove(name).catch(() => undefined);
    await faasd.waitDriverIdle(mode, mode === 'container' ? 60_000 + n * 500 : 60_000);
  }
}

export async function densityScenario(ctx: BenchContext): Promise<DensityResults> {
  const results: DensityResults = { faasd: {} };
  for (const mode of ctx.opts.modes) {
    const n = mode === 'container' ? ctx.opts.densityContainer : ctx.opts.densityProcess;
    for (const runtime of ctx.opts.runtimes) {
      const c = combo(mode, runtime);
      if (n <= 0) {
        results.faasd[c] = { status: 'skipped', reason: 'skipped: density N = 0' };
        continue;
      }
      results.faasd[c] = await outcome(ctx, `density ${c}`, () => density(ctx, mode, runtime, n));
    }
  }
  return results;
}
