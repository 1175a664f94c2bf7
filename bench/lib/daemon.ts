// A real faasd in a child process, on its own temp config, registry and function storage,
// with one key that has every scope and no rate limit. The daemon gets its own event loop
// (and core, when the scheduler allows) so the load generator does not steal its time.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { cleanEnv, startChild, waitForFile, type Child } from './children.js';
import { HttpClient, errorMessage, type HttpResponse } from './http.js';
import type { InstanceRef } from './memory.js';
import { REPO_DIR } from './options.js';

export type Mode = 'process' | 'container';
export type Runtime = 'python' | 'node';
export const MODES: readonly Mode[] = ['process', 'container'];
export const RUNTIMES: readonly Runtime[] = ['python', 'node'];

export const CONTAINER_IMAGES = { python: 'faasd-runtime/python:3.11-local', node: 'faasd-runtime/node:20-local' } as const;

export interface FaasdOptions {
  entry: 'auto' | 'src' | 'dist';
  maxConcurrentFunctions: number;
  cpuProfDir: string | null;
  /** false: no pre-warmed generic instances (every cold start is a full one). Default: faasd's defaults. */
  prewarm?: boolean;
  /** Extra environment for the daemon (A/B runs of a lever behind a FAASD_* switch: bench/tools/ab.ts). */
  env?: Record<string, string>;
  /** The config's `prewarm` section as is (A/B runs of pool sizes: bench/tools/ab-start.ts); wins over `prewarm`. */
  prewarmConfig?: Record<string, unknown>;
  /** Run the faasd of another checkout (its dist/, built) instead of this one's: a before/after A/B. */
  repoDir?: string;
}

export interface DeployResult {
  ok: boolean;
  status: number;
  message: string;
  ms: number;
}

export class StalledStart extends Error {
  constructor(
    readonly fn: string,
    readonly wanted: number,
    readonly idle: number,
    readonly seconds: number,
  ) {
    super(`${fn}: ${idle}/${wanted} instances started; no more starting after ${seconds.toFixed(1)} s`);
  }
}

export class Faasd {
  /** Every daemon still running, so an interrupted bench can stop them all gracefully. */
  static readonly running = new Set<Faasd>();
  readonly client: HttpClient;
  readonly key: string;
  readonly logLevel = 'info';
  /** Driver instances with no function deployed (pre-warmed generic ones), once settled. */
  private readonly idleCount: Record<Mode, number> = { process: 0, container: 0 };

  private constructor(
    readonly child: Child,
    readonly url: string,
    readonly dir: string,
    readonly registryPath: string,
    key: string,
    /** How faasd was run: the compiled dist/ or src/ through tsx. */
    readonly entry: 'src' | 'dist',
  ) {
    this.key = key;
    this.client = new HttpClient(url, { authorization: `Bearer ${key}` });
  }

  get pid(): number {
    return this.child.pid;
  }

  get authHeader(): Record<string, string> {
    return { authorization: `Bearer ${this.key}` };
  }

