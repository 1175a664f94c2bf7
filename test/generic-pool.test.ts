// The pre-warmed pool follows the rate it is drained at, within its max, and shrinks back
// when idle (drivers/generic-pool.ts). A fake generic instance: starts in 50 ms (fake timers).
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { GenericPool, type GenericInstance } from '../src/execution/drivers/generic-pool.js';
import type { RuntimeName } from '../src/execution/driver.js';

class Fake implements GenericInstance {
  discarded = false;
  readonly gone = new Promise<unknown>(() => {});
  constructor(readonly runtime: RuntimeName) {}
  async discard(): Promise<void> {
    this.discarded = true;
  }
}

function pool(python: number, max: number) {
  const started: Fake[] = [];
  const p = new GenericPool<Fake>(
    { python, node: 0 },
    (rt) =>
      new Promise((resolve) =>
        setTimeout(() => {
          const f = new Fake(rt);
          started.push(f);
          resolve(f);
        }, 50),
      ),
    pino({ level: 'silent' }),
    'fake',
    max,
  );
  return { p, started };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('GenericPool: adaptive size', () => {
  it('keeps its configured count while nothing is taken', async () => {
    const { p } = pool(2, 8);
    p.fill();
    await vi.advanceTimersByTimeAsync(200);
    expect(p.size('python')).toBe(2);
  });

  it('grows with the takes of the last seconds, never above max, and shrinks back once idle', async () => {
    const { p, started } = pool(1, 4);
    p.fill();
    await vi.advanceTimersByTimeAsync(100);
    let got = 0;
    // A burst: ten takes, 100 ms apart.
    for (let i = 0; i < 10; i++) {
      if (p.take('python')) got += 1;
      await vi.advanceTimersByTimeAsync(100);
    }
    expect(p.target('python')).toBe(4);
    expect(got).toBeGreaterThanOrEqual(9);
    await vi.advanceTimersByTimeAsync(500);
    expect(p.size('python')).toBe(4);
    // Idle: back to the configured one, the others discarded.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(p.target('python')).toBe(1);
    expect(p.size('python')).toBe(1);
    expect(started.filter((f) => f.discarded)).toHaveLength(3);
    await p.close();
  });

  it('with max at or below the configured count it never grows, and a count of 0 stays off', async () => {
    const { p } = pool(2, 0);
    p.fill();
    await vi.advanceTimersByTimeAsync(100);
    for (let i = 0; i < 5; i++) p.take('python');
    expect(p.target('python')).toBe(2);
    expect(p.target('node')).toBe(0);
    expect(p.take('node')).toBeNull();
    await p.close();
  });
});
