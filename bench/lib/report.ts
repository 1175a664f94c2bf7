// Renders bench/RESULTS.md from the results object.
import type { LoadFigure } from './load.js';
import { type BaselineKey, type BenchResults, type ColdFigure, type ColdResults, type Combo, type Outcome, STANDING_POOL, type SleepFigure } from './results.js';
import type { Summary } from './stats.js';

const COMBOS: Combo[] = ['process/python', 'process/node', 'container/python', 'container/node'];

function n(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '-';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** "median [min-max]" across runs; just the value when there was one run. */
function s(x: Summary, digits = 0): string {
  if (x.runs.length <= 1 || x.min === x.max) return n(x.median, digits);
  return `${n(x.median, digits)} [${n(x.min, digits)}–${n(x.max, digits)}]`;
}

const mib = (b: number | null | undefined) => (b === null || b === undefined ? '-' : `${n(b / 1024 / 1024, 1)} MiB`);

function notOk(o: Outcome<unknown> | undefined): string | null {
  if (!o) return 'not run';
  if (o.status === 'ok') return null;
  return `${o.status}${o.reason.startsWith('skipped') ? o.reason.slice('skipped'.length) : `: ${o.reason}`}`;
}

/** Reasons go in a table cell: one line, no pipes. */
const cell = (t: string) => t.replace(/\s+/g, ' ').replace(/\|/g, '/').slice(0, 240);

function errorsCell(f: LoadFigure): string {
  return f.non2xx + f.errors === 0 ? '0' : `${f.non2xx} non-2xx, ${f.errors} errors`;
}

export function renderMarkdown(r: BenchResults, jsonPath: string): string {
  const L: string[] = [];
  const m = r.machine;
  const o = r.options;
  L.push(r.quick ? '# faasd benchmark: SMOKE TEST (--quick), not results' : '# faasd benchmark results', '');
  L.push(
    `Written by \`npm run bench${r.quick ? ' -- --quick' : ''}\` (bench/run.ts) on ${r.started_at.slice(0, 16).replace('T', ' ')} UTC in ${n(r.duration_s)} s. ` +
      `Every load figure is the median of ${o.runs} run${o.runs > 1 ? 's' : ''} of ${o.duration_s} s after a warm-up, with [min–max] over the runs. ` +
      'Latencies are client-side (autocannon, closed loop, keep-alive), in ms. Targets are reported, never asserted.',
  );
  if (r.quick) {
    L.push(
      '',
      `**Smoke test** (\`--quick\`): one run of ${o.duration_s} s per figure after a ${o.warmup_s} s warm-up, before the daemon, its instances and V8 reach a steady state (a quick run has read 0.03–0.09 of the ceiling where a full run reads 0.3). ` +
        'It shows that the bench works end to end, not how fast faasd is: no target is evaluated. Run `npm run bench` for figures.',
    );
  }
  L.push('', '## Machine', '', '| | |', '|---|---|');
  L.push(`| host | ${m.host} |`);
  L.push(`| CPU | ${m.cores} cores, ${m.cpu_model} |`);
  L.push(`| memory | ${n(m.memory_bytes / 1024 ** 3, 1)} GiB |`);
  L.push(`| kernel / OS | ${m.kernel} / ${m.os} |`);
  L.push(`| Node | ${m.node} |`);
  L.push(`| Python | ${m.python ?? '-'} |`);
  L.push(`| Docker engine | ${m.docker ?? 'not available'} |`);
  L.push(`| commit | \`${r.commit.hash}\`${r.commit.uncommitted_files > 0 ? ` + ${r.commit.uncommitted_files} uncommitted file(s) in src/ or runtimes/` : ''} |`);
  L.push(`| load average (1/5/15 min) at start | ${r.load_average.start.map((v) => v.toFixed(2)).join(' / ')} |`);
  L.push(`| load average at end | ${r.load_average.end.map((v) => v.toFixed(2)).join(' / ')} |`);
  L.push(
    `| faasd | child process (${o.daemon_entry === 'src' ? '`node --import tsx src/cli.ts`: dist/ was older than src/' : '`node bin/faasd.js`, the compiled build'}), isolation ${r.daemon.isolation}, log level ${r.daemon.log_level} to a file, one key with no rate limit |`,
  );
  for (const [mode, d] of Object.entries(r.daemon.drivers)) L.push(`| ${mode} driver | ${d.ok ? d.detail.replace(/, \d+ instances$/, '') : `unavailable: ${cell(d.detail)}`} |`);
  L.push('| load generator | autocannon in the bench process, on the same cores as faasd |');

  L.push('', '## Targets', '', 'Where a target is missed, [ANALYSIS.md](ANALYSIS.md) says where the time goes, from profiles of this machine.', '', '| target | value | result |', '|---|---|---|');
  for (const t of r.targets) L.push(`| ${t.target} | ${t.value} | **${t.status}**${t.note ? ` (${cell(t.note)})` : ''} |`);

  // 1. warm
  L.push('', '## 1. Warm invoke, JSON echo', '');
  const warmWhy = notOk(r.warm);
  if (warmWhy || r.warm?.status !== 'ok') L.push(`_${warmWhy}_`);
  else {
    const w = r.warm.data;
    L.push(
      `POST of a ${w.body_bytes}-byte JSON body that the function returns. Functions use the default config (max_instances 10). "x ceiling" is req/s over the ceiling's req/s at the same concurrency.`,
      '',
    );
    L.push(
      'CPU columns: CPU time per request during the measured runs, from /proc: the server process (faasd or the ceiling), the function instances (every process of each instance), and the load generator (autocannon, in the bench process); "machine busy" is the share of all cores in use, with the part none of these three explain (other work on this shared machine, interrupts) in parentheses.',
      '',
    );
    L.push(
      '| server | clients | req/s | x ceiling | p50 ms | p99 ms | server CPU µs/req | instances CPU µs/req | load-gen CPU µs/req | machine busy % (other) | errors |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    );
    const ceil = w.ceiling.status === 'ok' ? w.ceiling.data : null;
    const rows: [string, Outcome<LoadFigure[]> | undefined][] = [
      ['ceiling (bare Fastify echo)', w.ceiling],
      ['workerd (the same echo as a Cloudflare Worker)', w.workerd ?? { status: 'skipped', reason: 'not run' }],
      ['two-hop floor (bare Fastify + a Unix-socket hop to a bare Python loop)', w.two_hop ?? { status: 'skipped', reason: 'not run' }],
      ...COMBOS.map((c): [string, Outcome<LoadFigure[]> | undefined] => [`faasd ${c}`, w.faasd[c]]),
    ];
    for (const [label, out] of rows) {
      const why = notOk(out);
      if (why || out?.status !== 'ok') {
        L.push(`| ${label} | | | | | | | | | | ${cell(why ?? '')} |`);
        continue;
      }
      for (const f of out.data) {
        const c = ceil?.find((x) => x.connections === f.connections);
        const ratio = c && label !== rows[0]![0] ? n(f.rps.median / c.rps.median, 2) : label === rows[0]![0] ? '1' : '-';
        const cpu = f.cpu;
        const cpuCells = cpu
          ? `${n(cpu.server_us_per_req)} | ${cpu.instances_us_per_req === null ? '-' : n(cpu.instances_us_per_req)} | ${n(cpu.loadgen_us_per_req)} | ${n(cpu.machine_busy_pct)} (${n(cpu.other_busy_pct)})`
          : '- | - | - | -';
        L.push(`| ${label} | ${f.connections} | ${s(f.rps)} | ${ratio} | ${s(f.p50, 2)} | ${s(f.p99, 2)} | ${cpuCells} | ${errorsCell(f)} |`);
      }
    }
  }

  // 2. sleep
  L.push('', '## 2. Sleep 0.5 s', '');
  const sleepWhy = notOk(r.sleep);
  if (sleepWhy || r.sleep?.status !== 'ok') L.push(`_${sleepWhy}_`);
  else {
    const sl = r.sleep.data;
    L.push(
      `${sl.clients} concurrent clients in a closed loop, one warm instance each (min_instances = max_instances = ${sl.clients}). Overhead = p95 − ${sl.sleep_ms} ms. ` +
        '"lock-step": autocannon, whose clients start together and stay in phase because every call takes the same 0.5 s, so calls arrive and finish in bursts of ' +
        `${sl.clients} and the tail is the time to drain a burst. "staggered": the same clients started ${n(sl.sleep_ms / sl.clients, 0)} ms apart, so arrivals spread over the call time as independent clients' do. ` +
        'The ceiling row is the same wait inside a bare Fastify route: what timers and wake-ups cost on this machine with no gateway at all. ' +
        '"concurrency" rows: the same clients served by 2 instances of the wait written as an async handler (`async def` with asyncio.sleep in Python) with the config key `concurrency` at clients / 2.',
      '',
    );
    L.push('| server | clients | p50 ms | p95 ms | p99 ms | p95 overhead ms | errors |', '|---|---|---:|---:|---:|---:|---|');
    const sleepRows: [string, Outcome<SleepFigure> | undefined][] = [
      ['ceiling (bare Fastify, in-process wait)', sl.ceiling],
      ...COMBOS.map((c): [string, Outcome<SleepFigure> | undefined] => [`faasd ${c}`, sl.faasd[c]]),
      ...(sl.concurrent
        ? COMBOS.map((c): [string, Outcome<SleepFigure> | undefined] => [
            `faasd ${c}, async, concurrency ${sl.concurrent!.concurrency} on ${sl.concurrent!.instances} instances`,
            sl.concurrent!.faasd[c],
          ])
        : []),
    ];
    for (const [c, out] of sleepRows) {
      const why = notOk(out);
      if (why || out?.status !== 'ok') {
        L.push(`| ${c} | | | | | | ${cell(why ?? '')} |`);
        continue;
      }
      for (const [label, v] of [
        ['staggered', out.data.staggered],
        ['lock-step', out.data.lockstep],
      ] as const) {
        const f = v.load;
        L.push(`| ${c} | ${label} | ${s(f.p50, 1)} | ${s(f.p95, 1)} | ${s(f.p99, 1)} | ${s(v.p95_overhead_ms, 2)} | ${errorsCell(f)} |`);
      }
    }
  }

  // 3. cold
  L.push('', '## 3. Cold start', '');
  const coldWhy = notOk(r.cold);
  if (coldWhy || r.cold?.status !== 'ok') L.push(`_${coldWhy}_`);
  else {
    const cd = r.cold.data;
    L.push(
      'First call to a freshly deployed function with no instance, from the invoke request to the last byte of the answer (keep-alive connection), one function at a time. ' +
        '"faasd" is the default config, where a cold start takes a pre-warmed generic instance (x-faas-start: prewarmed) when one is ready; "prewarm off" is a second daemon with `prewarm: 0`, where every first call starts an instance from nothing; "warm (second call)" is the next call to each of those functions, served by the instance its first call started. ' +
        'Baselines: a new interpreter per request (CGI / fork watchdog model: an HTTP server that spawns `/usr/bin/python3 -c` or `node -e` with the body on stdin) and `docker run --rm -i --network none <image>` per request. ' +
        '"x baseline" is the faasd p50 over the matching baseline p50 (process mode: spawn; container mode: docker run).',
      '',
    );
    L.push('| | n | p50 ms | p95 ms | min ms | max ms | x baseline (p50) | note |', '|---|---:|---:|---:|---:|---:|---:|---|');
    const base = (k: BaselineKey): ColdFigure | null => {
      const b = cd.baselines[k];
      return b?.status === 'ok' ? b.data : null;
    };
    const groups: [string, Partial<Record<Combo, Outcome<ColdFigure>>>][] = [
      ['faasd', cd.faasd],
      ['faasd, prewarm off', cd.faasd_no_prewarm ?? {}],
    ];
    for (const [label, byCombo] of groups) {
      for (const c of COMBOS) {
        const out = byCombo[c];
        const why = notOk(out);
        if (why || out?.status !== 'ok') {
          L.push(`| ${label} ${c} | | | | | | | ${cell(why ?? '')} |`);
          continue;
        }
        const f = out.data;
        const [mode, rt] = c.split('/') as ['process' | 'container', 'python' | 'node'];
        const b = base(mode === 'process' ? `spawn/${rt}` : `docker-run/${rt}`);
        const kinds = f.start_kinds
          ? `${Object.entries(f.start_kinds)
              .map(([k, v]) => `${v} ${k}`)
              .join(', ')}; `
          : '';
        L.push(`| ${label} ${c} | ${f.n} | ${n(f.p50, 1)} | ${n(f.p95, 1)} | ${n(f.min, 1)} | ${n(f.max, 1)} | ${b ? n(f.p50 / b.p50, 2) : '-'} | ${kinds}deploy p50 ${n(f.deploy_p50_ms, 1)} ms |`);
      }
    }
    // Issue 17: first calls during a burst of deploys (default pool, then a standing container pool).
    const bursts: [string, ColdResults['burst']][] = [
      ['faasd burst', cd.burst],
      [`faasd burst, standing pool (prewarm.container: ${STANDING_POOL.python} per runtime, max ${STANDING_POOL.max})`, cd.burst_standing_pool],
    ];
    for (const [label, figures] of bursts) {
      for (const c of COMBOS) {
        const out = figures?.[c];
        if (!out) continue;
        const why = notOk(out);
        if (why || out.status !== 'ok') {
          L.push(`| ${label} ${c} | | | | | | | ${cell(why ?? '')} |`);
          continue;
        }
        const b = out.data;
        const kinds = Object.entries(b.start_kinds)
          .map(([k, v]) => `${v} ${k}`)
          .join(', ');
        L.push(`| ${label} of ${b.n} deploys in ${n(b.window_ms / 1000, 1)} s ${c} | ${b.n} | ${n(b.first_call_p50, 1)} | ${n(b.first_call_p95, 1)} | | | | first calls: ${kinds} |`);
      }
    }
    // The third kind of start, from the default-config daemon: the second call to each function.
    for (const c of COMBOS) {
      const out = cd.faasd[c];
      const w = out?.status === 'ok' ? out.data.warm : undefined;
      if (w) L.push(`| faasd warm (second call) ${c} | ${w.n} | ${n(w.p50, 2)} | ${n(w.p95, 2)} | ${n(w.min, 2)} | ${n(w.max, 2)} | | x-faas-start: warm |`);
    }
    for (const k of ['spawn/python', 'spawn/node', 'docker-run/python', 'docker-run/node'] as BaselineKey[]) {
      const out = cd.baselines[k];
      const why = notOk(out);
      if (why || out?.status !== 'ok') L.push(`| baseline ${k} | | | | | | | ${cell(why ?? '')} |`);
      else L.push(`| baseline ${k} | ${out.data.n} | ${n(out.data.p50, 1)} | ${n(out.data.p95, 1)} | ${n(out.data.min, 1)} | ${n(out.data.max, 1)} | | |`);
    }
  }

  renderBaselines(L, r);

  // 5. density
  L.push('', '## 5. Density', '');
  const densWhy = notOk(r.density);
  if (densWhy || r.density?.status !== 'ok') L.push(`_${densWhy}_`);
  else {
    L.push(
      "N warm instances of one function (min_instances = max_instances = N, default limits) sitting idle. cgroup = the instance cgroup's memory usage as the kernel charges it (v1 includes page cache the instance touched first); " +
        "PSS = proportional set size summed over the instance's processes (launcher, sandbox and interpreter; shared pages split between sharers). /health and invoke p99: one client, closed loop, while the instances idle; invokes round-robin over all N.",
      '',
    );
    L.push(
      '| mode/runtime | N | all idle after s | daemon RSS before → after | cgroup / instance | PSS / instance | processes / instance | /health p99 ms | invoke p99 ms | invoke p50 ms |',
      '|---|---:|---:|---|---:|---:|---:|---:|---:|---:|',
    );
    for (const c of COMBOS) {
      const out = r.density.data.faasd[c];
      const why = notOk(out);
      if (why || out?.status !== 'ok') {
        L.push(`| ${c} | | | | | | | | | ${cell(why ?? '')} |`);
        continue;
      }
      const f = out.data;
      const shim = f.host_shim_pss_bytes_per_instance ? ` (+ ${mib(f.host_shim_pss_bytes_per_instance)} containerd-shim)` : '';
      L.push(
        `| ${c} | ${f.n < f.n_requested ? `${f.n} of ${f.n_requested} (starts failed: ${cell((f.start_failures ?? []).join('; '))})` : f.n} | ${n(f.start_s, 1)} | ${mib(f.daemon_rss_before_bytes)} → ${mib(f.daemon_rss_bytes)} | ${mib(f.cgroup_bytes_per_instance)} | ${mib(f.pss_bytes_per_instance)}${shim} | ${n(f.processes_per_instance, 1)} | ${s(f.health.p99, 2)} | ${s(f.invoke.p99, 2)} | ${s(f.invoke.p50, 2)} |`,
      );
    }
  }
  L.push('', `Raw numbers (every run, every cold-start sample): \`${jsonPath}\`.`, '');
  return L.join('\n');
}

/** Section 4: the baselines measured in this run, and faasd as a fraction of them. */
function renderBaselines(L: string[], r: BenchResults): void {
  L.push('', '## 4. Baselines', '');
  const warm = r.warm?.status === 'ok' ? r.warm.data : null;
  const cold = r.cold?.status === 'ok' ? r.cold.data : null;
  const ceiling = warm?.ceiling.status === 'ok' ? warm.ceiling.data : null;
  if (!warm && !cold) {
    L.push('_not run_');
    return;
  }
  L.push(
    "Measured in the same run as faasd, on the same machine: a bare Fastify echo in its own node process (ceiling), Cloudflare's workerd serving the same echo as a Worker, the two-hop floor (the ceiling plus one Unix-socket hop to ten bare Python echo loops: the least a gateway that runs functions in their own processes must do per call), a new interpreter per request, and `docker run --rm` per request.",
    '',
  );
  L.push('| baseline | figure |', '|---|---|');
  if (ceiling) for (const f of ceiling) L.push(`| ceiling, ${f.connections} client${f.connections > 1 ? 's' : ''} | ${s(f.rps)} req/s, p50 ${s(f.p50, 2)} ms |`);
  else if (warm) L.push(`| ceiling | ${cell(notOk(warm.ceiling) ?? '')} |`);
  const workerd = warm?.workerd?.status === 'ok' ? warm.workerd.data : null;
  if (workerd) {
    for (const f of workerd) {
      const c = ceiling?.find((x) => x.connections === f.connections);
      L.push(`| workerd, ${f.connections} client${f.connections > 1 ? 's' : ''} | ${s(f.rps)} req/s (${c ? n(f.rps.median / c.rps.median, 2) : '-'} x ceiling), p50 ${s(f.p50, 2)} ms |`);
    }
  } else if (warm) L.push(`| workerd | ${cell(notOk(warm.workerd) ?? '')} |`);
  const twoHop = warm?.two_hop?.status === 'ok' ? warm.two_hop.data : null;
  for (const f of twoHop ?? []) {
    const c = ceiling?.find((x) => x.connections === f.connections);
    L.push(`| two-hop floor, ${f.connections} client${f.connections > 1 ? 's' : ''} | ${s(f.rps)} req/s (${c ? n(f.rps.median / c.rps.median, 2) : '-'} x ceiling), p50 ${s(f.p50, 2)} ms |`);
  }
  for (const k of ['spawn/python', 'spawn/node', 'docker-run/python', 'docker-run/node'] as BaselineKey[]) {
    const b = cold?.baselines[k];
    if (!cold) break;
    const why = notOk(b);
    L.push(
      `| ${k.startsWith('spawn') ? 'process' : 'docker run'} per request, ${k.split('/')[1]} | ${why || b?.status !== 'ok' ? cell(why ?? '') : `p50 ${n(b.data.p50, 1)} ms, p95 ${n(b.data.p95, 1)} ms per request (n=${b.data.n})`} |`,
    );
  }
  L.push('', '| faasd | warm req/s at 64 clients / ceiling | / workerd | cold start p50 / naive baseline p50 | same, prewarm off |', '|---|---:|---:|---:|---:|');
  const ceil64 = ceiling?.find((f) => f.connections === 64);
  const wd64 = workerd?.find((f) => f.connections === 64);
  for (const c of COMBOS) {
    const w = warm?.faasd[c];
    const f64 = w?.status === 'ok' ? w.data.find((f) => f.connections === 64) : undefined;
    const [mode, rt] = c.split('/') as ['process' | 'container', 'python' | 'node'];
    const key: BaselineKey = mode === 'process' ? `spawn/${rt}` : `docker-run/${rt}`;
    const b = cold?.baselines[key];
    const bp50 = b?.status === 'ok' ? b.data.p50 : null;
    const frac = (o: Outcome<ColdFigure> | undefined) => (o?.status === 'ok' && bp50 ? n(o.data.p50 / bp50, 3) : '-');
    L.push(
      `| ${c} | ${f64 && ceil64 ? n(f64.rps.median / ceil64.rps.median, 2) : '-'} | ${f64 && wd64 ? n(f64.rps.median / wd64.rps.median, 2) : '-'} | ${frac(cold?.faasd[c])} | ${frac(cold?.faasd_no_prewarm?.[c])} |`,
    );
  }
}
