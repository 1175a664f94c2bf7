// The per-invocation info line, written off the request's path (src/observability/invocation-log.ts).
import { Writable } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';
import { InvocationLog } from '../src/observability/invocation-log.js';

function capture(level: 'info' | 'warn') {
  const chunks: string[] = [];
  const dest = new Writable({
    write(chunk, _enc, cb) {
      chunks.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger(level, dest as never);
  return { logger, lines: () => chunks.join('').split('\n').filter(Boolean) };
}

const event = { function: 'hello', mode: 'process' as const, status: 200, durationMs: 1.23456, coldStart: false, start: 'warm' as const, waitMs: 0, requestId: 'abc123', instanceId: 'hello-1f2e' };

describe('InvocationLog', () => {
  it('writes one pino-shaped JSON line per answered call, the calls of one turn in one write', async () => {
    const { logger, lines } = capture('info');
    const log = new InvocationLog(logger);
    log.write(event);
    log.write({ ...event, requestId: 'def456', status: 404 });
    expect(lines()).toEqual([]);
    await tick();
    const [a, b] = lines().map((l) => JSON.parse(l));
    expect(a).toMatchObject({ level: 30, service: 'faasd', reqId: 'abc123', function: 'hello', status: 200, ms: 1.23, start: 'warm', instance: 'hello-1f2e', msg: 'invocation' });
    expect(Number.isNaN(Date.parse(a.time))).toBe(false);
    expect(b).toMatchObject({ reqId: 'def456', status: 404 });
  });

  it('escapes an id that is not plain ASCII, and writes nothing below info or for a failed call', async () => {
    const { logger, lines } = capture('info');
    const log = new InvocationLog(logger);
    log.write({ ...event, requestId: 'a"b\n' });
    log.write({ ...event, errorCode: 'FUNCTION_ERROR', status: 500 });
    await tick();
    expect(lines().map((l) => JSON.parse(l).reqId)).toEqual(['a"b\n']);
    const quiet = capture('warn');
    new InvocationLog(quiet.logger).write(event);
    await tick();
    expect(quiet.lines()).toEqual([]);
  });
});
