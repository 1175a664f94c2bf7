// What both drivers do while an instance starts: bound each step by cold_start_timeout, and
// never leave a half-started instance behind when a step fails.
import { FaasError } from '../../errors.js';
import type { ExitInfo } from '../driver.js';

export function withStartTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const timer = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new FaasError('INSTANCE_TIMEOUT', `${what} took longer than ${ms / 1000}s (system.cold_start_timeout)`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}

interface Discardable {
  kill(): Promise<ExitInfo>;
  stop(): Promise<void>;
}

/**
 * Runs the remaining start `steps` of `inst`; if one fails, the instance is killed and its
 * resources released, and the error is rethrown (through `toError`, which also gets how the
 * instance ended: a crash while starting says more than the step that noticed it).
 */
export async function startOrDiscard<I extends Discardable>(inst: I, steps: () => Promise<void>, toError: (e: unknown, exit: ExitInfo) => unknown = (e) => e): Promise<I> {
  try {
    await steps();
    return inst;
  } catch (e) {
    const exit = await inst.kill();
    await inst.stop();
    throw toError(e, exit);
  }
}
