// `npm run bench`: starts a real faasd in a child process on its own temp config and
// registry, measures warm invokes, a 0.5 s function, cold starts, baselines and density,
// and writes <out>/results/<date>-<host>.json and <out>/RESULTS.md. See bench/lib/options.ts
// for the flags; --quick is the CI smoke version.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BenchContext, outcome } from './lib/context.js';
import { Faasd } from './lib/daemon.js';
import { commitInfo, loadAverage, machineInfo } from './lib/machine.js';
import { parseOptions, type BenchOptions } from './lib/options.js';
import { renderMarkdown } from './lib/report.js';
import type { BenchResults } from './lib/results.js';
import { evaluateTargets } from './lib/targets.js';
import { coldScenario } from './scenarios/cold.js';
import { densityScenario } from './scenarios/density.js';
import { sleepScenario } from './scenarios/sleep.js';
import { warmScenario } from './scenarios/warm.js';

function writeOutputs(opts: BenchOptions, results: BenchResults): { md: string; json: string } {
  const host = results.machine.host.replace(/[^A-Za-z0-9_.-]/g, '_');
  const json = path.join(opts.outDir, 'results', `${results.started_at.slice(0, 10)}-${host}.json`);
  const md = path.join(opts.outDir, 'RESULTS.md');
  fs.mkdirSync(path.dirname(json), { recursive: true });
  fs.writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  fs.writeFileSync(md, renderMarkdown(results, path.relative(opts.outDir, json)));
  return { md, json };
}

async function main(): Promise<number> {
  const opts = parseOptions(process.argv.slice(2));
  const t0 = Date.now();
  const startedAt = new Date(t0).toISOString();
  const loadStart = loadAverage();
  process.stderr.write(`[bench] ${opts.quick ? 'quick' : 'full'} run, load average ${loadStart.map((v) => v.toFixed(2)).join(' ')}, budget ${opts.budgetS} s\n`);
  if (opts.quick) {
    process.stderr.write(
      `[bench] SMOKE TEST: --quick measures ${opts.durationS} s after a ${opts.warmupS} s warm-up, before a steady state; its figures show that the bench runs, not how fast faasd is, and no target is evaluated\n`,
    );
  }

  const maxDensity = Math.max(opts.densityProcess, opts.densityContainer);
  const faasd = await Faasd.start({ entry: opts.daemonEntry, maxConcurrentFunctions: Math.max(1000, maxDensity + 200), cpuProfDir: opts.cpuProfDir });
  const ctx = new BenchContext(opts, faasd, t0);
  ctx.log(`faasd (pid ${faasd.pid}) listening at ${faasd.url}`);
  const stopOnSignal = (sig: NodeJS.Signals) => {
    ctx.log(`${sig}: stopping faasd`);
    void Promise.allSettled([...Faasd.running].map((d) => d.stop())).finally(() => process.exit(130));
  };
  process.once('SIGINT', stopOnSignal);
  process.once('SIGTERM', stopOnSignal);

  const results: BenchResults = {
    schema: 1,
    quick: opts.quick,
    started_at: startedAt,
    finished_at: '',
    duration_s: 0,
    options: {
      runs: opts.runs,
      duration_s: opts.durationS,
      warmup_s: opts.warmupS,
      concurrencies: opts.concurrencies,
      density_process: opts.densityProcess,
      density_container: opts.densityContainer,
      daemon_entry: faasd.entry,
    },
    machine: machineInfo(),
    commit: commitInfo(),
    load_average: { start: loadStart, end: [] },
    daemon: { log_level: faasd.logLevel, isolation: 'strict', drivers: {} },
    targets: [],
  };
  try {
    results.daemon.drivers = (await faasd.health()).drivers;
    const isolation = /isolation (\w+)/.exec(results.daemon.drivers.process?.detail ?? '');
    if (isolation) results.daemon.isolation = isolation[1]!;
    // Cheapest first so a tight budget still yields the headline figures.
    if (opts.sections.includes('warm')) results.warm = await outcome(ctx, 'warm', () => warmScenario(ctx));
    if (opts.sections.includes('cold')) results.cold = await outcome(ctx, 'cold', () => coldScenario(ctx));
    if (opts.sections.includes('sleep')) results.sleep = await outcome(ctx, 'sleep', () => sleepScenario(ctx));
    if (opts.sections.includes('density')) results.density = await outcome(ctx, 'density', () => densityScenario(ctx));
  } finally {
    ctx.log('stopping faasd');
    const keepLog = ctx.errors > 0 ? path.join(os.tmpdir(), `faasd-bench-${startedAt.replace(/[:.]/g, '-')}.log`) : undefined;
    await faasd.stop(keepLog).catch((e: Error) => ctx.log(`faasd stop: ${e.message}`));
    if (keepLog) ctx.log(`${ctx.errors} figure(s) failed: the daemon's log is kept at ${keepLog}`);
  }
  results.load_average.end = loadAverage();
  results.finished_at = new Date().toISOString();
  results.duration_s = Math.round((Date.now() - t0) / 1000);
  results.targets = evaluateTargets(results);
  const out = writeOutputs(opts, results);
  ctx.log(`wrote ${out.md} and ${out.json}`);
  for (const t of results.targets) process.stderr.write(`  ${t.status.padEnd(12)} ${t.target}: ${t.value}${t.note ? ` (${t.note})` : ''}\n`);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
