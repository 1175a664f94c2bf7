// Bounds how many instance starts run at once. Docker creates and starts containers one
// engine call at a time per container, on the same cores as everything else: 200 starts
// asked for together (min_instances 200) each took longer than cold_start_timeout on a
// 2-core host, where a few at a time all finish. Waiting for a slot is not part of a start's
// own timeout; the requests waiting for an instance keep theirs (the pool's queue timeout).
export class StartLimiter {
  private running = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(readonly max: number) {}

  /** Resolves with a release function once a slot is free; call it exactly once. */
  async acquire(): Promise<() => void> {
    if (this.running < this.max) this.running += 1;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      // The slot passes straight to the next start, so `running` stays as it is.
      if (next) next();
      else this.running -= 1;
    };
  }
}
