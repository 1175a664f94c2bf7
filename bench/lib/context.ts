// What every scenario gets: options, the running daemon, the time budget, progress output,
// and which mode/runtime pairs this daemon refused (container mode may not exist yet).
import type { BenchOptions } from './options.js';
import type { Faasd, Mode, Runtime } from './daemon.js';
import { combo, type Combo, type Outcome } from './results.js';

export class Unavailable extends Error {}
export class Skipped extends Error {}

export class BenchContext {
  private readonly refused = new Map<Combo, string>();
  /** Figures that failed (not unavailable or skipped): the daemon's log is then kept. */
  errors = 0;
  private readonly deadline: number;
  private seq = 0;

  constructor(
    readonly opts: BenchOptions,
    readonly faasd: Faasd,
    readonly startedAt: number,
  ) {
    this.deadline = startedAt + opts.budgetS * 1000;
  }

  log(msg: string): void {
    const t = ((Date.now() - this.startedAt) / 1000).toFixed(1).padStart(6);
    process.stderr.write(`[bench ${t}s] ${msg}\n`);
  }

  timeLeftS(): number {
    return (this.deadline - Date.now()) / 1000;
  }

  /** Throws Skipped when fewer than `s` seconds of the budget are left. */
  needTime(s: number, what: string): void {
    if (this.timeLeftS() < s) throw new Skipped(`skipped: ${what} needs about ${Math.ceil(s)} s and the time budget has ${Math.max(0, Math.floor(this.timeLeftS()))} s left`);
  }

  /** A unique function name (the registry keeps names; every deploy here is fresh). */
  name(prefix: string): string {
    this.seq += 1;
    return `${prefix}-${this.seq}-${Date.now().toString(36).slice(-4)}`;
  }

  /**
   * Deploys a function; a 422 means the mode cannot run here (e.g. container mode not built
   * yet, Docker or the image missing): that pair is then reported "unavailable" everywhere,
   * and picks itself up without code changes once the daemon accepts it.
   */
  async deploy(name: string, mode: Mode, runtime: Runtime, code: string, config: Record<string, unknown> = {}, on: Faasd = this.faasd): Promise<number> {
    const c = combo(mode, runtime);
    const known = this.refused.get(c);
    if (known) throw new Unavailable(known);
    const r = await on.deploy(name, runtime, code, { execution_mode: mode, ...config });
    if (r.ok) return r.ms;
    if (r.status === 422) {
      this.refused.set(c, r.message);
      throw new Unavailable(r.message);
    }
    throw new Error(`deploying ${name} (${c}): ${r.message}`);
  }
}

/** Runs one figure; turns Unavailable / Skipped / any error into an Outcome so the run goes on. */
export async function outcome<T>(ctx: BenchContext, what: string, fn: () => Promise<T>): Promise<Outcome<T>> {
  try {
    const data = await fn();
    return { status: 'ok', data };
  } catch (e) {
    const msg = (e as Error).message;
    if (e instanceof Unavailable) {
      ctx.log(`${what}: unavailable: ${msg}`);
      return { status: 'unavailable', reason: msg };
    }
    if (e instanceof Skipped) {
      ctx.log(`${what}: ${msg}`);
      return { status: 'skipped', reason: msg };
    }
    ctx.errors += 1;
    ctx.log(`${what}: error: ${(e as Error).stack ?? msg}`);
    return { status: 'error', reason: msg };
  }
}
