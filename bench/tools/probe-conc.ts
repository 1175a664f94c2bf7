// The 0.5 s async wait at 50 staggered clients on its own, outside the full bench: N calls in
// flight per instance (`concurrency`), on as many instances as 50 / N (or the third argument).
//   node --import tsx bench/tools/probe-conc.ts python|node [concurrency] [instances]
import { Faasd } from '../lib/daemon.js';
import { asyncSleepCode } from '../lib/functions.js';
import { runStaggered } from '../lib/load.js';
const rt = (process.argv[2] ?? 'python') as 'python' | 'node';
const conc = Number(process.argv[3] ?? 25);
const inst = Number(process.argv[4] ?? Math.ceil(50 / conc));
const f = await Faasd.start({ entry: 'src', maxConcurrentFunctions: 1000, cpuProfDir: null });
try {
  const name = `probe-${rt}-${conc}`;
  const r = await f.deploy(name, rt, asyncSleepCode(rt, 0.5), { execution_mode: 'process', min_instances: inst, max_instances: inst, concurrency: conc, timeout: 10 });
  if (!r.ok) throw new Error(r.message);
  await f.waitIdle(name, inst, 30000);
  for (let i = 0; i < 3; i++) {
    const x = await runStaggered({
      url: `${f.url}/invoke/${name}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...f.authHeader },
      body: '{}',
      connections: 50,
      durationS: 2,
      staggerMs: 10,
    });
    console.log(rt, conc, `p50 ${x.p50.toFixed(1)} p95 ${x.p95.toFixed(1)} p99 ${x.p99.toFixed(1)} n ${x.ok}`);
  }
} finally {
  await f.stop();
}
