// Where a daemon's CPU time went: self time per function and per package/file from a V8
// .cpuprofile (`npm run bench -- --cpu-prof DIR` writes one for the faasd child).
//   node --import tsx bench/tools/cpuprofile-top.ts FILE.cpuprofile [topN] [caller frames]
import fs from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

const file = process.argv[2];
const top = Number(process.argv[3] ?? 25);
if (!file) {
  process.stderr.write('usage: cpuprofile-top.ts FILE.cpuprofile [topN] [caller frames]\n');
  process.exit(2);
}
const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const selfUs = new Map<number, number>();
for (const [i, id] of prof.samples.entries()) selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
const total = [...selfUs.values()].reduce((a, b) => a + b, 0);

function group(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native/V8 builtins)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `npm:${nm[1]}`;
  if (url.startsWith('node:')) return url;
  const src = /\/(src|runtimes|bench)\/(.*)$/.exec(url);
  return src ? `${src[1]}/${src[2]}` : url;
}

const byFn = new Map<string, number>();
const byGroup = new Map<string, number>();
for (const [id, us] of selfUs) {
  const n = byId.get(id)!;
  const cf = n.callFrame;
  const key = `${cf.functionName || '(anonymous)'}  ${group(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
  const g = group(cf.url, cf.functionName);
  byGroup.set(g, (byGroup.get(g) ?? 0) + us);
}
// Callers of the hottest functions (self time attributed to the calling function's frame).
const parent = new Map<number, number>();
for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const label = (id: number) => {
  const cf = byId.get(id)!.callFrame;
  return `${cf.functionName || '(anonymous)'} ${group(cf.url, cf.functionName)}`;
};
function callers(fnKey: string, depth: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const cf = byId.get(id)!.callFrame;
    if (`${cf.functionName || '(anonymous)'}  ${group(cf.url, cf.functionName)}:${cf.lineNumber + 1}` !== fnKey) continue;
    const chain: string[] = [];
    let p = parent.get(id);
    for (let d = 0; d < depth && p !== undefined; d++, p = parent.get(p)) chain.push(label(p));
    const k = chain.join(' < ');
    out.set(k, (out.get(k) ?? 0) + us);
  }
  return out;
}

const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled over ${((prof.endTime - prof.startTime) / 1e6).toFixed(2)} s\n\nself time by package / file:\n`);
for (const [g, us] of [...byGroup].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${g}\n`);
process.stdout.write('\nself time by function:\n');
for (const [f, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) process.stdout.write(`  ${pct(us)}  ${f}\n`);

const withCallers = Number(process.argv[4] ?? 0);
if (withCallers > 0) {
  process.stdout.write(`\ncallers (${withCallers} frames up) of the top functions:\n`);
  for (const [f] of [...byFn]
    .sort((a, b) => b[1] - a[1])
    .filter(([k]) => !k.startsWith('('))
    .slice(0, 8)) {
    process.stdout.write(`  ${f}\n`);
    for (const [chain, us] of [...callers(f, withCallers)].sort((a, b) => b[1] - a[1]).slice(0, 4)) process.stdout.write(`    ${pct(us)}  < ${chain}\n`);
  }
}

// Total (inclusive) time: each sample counts once for every distinct function on its stack.
const totalByFn = new Map<string, number>();
const keyOf = (id: number) => {
  const cf = byId.get(id)!.callFrame;
  return `${cf.functionName || '(anonymous)'}  ${group(cf.url, cf.functionName)}:${cf.lineNumber + 1}`;
};
for (const [id, us] of selfUs) {
  const seen = new Set<string>();
  for (let p: number | undefined = id; p !== undefined; p = parent.get(p)) seen.add(keyOf(p));
  for (const k of seen) totalByFn.set(k, (totalByFn.get(k) ?? 0) + us);
}
process.stdout.write('\ntotal (inclusive) time by function:\n');
for (const [f, us] of [...totalByFn]
  .filter(([k]) => !k.startsWith('('))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top * 2))
  process.stdout.write(`  ${pct(us)}  ${f}\n`);
