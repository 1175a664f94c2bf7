// The container driver's bound on parallel starts: never more than `max` at once, every start
// eventually runs, in order, and a failed start frees its slot.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { StartLimiter } from '../src/execution/drivers/container/start-limiter.js';

describe('StartLimiter', () => {
  it('runs at most max starts at once and all of them in arrival order, failures included', async () => {
    const limiter = new StartLimiter(3);
    let running = 0;
    let peak = 0;
    const order: number[] = [];
    const start = async (i: number) => {
      const release = await limiter.acquire();
      try {
        running += 1;
        peak = Math.max(peak, running);
        order.push(i);
        await sleep(5);
        if (i % 4 === 0) throw new Error(`start ${i} failed`);
      } finally {
        running -= 1;
        release();
        release(); // a second call must not free a second slot
      }
    };
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => start(i)));
    expect(peak).toBe(3);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(5);
    // Every slot came back: three more starts run at once without waiting.
    const releases = await Promise.all([limiter.acquire(), limiter.acquire(), limiter.acquire()]);
    for (const release of releases) release();
  });
});
