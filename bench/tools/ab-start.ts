// Same-run A/B of a pre-warmed start lever (issue 17, target 3): two daemons side by side,
// one per variant (its environment), fresh functions deployed and called once (the first call
// takes a pre-warmed generic instance) and once more (warm), alternated A, B / B, A so both see
// the same machine. Prints the client-side first and second call medians per variant and, with
// FAASD_TRACE_STARTS=1 in both, the daemon-side steps of each pre-warmed start (take: from the
// driver's start() to the take; limits, copy, secrets: ms from the take until each was done;
// prep: all three; init: the `init` round trip; load: the module load inside the shim).
//   node --import tsx bench/tools/ab-start.ts --a FAASD_X=0 --b FAASD_X=1 [--modes process,container] [--runtimes python,node] [--n 10] [--daemon dist]
// --burst K: instead, K alternated rounds of the bench's burst (20 deploys in 2 s, each called as
// soon as its deploy answers) per mode and runtime; --a-prewarm / --b-prewarm '<json>': each
// daemon's `prewarm` config section. --a-repo DIR: daemon A is the (built) faasd of another
// checkout, e.g. the commit before the levers (a before/after A/B).
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Faasd, type Mode, type Runtime } from '../lib/daemon.js';
import { ECHO_BODY, echoCode } from '../lib/functions.js';
import { arg, envSpec } from '../lib/ab-args.js';
import { runBurst } from '../lib/burst.js';
import { percentile } from '../lib/stats.js';

const median = (v: number[]) => (v.length ? percentile(v, 50) : Number.NaN);

const trace = { FAASD_TRACE_STARTS: '1' };
const variants = { A: { ...trace, ...envSpec(arg('a', '')) }, B: { ...trace, ...envSpec(arg('b', '')) } };
const modes = arg('modes', 'process,container').split(',') as Mode[];
const runtimes = arg('runtimes', 'python,node').split(',') as Runtime[];
const n = Number(arg('n', '10'));
const entry = arg('daemon', 'dist') as 'src' | 'dist';
const FIELDS = ['take', 'limits', 'copy', 'secrets', 'prep', 'init', 'load'] as const;

function traces(f: Faasd, from: number): { lines: Record<string, number>[]; size: number } {
  const text = fs.readFileSync(path.join(f.dir, 'faasd.log'), 'utf8');
  const lines = text
    .slice(from)
    .split('\n')
    .filter((l) => l.includes('"trace":"prewarmed"'))
    .map((l) => JSON.parse(l) as Record<string, number>);
  return { lines, size: text.length };
}

const bursts = Number(arg('burst', '0'));
const prewarmOf = (k: string): Record<string, unknown> | undefined => {
  const v = arg(`${k.toLowerCase()}-prewarm`, '');
  return v ? (JSON.parse(v) as Record<string, unknown>) : undefined;
};

/** The bench's burst (bench/lib/burst.ts): prewarmed first calls and the first-call p50. */
async function burst(f: Faasd, mode: Mode, runtime: Runtime, tag: string): Promise<{ prewarmed: number; p50: number; p95: number }> {
  const { kinds, samples } = await runBurst(f, 20, 2000, async (i) => {
    const name = `abb-${tag}-${i}`;
    const d = await f.deploy(name, runtime, echoCode(runtime, name), { execution_mode: mode });
    if (!d.ok) throw new Error(d.message);
    return name;
  });
  return { prewarmed: kinds.prewarmed ?? 0, p50: percentile(samples, 50), p95: percentile(samples, 95) };
}

