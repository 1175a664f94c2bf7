// Same-run A/B of fully cold process starts (prewarm off): two daemons differing only in
// their environment (a FAASD_* switch), fresh functions, the first call of each timed at the
// client, arms alternated (ABAB.., the order flipped every round). Prints medians.
//   node --import tsx bench/tools/cold-ab.ts --rounds 15 --a FAASD_PROCESS_SPAWNER=0 --b ''
import { arg, envSpec } from '../lib/ab-args.js';
import { Faasd, type Runtime } from '../lib/daemon.js';
import { echoCode } from '../lib/functions.js';

const rounds = Number(arg('rounds', '12'));
const runtimes = arg('runtimes', 'python,node').split(',') as Runtime[];
const arms = [
  { label: `A(${arg('a', '')})`, env: envSpec(arg('a', '')) },
  { label: `B(${arg('b', '')})`, env: envSpec(arg('b', '')) },
];
const med = (a: number[]): number => {
  const s = [...a].sort((x, y) => x - y);
  return s.length % 2 ? s[s.length >> 1]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const daemons: Faasd[] = [];
try {
  for (const arm of arms) daemons.push(await Faasd.start({ entry: 'dist', maxConcurrentFunctions: 1000, cpuProfDir: null, prewarm: false, env: arm.env }));
  const samples: Record<string, number[][]> = {};
  for (const rt of runtimes) samples[rt] = [[], []];
  let n = 0;
  for (let r = 0; r < rounds; r++) {
    for (const rt of runtimes) {
      const order = r % 2 ? [1, 0] : [0, 1];
      for (const i of order) {
        const name = `cab-${rt}-${process.pid}-${n++}`;
        const d = daemons[i]!;
        const dep = await d.deploy(name, rt, echoCode(rt, name), { execution_mode: 'process' });
        if (!dep.ok) throw new Error(dep.message);
        await new Promise((res) => setTimeout(res, 150));
        const res = await d.invoke(name, { hello: 'world' });
        if (res.status !== 200 || res.headers['x-faas-cold-start'] !== 'true') throw new Error(`${name}: ${res.status} ${res.body.slice(0, 200)}`);
        samples[rt]![i]!.push(res.ms);
        await d.remove(name);
      }
    }
  }
  const when = new Date().toISOString();
  for (const rt of runtimes) {
    const [a, b] = samples[rt]!;
    console.log(
      `${when} ${rt}: ${arms[0]!.label} median ${med(a!).toFixed(1)} ms, ${arms[1]!.label} median ${med(b!).toFixed(1)} ms (n=${a!.length} each; A ${a!.map((v) => v.toFixed(0)).join(' ')}; B ${b!.map((v) => v.toFixed(0)).join(' ')})`,
    );
  }
} finally {
  for (const [i, d] of daemons.entries()) await d.stop(process.env.COLD_AB_LOGS ? `${process.env.COLD_AB_LOGS}-${i}.log` : undefined);
}
