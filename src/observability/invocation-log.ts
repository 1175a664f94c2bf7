// The info line every invocation gets (issue 5: "log at info once per invocation"), written
// off the request's path. Through pino (a child logger per request, its serialisers, then a
// write per line) it cost 25-40 µs of the daemon's ~150-260 µs per warm call (bench/ANALYSIS.md);
// here the line is one template string, and the lines of one event-loop turn go to the
// logger's destination in one write after the answers are sent. Same JSON shape as pino's.
import pino, { type Logger } from 'pino';
import type { InvocationEvent } from '../execution/events.js';

const SAFE = /^[A-Za-z0-9_.@:-]*$/;
/** A string as JSON: ids and names are plain ASCII, so the quote is all most need. */
const str = (s: string) => (SAFE.test(s) ? `"${s}"` : JSON.stringify(s));

export class InvocationLog {
  readonly #stream: { write(s: string): unknown } | null;
  readonly #prefix: string;
  #pending = '';
  #scheduled = false;

  constructor(logger: Logger) {
    const stream = (logger as unknown as Record<symbol, { write(s: string): unknown } | undefined>)[pino.symbols.streamSym];
    this.#stream = logger.isLevelEnabled('info') && stream ? stream : null;
    // The logger's own bindings (service), as pino would write them.
    const bindings = JSON.stringify(logger.bindings());
    this.#prefix = bindings === '{}' ? '' : `,${bindings.slice(1, -1)}`;
  }

  /** One line for one call answered (or refused with an error). */
  write(e: InvocationEvent): void {
    // A failed call is logged where its error is answered (the gateway's 'invocation failed').
    if (this.#stream === null || e.requestId === undefined || e.errorCode !== undefined) return;
    const ms = Math.round(e.durationMs * 100) / 100;
    this.#pending += `{"level":30,"time":"${new Date().toISOString()}"${this.#prefix},"reqId":${str(e.requestId)},"function":${str(e.function)},"status":${e.status},"ms":${ms},"start":"${e.start}","instance":${str(e.instanceId ?? '')},"msg":"invocation"}\n`;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flush);
    }
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    const text = this.#pending;
    this.#pending = '';
    if (text) this.#stream!.write(text);
  };
}
