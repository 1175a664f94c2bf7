// The issue's targets, checked against the figures: reported as met / missed / not
// measured, never asserted (the machine is shared and noisy).
import type { LoadFigure } from './load.js';
import { type BenchResults, type ColdResults, type Combo, type Outcome, STANDING_POOL, type TargetResult } from './results.js';

const NOT_RUN = 'not run in this invocation (--only / --modes / --runtimes)';
const ALL: Combo[] = ['process/python', 'process/node', 'container/python', 'container/node'];

function data<T>(o: Outcome<T> | undefined): T | null {
  return o && o.status === 'ok' ? o.data : null;
}

function why(o: Outcome<unknown> | undefined): string {
  if (!o) return '';
  if (o.status === 'ok') return '';
  return o.reason.startsWith(o.status) ? o.reason : `${o.status}: ${o.reason}`;
}

const at = (figs: LoadFigure[] | null, c: number) => figs?.find((f) => f.connections === c) ?? null;

function check(target: string, value: number | null, limit: number, cmp: '>=' | '<=', fmt: (v: number) => string, missingWhy: string, note?: string): TargetResult {
  if (value === null || !Number.isFinite(value)) return { target, value: '-', status: 'not measured', note: missingWhy || NOT_RUN };
  const met = cmp === '>=' ? value >= limit : value <= limit;
  return { target, value: fmt(value), status: met ? 'met' : 'missed', ...(note ? { note } : {}) };
}

export function evaluateTargets(r: BenchResults): TargetResult[] {
  const out = [...issue17Targets(r), ...earlierTargets(r)];
  if (!r.quick) return out;
  // A quick run is a smoke test: its figures are not a steady state, so none is judged.
  return out.map((t) => ({ ...t, status: 'not measured', note: `smoke test (--quick): not a steady state${t.status !== 'not measured' ? `; would read ${t.status}` : ''}` }));
}

