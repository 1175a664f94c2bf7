// What the execution side reports as it works; metrics, stats and logs listen. A side
// channel: it never changes what the gateway answers.
import type { ExecutionMode } from './driver.js';

export interface InvocationEvent {
  function: string;
  mode: ExecutionMode;
  /** HTTP status the caller got. */
  status: number;
  /** Set when the platform answered with an error (FunctionError, Timeout, ...). */
  errorCode?: string;
  durationMs: number;
  coldStart: boolean;
  /** warm, prewarmed (a generic instance specialised) or cold (a full start). */
  start: 'warm' | 'prewarmed' | 'cold';
  /** Time spent waiting for an instance (queue or start). */
  waitMs: number;
  /** The call's request id (the HTTP request's, or the async job's). */
  requestId?: string;
  /** The instance that answered. */
  instanceId?: string;
}

export interface ExecutionObserver {
  invocation(e: InvocationEvent): void;
  functionLogs(fn: string, requestId: string, lines: readonly string[]): void;
  /** A deleted function: drop its metric series, stats and log ring. */
  functionRemoved(fn: string): void;
}