const daemons: Record<string, Faasd> = {};
try {
  for (const [k, e] of Object.entries(variants)) {
    const pw = prewarmOf(k);
    const repoDir = arg(`${k.toLowerCase()}-repo`, '');
    daemons[k] = await Faasd.start({ entry, maxConcurrentFunctions: 1000, cpuProfDir: null, env: e, ...(pw ? { prewarmConfig: pw } : {}), ...(repoDir ? { repoDir } : {}) });
  }
  for (const mode of bursts > 0 ? modes : []) {
    for (const runtime of runtimes) {
      const out: Record<string, string[]> = { A: [], B: [] };
      for (let i = 0; i < bursts; i++) {
        for (const k of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
          // Both daemons idle and refilled (the bench's burst waits 3 s in container mode).
          await sleep(mode === 'container' ? 6000 : 1500);
          const logAt = fs.statSync(path.join(daemons[k]!.dir, 'faasd.log')).size;
          const r = await burst(daemons[k]!, mode, runtime, `${k.toLowerCase()}${i}-${mode.slice(0, 1)}${runtime.slice(0, 2)}`);
          const t = traces(daemons[k]!, logAt).lines;
          process.stdout.write(
            `  steps of its pre-warmed starts (p50 / max): ${FIELDS.map((fld) => `${fld} ${median(t.map((x) => x[fld]!)).toFixed(1)} / ${Math.max(...t.map((x) => x[fld]!)).toFixed(1)}`).join(', ')}\n`,
          );
          out[k]!.push(`${r.prewarmed}/20 p50 ${r.p50.toFixed(0)} p95 ${r.p95.toFixed(0)}`);
          process.stdout.write(`burst ${mode}/${runtime} ${k} round ${i}: ${r.prewarmed}/20 pre-warmed, first call p50 ${r.p50.toFixed(1)} ms, p95 ${r.p95.toFixed(1)} ms\n`);
        }
      }
    }
  }
  const body = JSON.parse(ECHO_BODY) as unknown;
  let seq = 0;
  for (const mode of bursts > 0 ? [] : modes) {
    for (const runtime of runtimes) {
      const res: Record<string, { first: number[]; second: number[]; server: number[]; kinds: Record<string, number>; logAt: number }> = {};
      for (const k of ['A', 'B']) res[k] = { first: [], second: [], server: [], kinds: {}, logAt: fs.statSync(path.join(daemons[k]!.dir, 'faasd.log')).size };
      for (let i = 0; i < n; i++) {
        for (const k of i % 2 === 0 ? ['A', 'B'] : ['B', 'A']) {
          const f = daemons[k]!;
          const name = `abs-${mode.slice(0, 1)}-${runtime}-${seq++}`;
          const d = await f.deploy(name, runtime, echoCode(runtime, name), { execution_mode: mode });
          if (!d.ok) throw new Error(d.message);
          // Let the pool refill and the machine settle after the deploy.
          await sleep(mode === 'container' ? 1500 : 400);
          await f.client.request('GET', '/health'); // primes the keep-alive connection
          const r1 = await f.invoke(name, body);
          const r2 = await f.invoke(name, body);
          if (r1.status !== 200 || r2.status !== 200) throw new Error(`${name}: ${r1.status} ${r1.body.slice(0, 200)}`);
          const kind = String(r1.headers['x-faas-start']);
          const o = res[k]!;
          o.kinds[kind] = (o.kinds[kind] ?? 0) + 1;
          if (kind === 'prewarmed') {
            o.first.push(r1.ms);
            o.second.push(r2.ms);
            o.server.push(Number(r1.headers['x-faas-duration-ms']));
          }
          await f.remove(name);
        }
      }
      for (const k of ['A', 'B']) {
        const o = res[k]!;
        const t = traces(daemons[k]!, o.logAt).lines;
        const steps = FIELDS.map((fld) => `${fld} ${median(t.map((x) => x[fld]!)).toFixed(2)}`).join(', ');
        process.stdout.write(
          `${mode}/${runtime} ${k}: first p50 ${median(o.first).toFixed(2)} ms, second p50 ${median(o.second).toFixed(2)} ms, first in the daemon ${median(o.server).toFixed(2)} ms ${JSON.stringify(o.kinds)}; daemon: ${steps}\n`,
        );
      }
    }
  }
} finally {
  await Promise.all(Object.values(daemons).map((f) => f.stop()));
}
