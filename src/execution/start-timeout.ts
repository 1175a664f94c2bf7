// The bound both drivers put on one instance start (system.cold_start_timeout).
import { FaasError } from '../errors.js';

export function withStartTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout;
  const timer = new Promise<never>((_, rej) => {
    t = setTimeout(() => rej(new FaasError('INSTANCE_TIMEOUT', `${what} took longer than ${ms / 1000}s (system.cold_start_timeout)`)), ms);
  });
  return Promise.race([p, timer]).finally(() => clearTimeout(t));
}