/** Issue 17: throughput next to workerd, CPU per call, starts, `concurrency`. */
function issue17Targets(r: BenchResults): TargetResult[] {
  const out: TargetResult[] = [];
  const warm = data(r.warm);
  const ceiling = data(warm?.ceiling);
  const workerd = data(warm?.workerd);
  const ceil64 = at(ceiling, 64);
  const wd64 = at(workerd, 64);
  const hop64 = at(data(warm?.two_hop), 64);
  const whyWarm = (c: Combo) => why(warm?.faasd[c]) || why(warm?.ceiling) || why(r.warm);
  for (const c of ALL) {
    const limit = c === 'process/python' ? 0.55 : 0.5;
    const f64 = at(data(warm?.faasd[c]), 64);
    out.push(
      check(
        `${c} warm echo c64 >= ${limit} x ceiling`,
        f64 && ceil64 ? f64.rps.median / ceil64.rps.median : null,
        limit,
        '>=',
        (v) =>
          `${v.toFixed(2)} x (${Math.round(f64!.rps.median)} / ${Math.round(ceil64!.rps.median)} req/s)${wd64 && ceil64 ? `; workerd ${(wd64.rps.median / ceil64.rps.median).toFixed(2)} x` : ''}${hop64 && ceil64 ? `; two-hop floor ${(hop64.rps.median / ceil64.rps.median).toFixed(2)} x` : ''}`,
        whyWarm(c),
      ),
    );
  }
  const f64py = at(data(warm?.faasd['process/python']), 64);
  out.push(
    check(
      'process/python warm echo c64 above workerd (same echo, same run)',
      f64py && wd64 ? f64py.rps.median / wd64.rps.median : null,
      1,
      '>=',
      (v) => `${v.toFixed(2)} x workerd (${Math.round(f64py!.rps.median)} / ${Math.round(wd64!.rps.median)} req/s)`,
      whyWarm('process/python') || why(warm?.workerd),
    ),
  );
  const ceilCpu = ceil64?.cpu?.server_us_per_req ?? null;
  for (const c of ALL) {
    const cpu = at(data(warm?.faasd[c]), 64)?.cpu ?? null;
    out.push(
      check(
        `${c} daemon CPU per warm call (c64) <= 2 x bare Fastify's`,
        cpu && ceilCpu ? cpu.server_us_per_req / ceilCpu : null,
        2,
        '<=',
        (v) => `${v.toFixed(2)} x (${Math.round(cpu!.server_us_per_req)} / ${Math.round(ceilCpu!)} µs)`,
        whyWarm(c),
      ),
    );
  }
  for (const mode of ['process', 'container'] as const) {
    const py = at(data(warm?.faasd[`${mode}/python`]), 64)?.cpu?.instances_us_per_req ?? null;
    const node = at(data(warm?.faasd[`${mode}/node`]), 64)?.cpu?.instances_us_per_req ?? null;
    out.push(
      check(
        `${mode}: a Node instance's CPU per call (c64) <= a Python instance's`,
        py !== null && node !== null && py > 0 ? node / py : null,
        1,
        '<=',
        (v) => `${v.toFixed(2)} x (${Math.round(node!)} / ${Math.round(py!)} µs)`,
        whyWarm(`${mode}/node`) || whyWarm(`${mode}/python`),
      ),
    );
  }
  const cold = data(r.cold);
  for (const c of ALL) {
    const f = data(cold?.faasd[c]);
    const prewarmed = f?.start_kinds?.prewarmed ?? 0;
    const allPrewarmed = f !== null && prewarmed === f.n;
    out.push(
      check(
        `${c} pre-warmed start p50 <= 3 ms (client-side)`,
        allPrewarmed ? f.p50 : null,
        3,
        '<=',
        (v) => `${v.toFixed(1)} ms`,
        f && !allPrewarmed ? `only ${prewarmed} of ${f.n} first calls were pre-warmed starts` : why(cold?.faasd[c]) || why(r.cold),
      ),
    );
  }
  const bursts: [string, ColdResults['burst']][] = [
    ['', cold?.burst],
    [` with a standing pool (prewarm.container: ${STANDING_POOL.python} per runtime, max ${STANDING_POOL.max})`, cold?.burst_standing_pool],
  ];
  for (const [what, figures] of bursts) {
    for (const c of ALL) {
      const o = figures?.[c];
      if (!o) continue;
      const b = data(o);
      out.push(
        check(
          `${c} burst of 20 deploys in 2 s${what}: >= 90 % of first calls pre-warmed`,
          b ? 100 * b.prewarmed_share : null,
          90,
          '>=',
          (v) => `${v.toFixed(0)} % (${b!.start_kinds.prewarmed ?? 0} of ${b!.n}; first call p50 ${b!.first_call_p50.toFixed(1)} ms)`,
          why(o),
        ),
      );
    }
  }
  const conc = data(r.sleep)?.concurrent;
  for (const c of ALL) {
    const o = conc?.faasd[c];
    if (!o) continue;
    const s = data(o);
    out.push(
      check(
        `${c} sleep 0.5 s, 50 clients, concurrency ${conc!.concurrency} on ${conc!.instances} instances (staggered): p95 overhead <= 5 ms`,
        s ? s.staggered.p95_overhead_ms.median : null,
        5,
        '<=',
        (v) => `${v.toFixed(2)} ms (lock-step ${s!.lockstep.p95_overhead_ms.median.toFixed(2)} ms; ${s!.instances_seen} instances served)`,
        why(o),
      ),
    );
  }
  return out;
}

