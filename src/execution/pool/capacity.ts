// max_concurrent_functions: one gate shared by every function's pool.
import type { Logger } from 'pino';

/**
 * max_concurrent_functions, shared by every pool. A pool that finds it full either waits for
 * a slot (it has instances of its own that will serve its queue, or an idle instance of
 * another function was stopped to make room: `evictIdle`) or answers NO_CAPACITY at once.
 * Reaching the limit is logged once per streak, not once per refused start.
 */
export class CapacityGate {
  used = 0;
  private full = false;
  private readonly waiting = new Set<() => void>();

  constructor(
    readonly max: number,
    private readonly logger?: Logger,
    /** Stops the least recently used idle instance that no pool needs (not `except`'s); false if none. */
    private readonly evictIdle: (except: object) => boolean = () => false,
  ) {}

  tryTake(): boolean {
    if (this.used >= this.max) return false;
    this.used += 1;
    return true;
  }

  /** A call had to wait for, or was refused, a slot that no idle instance could free: warn once per streak. */
  reportFull(fn: string, refused: boolean): void {
    if (this.full) return;
    this.full = true;
    this.logger?.warn(
      { max_concurrent_functions: this.max, function: fn },
      `max_concurrent_functions reached: every instance is busy; ${refused ? 'calls that need a new instance get 503 NoCapacity' : 'calls wait for a free slot'} until one frees`,
    );
  }

  give(): void {
    this.used = Math.max(0, this.used - 1);
    if (this.full && this.used < this.max) {
      this.full = false;
      this.logger?.info({ max_concurrent_functions: this.max }, 'instance capacity available again');
    }
    // Wake the pools waiting for a slot, oldest first, while slots last.
    for (const wake of this.waiting) {
      if (this.used >= this.max) break;
      this.waiting.delete(wake);
      wake();
    }
  }

  /** Call `wake` once when a slot frees (a pool with work waiting for capacity). */
  whenFree(wake: () => void): void {
    this.waiting.add(wake);
  }

  cancelWait(wake: () => void): void {
    this.waiting.delete(wake);
  }

  /** Make room for `pool` by stopping an idle instance elsewhere; its exit frees the slot. */
  makeRoom(pool: object): boolean {
    return this.evictIdle(pool);
  }
}
