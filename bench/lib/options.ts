// Command-line options of `npm run bench`. Every knob has a default for the full run and a
// smaller one for --quick (the CI smoke test), so both are bounded in count and time.
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_DIR = path.resolve(BENCH_DIR, '..');

export type SectionName = 'warm' | 'sleep' | 'cold' | 'density';
export const SECTIONS: readonly SectionName[] = ['warm', 'sleep', 'cold', 'density'];

export interface BenchOptions {
  quick: boolean;
  /** RESULTS.md goes here, the JSON into <out>/results/. */
  outDir: string;
  /** Measured runs per figure (the median is reported). */
  runs: number;
  /** Seconds per measured load run. */
  durationS: number;
  /** Seconds of load before the measured runs. */
  warmupS: number;
  concurrencies: number[];
  sleepClients: number;
  /** Fresh functions per mode and runtime for the cold-start figure. */
  coldFunctions: number;
  /** Requests per runtime for the naive spawn-per-request and docker-run baselines. */
  spawnSamples: number;
  dockerRunSamples: number;
  densityProcess: number;
  densityContainer: number;
  sections: SectionName[];
  modes: ('process' | 'container')[];
  runtimes: ('python' | 'node')[];
  /**
   * 'dist': node bin/faasd.js, the compiled build users run; 'src': node --import tsx
   * (esbuild output, a little slower: it wraps closures in __name); 'auto': dist when it is
   * at least as new as every file in src/, else src.
   */
  daemonEntry: 'auto' | 'src' | 'dist';
  /** Write a V8 CPU profile of the daemon to this directory. */
  cpuProfDir: string | null;
  /** The whole run stops starting new steps after this many seconds. */
  budgetS: number;
}

const USAGE = `usage: node --import tsx bench/run.ts [options]
  --quick                 short run for the CI smoke test (1 run x 0.5 s, clients 1 and 64, 4 sleep clients, 3 cold starts, density N=5)
  --out DIR               write DIR/RESULTS.md and DIR/results/<date>-<host>.json (default bench/)
  --runs N                measured runs per figure (default 3, quick 1)
  --duration S            seconds per measured run (default 3, quick 0.5)
  --density N             warm instances per runtime and mode for the density figure (default 100, quick 5; 0 skips)
  --density-container N   override N for container mode (default: same as --density)
  --only LIST             comma-separated sections: ${SECTIONS.join(',')}
  --modes LIST            process,container (default both)
  --runtimes LIST         python,node (default both)
  --daemon auto|src|dist  faasd from dist/ (the build users run; npm run build) or from src/ through tsx;
                          auto (default): dist when it is newer than every file in src/, else src
  --cpu-prof DIR          write a V8 CPU profile of the daemon into DIR
  --budget S              stop starting new steps after S seconds (default 570, quick 50)`;

/** A numeric flag's value (an integer when `integer`), at least `min`; `usage` is shown with the error. Shared by every bench script. */
export function numberFlag(flag: string, v: string | undefined, min: number, usage: string, integer = false): number {
  const n = Number(v);
  if (v === undefined || !(integer ? Number.isInteger(n) : Number.isFinite(n)) || n < min) {
    throw new Error(`${flag}: expected ${integer ? 'an integer' : 'a number'} >= ${min}, got ${JSON.stringify(v)}\n${usage}`);
  }
  return n;
}

/** A flag's handler: `value` flags take the next argument, switches take none. */
export interface FlagHandler {
  value: boolean;
  set(v: string | undefined): void;
}
export const valueFlag = (set: (v: string | undefined) => void): FlagHandler => ({ value: true, set });
export const switchFlag = (set: () => void): FlagHandler => ({ value: false, set: () => set() });

/** Walks argv through `handlers` (shared by every bench script): -h/--help prints `usage` and exits, an unknown flag throws with it. */
export function parseFlags(argv: string[], usage: string, handlers: Record<string, FlagHandler>): void {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-h' || a === '--help') {
      process.stdout.write(`${usage}\n`);
      process.exit(0);
    }
    const h = handlers[a];
    if (!h) throw new Error(`unknown option ${a}\n${usage}`);
    h.set(h.value ? argv[++i] : undefined);
  }
}

/** --daemon: which entry point the bench starts faasd from. */
export function daemonEntryFlag(v: string | undefined, usage: string): 'auto' | 'src' | 'dist' {
  if (v !== 'src' && v !== 'dist' && v !== 'auto') throw new Error(`--daemon: expected auto, src or dist\n${usage}`);
  return v;
}

const num = (flag: string, v: string | undefined, min: number) => numberFlag(flag, v, min, USAGE);

export function parseOptions(argv: string[]): BenchOptions {
  const quick = argv.includes('--quick');
  const o: BenchOptions = {
    quick,
    outDir: BENCH_DIR,
    runs: quick ? 1 : 3,
    durationS: quick ? 0.5 : 3,
    warmupS: quick ? 0.3 : 2,
    concurrencies: quick ? [1, 64] : [1, 16, 64],
    sleepClients: quick ? 4 : 50,
    coldFunctions: quick ? 3 : 20,
    spawnSamples: quick ? 5 : 30,
    dockerRunSamples: quick ? 2 : 10,
    densityProcess: quick ? 5 : 100,
    densityContainer: -1,
    sections: [...SECTIONS],
    modes: ['process', 'container'],
    runtimes: ['python', 'node'],
    daemonEntry: 'auto',
    cpuProfDir: null,
    budgetS: quick ? 50 : 570,
  };
  const list = (flag: string, v: string | undefined, allowed: readonly string[]): string[] => {
    const items = (v ?? '').split(',').filter(Boolean);
    for (const x of items) if (!allowed.includes(x)) throw new Error(`${flag}: unknown ${flag === '--only' ? 'section' : flag.slice(2, -1)} "${x}"\n${USAGE}`);
    return items;
  };
  parseFlags(argv, USAGE, {
    '--quick': switchFlag(() => {}),
    '--out': valueFlag((v) => (o.outDir = path.resolve(v ?? '.'))),
    '--runs': valueFlag((v) => (o.runs = Math.round(num('--runs', v, 1)))),
    '--duration': valueFlag((v) => (o.durationS = num('--duration', v, 0.5))),
    '--density': valueFlag((v) => (o.densityProcess = Math.round(num('--density', v, 0)))),
    '--density-container': valueFlag((v) => (o.densityContainer = Math.round(num('--density-container', v, 0)))),
    '--only': valueFlag((v) => (o.sections = list('--only', v, SECTIONS) as SectionName[])),
    '--modes': valueFlag((v) => (o.modes = list('--modes', v, ['process', 'container']) as BenchOptions['modes'])),
    '--runtimes': valueFlag((v) => (o.runtimes = list('--runtimes', v, ['python', 'node']) as BenchOptions['runtimes'])),
    '--daemon': valueFlag((v) => (o.daemonEntry = daemonEntryFlag(v, USAGE))),
    '--cpu-prof': valueFlag((v) => (o.cpuProfDir = path.resolve(v ?? 'bench/profiles'))),
    '--budget': valueFlag((v) => (o.budgetS = num('--budget', v, 10))),
  });
  if (o.densityContainer < 0) o.densityContainer = o.densityProcess;
  return o;
}