/** Earlier issues' targets (5, 7), still reported. */
function earlierTargets(r: BenchResults): TargetResult[] {
  const out: TargetResult[] = [];
  const warm = data(r.warm);
  const ceiling = data(warm?.ceiling);
  const ceil1 = at(ceiling, 1);
  for (const c of ALL) {
    const f1 = at(data(warm?.faasd[c]), 1);
    out.push(
      check(
        `${c} added p50 latency at c1 over ceiling <= 0.3 ms`,
        f1 && ceil1 ? f1.p50.median - ceil1.p50.median : null,
        0.3,
        '<=',
        (v) => `${v.toFixed(3)} ms`,
        why(warm?.faasd[c]) || why(warm?.ceiling) || why(r.warm),
      ),
    );
  }
  const sleep = data(r.sleep);
  const sleepCeil = data(sleep?.ceiling);
  for (const c of ALL) {
    const s = data(sleep?.faasd[c]);
    const notes = [
      sleep && sleep.clients !== 50 ? `${sleep.clients} clients in this run, not 50` : '',
      sleepCeil ? `bare Fastify wait: ${sleepCeil.staggered.p95_overhead_ms.median.toFixed(2)} ms staggered, ${sleepCeil.lockstep.p95_overhead_ms.median.toFixed(2)} ms lock-step` : '',
    ].filter(Boolean);
    const note = notes.length > 0 ? notes.join('; ') : undefined;
    out.push(
      check(
        `${c} sleep 0.5 s, 50 clients (staggered): p95 overhead <= 5 ms`,
        s ? s.staggered.p95_overhead_ms.median : null,
        5,
        '<=',
        (v) => `${v.toFixed(2)} ms`,
        why(sleep?.faasd[c]) || why(r.sleep),
        note,
      ),
    );
    out.push(
      check(
        `${c} sleep 0.5 s, 50 clients (lock-step): p95 overhead <= 5 ms`,
        s ? s.lockstep.p95_overhead_ms.median : null,
        5,
        '<=',
        (v) => `${v.toFixed(2)} ms`,
        why(sleep?.faasd[c]) || why(r.sleep),
        note,
      ),
    );
  }
  const cold = data(r.cold);
  const coldLimit: Record<Combo, number> = { 'process/python': 20, 'process/node': 40, 'container/python': 300, 'container/node': 300 };
  const kinds = (k: Record<string, number> | undefined) =>
    k
      ? Object.entries(k)
          .map(([kind, count]) => `${count} ${kind}`)
          .join(', ')
      : '';
  for (const c of ALL) {
    const f = data(cold?.faasd[c]);
    out.push(
      check(`${c} cold start p50 <= ${coldLimit[c]} ms (default config)`, f ? f.p50 : null, coldLimit[c], '<=', (v) => `${v.toFixed(1)} ms`, why(cold?.faasd[c]) || why(r.cold), kinds(f?.start_kinds)),
    );
  }
  for (const c of ALL) {
    const f = data(cold?.faasd_no_prewarm[c]);
    out.push(check(`${c} cold start p50 <= ${coldLimit[c]} ms (prewarm off)`, f ? f.p50 : null, coldLimit[c], '<=', (v) => `${v.toFixed(1)} ms`, why(cold?.faasd_no_prewarm[c]) || why(r.cold)));
  }
  const dens = data(r.density);
  const densTargets: [Combo, number][] = [
    ['process/python', 1000],
    ['container/python', 200],
    ['container/node', 200],
  ];
  for (const [c, n] of densTargets) {
    const target = `${c} density ${n} instances with /health p99 <= 50 ms`;
    const f = data(dens?.faasd[c]);
    if (!f) {
      out.push({ target, value: '-', status: 'not measured', note: why(dens?.faasd[c]) || why(r.density) || NOT_RUN });
      continue;
    }
    const p99 = f.health.p99.median;
    if (f.n < f.n_requested && f.n_requested >= n) {
      out.push({ target, value: `${f.n} of ${f.n_requested} started: /health p99 ${p99.toFixed(2)} ms`, status: 'missed', note: `starts failed: ${(f.start_failures ?? []).join('; ')}` });
      continue;
    }
    if (f.n < n) {
      out.push({
        target,
        value: `N=${f.n}: /health p99 ${p99.toFixed(2)} ms`,
        status: 'not measured',
        note: `ran N=${f.n}; for N=${n}: \`npm run bench -- --only density ${c.startsWith('process') ? `--density ${n} --density-container 0` : `--density 0 --density-container ${n}`}\``,
      });
      continue;
    }
    out.push({ target, value: `N=${f.n}: /health p99 ${p99.toFixed(2)} ms`, status: p99 <= 50 ? 'met' : 'missed' });
  }
  return out;
}