  static async start(opts: FaasdOptions): Promise<Faasd> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'faasd-bench-'));
    const key = `bench-${crypto.randomBytes(18).toString('base64url')}`;
    const registryPath = path.join(dir, 'registry.db');
    const config = {
      system: {
        api_gateway_host: '127.0.0.1',
        api_gateway_port: 0,
        function_storage_path: path.join(dir, 'functions'),
        registry_path: registryPath,
        container_images: { ...CONTAINER_IMAGES },
        max_concurrent_functions: opts.maxConcurrentFunctions,
        // What an operator runs: one info line per invocation, here into a file.
        logging_level: 'INFO',
      },
      api_keys: [{ name: 'bench', key, scopes: ['invoke', 'manage', 'admin'], rate_limit: { rps: 0, burst: 1 } }],
      ...(opts.prewarm === false ? { prewarm: { process: { python: 0, node: 0 }, container: { python: 0, node: 0 } } } : {}),
      ...(opts.prewarm !== false && process.env.FAASD_BENCH_PREWARM_MAX
        ? { prewarm: { process: { max: Number(process.env.FAASD_BENCH_PREWARM_MAX) }, container: { max: Number(process.env.FAASD_BENCH_PREWARM_MAX) } } }
        : {}),
      ...(opts.prewarmConfig ? { prewarm: opts.prewarmConfig } : {}),
    };
    const configFile = path.join(dir, 'faas_config.yaml');
    fs.writeFileSync(configFile, stringify(config), { mode: 0o600 });
    const logFile = path.join(dir, 'faasd.log');
    const out = fs.openSync(logFile, 'a');
    const nodeArgs: string[] = [];
    if (opts.cpuProfDir) {
      fs.mkdirSync(opts.cpuProfDir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${opts.cpuProfDir}`);
    }
    const repo = opts.repoDir ?? REPO_DIR;
    const entry = opts.repoDir ? 'dist' : resolveEntry(opts.entry);
    const script = entry === 'dist' ? [path.join(repo, 'bin', 'faasd.js')] : ['--import', 'tsx', path.join(REPO_DIR, 'bench', 'lib', 'faasd-entry.ts')];
    if (entry === 'dist' && !fs.existsSync(path.join(repo, 'dist', 'cli.js'))) throw new Error(`${repo}/dist/cli.js is missing: run \`npm run build\` there first or use --daemon src`);
    // FAAS_DISABLE_CONTAINER=1 npm run bench: container figures read "unavailable" (as on a host without Docker).
    const passThrough: Record<string, string> = { ...(process.env.FAAS_DISABLE_CONTAINER ? { FAAS_DISABLE_CONTAINER: process.env.FAAS_DISABLE_CONTAINER } : {}), ...(opts.env ?? {}) };
    const child = startChild(process.execPath, [...nodeArgs, ...script, '-c', configFile], { cwd: repo, env: cleanEnv(passThrough), stdio: ['ignore', out, out] });
    fs.closeSync(out);
    try {
      const url = await waitForFile(logFile, (t) => /"url":"(http:\/\/[^"]+)"[^\n]*"msg":"faasd listening"/.exec(t)?.[1] ?? null, child, 60_000, 'faasd');
      const d = new Faasd(child, url, dir, registryPath, key, entry);
      Faasd.running.add(d);
      await d.settle();
      return d;
    } catch (e) {
      await child.stop(5000);
      throw e;
    }
  }

  logTail(lines = 20): string {
    try {
      return fs.readFileSync(path.join(this.dir, 'faasd.log'), 'utf8').trim().split('\n').slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  async deploy(name: string, runtime: Runtime, code: string, config: Record<string, unknown>): Promise<DeployResult> {
    const res = await this.client.request('POST', '/functions', { body: { name, runtime, code, config }, timeoutMs: 120_000 });
    return { ok: res.status === 201, status: res.status, message: res.status === 201 ? '' : `${res.status} ${errorMessage(res)}`, ms: res.ms };
  }

  async remove(name: string): Promise<void> {
    const res = await this.client.request('DELETE', `/functions/${name}`, { timeoutMs: 120_000 });
    if (res.status !== 204 && res.status !== 404) throw new Error(`DELETE /functions/${name}: ${res.status} ${errorMessage(res)}`);
  }

  invoke(name: string, body: unknown, timeoutMs = 60_000): Promise<HttpResponse> {
    return this.client.request('POST', `/invoke/${name}`, { body, timeoutMs });
  }

  async instanceCounts(name: string): Promise<{ total: number; idle: number; starting: number; busy: number }> {
    const res = await this.client.request('GET', `/functions/${name}`);
    if (res.status !== 200) throw new Error(`GET /functions/${name}: ${res.status} ${errorMessage(res)}`);
    const j = JSON.parse(res.body) as { instances: { total: number; idle?: number; starting?: number; busy?: number } };
    return { total: j.instances.total, idle: j.instances.idle ?? 0, starting: j.instances.starting ?? 0, busy: j.instances.busy ?? 0 };
  }

  /**
   * Waits until `name` has at least `n` idle instances; returns the seconds it took. Throws
   * StalledStart (with the counts) when nothing is starting any more but fewer than `n` are
   * up: the pool does not retry failed starts of min_instances, so waiting longer is useless.
   */
  async waitIdle(name: string, n: number, timeoutMs: number): Promise<number> {
    const t0 = performance.now();
    const end = Date.now() + timeoutMs;
    let last = { total: 0, idle: 0, starting: 0, busy: 0 };
    let stalledSince: number | null = null;
    while (Date.now() < end) {
      last = await this.instanceCounts(name);
      if (last.idle >= n) return (performance.now() - t0) / 1000;
      if (last.starting === 0 && last.total < n) {
        stalledSince ??= Date.now();
        if (Date.now() - stalledSince > 3000) throw new StalledStart(name, n, last.idle, (performance.now() - t0) / 1000);
      } else stalledSince = null;
      await sleep(n > 50 ? 250 : 50);
    }
    throw new Error(`${name}: ${last.idle}/${n} instances idle after ${timeoutMs / 1000}s (${last.starting} starting, ${last.total} total)`);
  }

  /** The daemon's log lines that mention failed starts (for a StalledStart report). */
  startFailures(limit = 3): string[] {
    try {
      const lines = fs
        .readFileSync(path.join(this.dir, 'faasd.log'), 'utf8')
        .split('\n')
        .filter((l) => l.includes('failed to start'));
      const reasons = new Map<string, number>();
      for (const l of lines) {
        let err = l;
        try {
          err = String((JSON.parse(l) as { err?: unknown }).err ?? l);
        } catch {
          /* not a JSON line: keep it whole */
        }
        // Instance names and ids differ per failure; the reason is what repeats.
        const r = err
          .replace(/"bench-[a-z0-9-]+"/g, '"…"')
          .replace(/[0-9a-f]{8,}/g, '…')
          .slice(0, 200);
        reasons.set(r, (reasons.get(r) ?? 0) + 1);
      }
      return [...reasons]
        .sort((a, b) => b[1] - a[1])
        .slice(0, limit)
        .map(([r, c]) => `${c}x ${r}`);
    } catch {
      return [];
    }
  }

  /** A function's instances, for /proc lookups (pid in process mode, container id in container mode). */
  async instances(name: string): Promise<InstanceRef[]> {
    const res = await this.client.request('GET', '/instances');
    const list = (JSON.parse(res.body) as { instances: { id: string; function: string; pid: number | null; container_id: string | null }[] }).instances;
    return list.filter((i) => i.function === name).map((i) => ({ id: i.id, pid: i.pid, containerId: i.container_id }));
  }

  /** Instances a driver still holds (they outlive their function's deletion while stopping). */
  async driverInstances(mode: Mode): Promise<number> {
    const res = await this.client.request('GET', '/health');
    const j = JSON.parse(res.body) as { drivers?: Record<string, { detail?: string }> };
    const m = /(\d+) instances/.exec(j.drivers?.[mode]?.detail ?? '');
    return m ? Number(m[1]) : 0;
  }

  /** At start: wait (bounded) until the pre-warmed pools stop growing, and remember their size. */
  private async settle(): Promise<void> {
    await Promise.all(
      MODES.map(async (mode) => {
        let last = -1;
        let stableSince = Date.now();
        const end = Date.now() + 15_000;
        while (Date.now() < end) {
          const n = await this.driverInstances(mode);
          if (n !== last) {
            last = n;
            stableSince = Date.now();
          } else if (Date.now() - stableSince >= 400) break;
          await sleep(50);
        }
        this.idleCount[mode] = Math.max(0, last);
      }),
    );
  }

  /** After deleting functions: wait (bounded) until their instances are gone and the driver is back to its idle size. */
  async waitDriverIdle(mode: Mode, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if ((await this.driverInstances(mode)) <= this.idleCount[mode]) return;
      await sleep(200);
    }
  }

  /** After a cold start took a pre-warmed instance: wait (bounded) until the pool has refilled. */
  async waitRefilled(mode: Mode, before: number, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if ((await this.driverInstances(mode)) > before) return;
      await sleep(25);
    }
  }

  async health(): Promise<{ drivers: Record<string, { ok: boolean; detail: string }> }> {
    const res = await this.client.request('GET', '/health');
    return JSON.parse(res.body) as { drivers: Record<string, { ok: boolean; detail: string }> };
  }

  /** Graceful stop (instances stopped, registry closed), then the temp dir goes; `keepLog` moves the daemon's log to this path first. */
  async stop(keepLog?: string): Promise<void> {
    Faasd.running.delete(this);
    this.client.close();
    await this.child.stop(90_000);
    removeOrphanContainers(this.registryPath);
    if (keepLog) fs.copyFileSync(path.join(this.dir, 'faasd.log'), keepLog);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function files(dir: string, ext: string): string[] {
  try {
    return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((f) => f.endsWith(ext) && !f.endsWith(`.test${ext}`)).map((f) => path.join(dir, f));
  } catch {
    return [];
  }
}

/** 'auto': the compiled build when it is complete and newer than every source file, else the sources. */
export function resolveEntry(entry: 'auto' | 'src' | 'dist'): 'src' | 'dist' {
  if (entry !== 'auto') return entry;
  const built = files(path.join(REPO_DIR, 'dist'), '.js');
  const sources = files(path.join(REPO_DIR, 'src'), '.ts');
  if (built.length === 0 || built.length < sources.length) return 'src';
  const oldestBuilt = Math.min(...built.map((f) => fs.statSync(f).mtimeMs));
  const newestSource = Math.max(...sources.map((f) => fs.statSync(f).mtimeMs));
  return oldestBuilt >= newestSource ? 'dist' : 'src';
}

/**
 * Safety net for a daemon that had to be killed: its containers carry the label
 * faasd.daemon=<sha256(registry_path)[:10]> (src/execution/setup.ts daemonId), and with a
 * temp registry no later daemon would ever clean them up.
 */
function removeOrphanContainers(registryPath: string): void {
  const id = crypto.createHash('sha256').update(registryPath).digest('hex').slice(0, 10);
  try {
    const ids = execFileSync('docker', ['ps', '-aq', '--filter', `label=faasd.daemon=${id}`], { encoding: 'utf8', timeout: 20_000, stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')
      .filter(Boolean);
    if (ids.length > 0) execFileSync('docker', ['rm', '-f', ...ids], { timeout: 60_000, stdio: 'ignore' });
  } catch {
    /* no docker here: nothing to clean */
  }
}
