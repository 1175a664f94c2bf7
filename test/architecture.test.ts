// The import graph of src/ keeps the architecture of docs/architecture.md: no cycles (type
// imports included), and no module imports from a layer above its own.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = path.resolve(__dirname, '..', 'src');

/**
 * Layers, top first. A module may import from its own entry or from any entry below it; two
 * different entries of the same rank (registry/ and execution/) may not import each other.
 * The longest matching prefix decides a module's entry.
 */
const LAYERS: Array<[prefix: string, rank: number]> = [
  ['cli.ts', 90],
  ['daemon.ts', 80],
  ['gateway/', 70],
  ['system/', 70],
  ['deploy/', 60],
  ['jobs/', 58],
  ['secrets/', 55],
  ['observability/', 50],
  ['registry/', 40],
  ['execution/setup.ts', 49],
  ['execution/manager.ts', 48],
  ['execution/api.ts', 47],
  ['execution/pool/', 46],
  ['execution/drivers/', 44],
  ['execution/driver.ts', 42],
  ['execution/events.ts', 43],
  ['execution/protocol/', 41],
  // The command-line client talks to a daemon over HTTP only: ranked below registry/,
  // execution/ and gateway/ so it cannot import them; it may use model/ and config/ (a stack
  // file is checked by the daemon's own loader).
  ['client/', 35],
  ['logger.ts', 30],
  ['config/', 20],
  ['os/', 10],
  ['model/', 10],
  ['errors.ts', 0],
];

function entryOf(file: string): [string, number] {
  let best: [string, number] | null = null;
  for (const [prefix, rank] of LAYERS) if (file.startsWith(prefix) && (!best || prefix.length > best[0].length)) best = [prefix, rank];
  if (!best) throw new Error(`${file} is in no layer: add it to LAYERS in test/architecture.test.ts (and to docs/architecture.md)`);
  return best;
}

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') ? [p] : [];
  });
}

/** Relative imports and re-exports of every module (type-only ones too), as src-relative paths. */
function graph(): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const abs of sources(SRC)) {
    const text = fs.readFileSync(abs, 'utf8');
    const deps: string[] = [];
    for (const m of text.matchAll(/^\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.{1,2}\/[^'"]+)['"]/gm)) {
      const target = path.resolve(path.dirname(abs), m[1]!).replace(/\.js$/, '.ts');
      if (target.startsWith(SRC)) deps.push(path.relative(SRC, target));
    }
    g.set(path.relative(SRC, abs), deps);
  }
  return g;
}

describe('architecture', () => {
  const g = graph();

  it('src/ has no import cycle, type-only imports included', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const stack: string[] = [];
    const visit = (n: string) => {
      state.set(n, 'visiting');
      stack.push(n);
      for (const d of g.get(n) ?? []) {
        if (state.get(d) === 'visiting') cycles.push([...stack.slice(stack.indexOf(d)), d].join(' -> '));
        else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(n, 'done');
    };
    for (const n of g.keys()) if (!state.has(n)) visit(n);
    expect(cycles).toEqual([]);
  });

  it('no module imports from a layer above its own, or from a different module of its own rank', () => {
    const wrong: string[] = [];
    for (const [from, deps] of g) {
      const [fromEntry, fromRank] = entryOf(from);
      for (const to of deps) {
        const [toEntry, toRank] = entryOf(to);
        if (toRank > fromRank || (toRank === fromRank && toEntry !== fromEntry)) wrong.push(`${from} (${fromEntry}) imports ${to} (${toEntry})`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('the layer table names every module of src/', () => {
    for (const f of g.keys()) expect(() => entryOf(f)).not.toThrow();
  });
});
