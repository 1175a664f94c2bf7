// The daemon's end of one shim connection (docs/protocol.md): typed requests over frames,
// every shim message validated, one invocation at a time unless `init` asked for more
// (`concurrency`) and the shim took it. A shim that breaks the protocol is cut off here; it
// can never take the daemon down.
import { chmod, lstat, unlink } from 'node:fs/promises';
import net from 'node:net';
import { FaasError } from '../../errors.js';
import { encodeFrame, FrameDecoder, type Frame, type FrameHeader } from './codec.js';

export interface ReadyInfo {
  runtime: string;
  version: string;
  pid: number;
}

export interface FunctionRef {
  name: string;
  version: number;
  /** Code directory as the shim sees it. */
  dir: string;
  file: string;
  handler?: string;
  /** Calls in flight the shim may be sent at once (1 when absent); init_ok says how many it takes. */
  concurrency?: number;
}

export interface InvokeRequest {
  id: string;
  method: string;
  path: string;
  query: Record<string, string | string[]>;
  headers: Record<string, string>;
  body: Buffer;
  timeoutMs: number;
}

export interface InvokeResult {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  logs: string[];
}

interface Pending<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

/** One invocation sent to the shim and not answered yet. */
interface Call extends Pending<InvokeResult> {
  id: string;
  /** False while it waits in the shim's socket behind the call it runs (sent ahead). */
  started: boolean;
  /** Runs once, when the shim starts it (at once for a call not sent ahead). */
  onStart: (() => void) | null;
}

/**
 * A call sent ahead that the shim never started: its instance died, or it was cancelled
 * (cancel frame) and the shim dropped it. The pool queues it again or answers it as a call
 * that was not run; it never ran.
 */
export class CallNotStarted extends Error {
  constructor(readonly cancelled: boolean) {
    super(cancelled ? 'the call was cancelled before it started' : 'the instance ended before the call started');
  }
}

/** 'idle': initialised, taking calls (up to `concurrency` in flight). */
type State = 'connecting' | 'ready' | 'initializing' | 'idle' | 'closed';

interface ShimError {
  type: string;
  message: string;
  stack: string;
}

export class ShimChannel {
  readonly ready: Promise<ReadyInfo>;
  readonly closed: Promise<Error | null>;

  #socket: net.Socket;
  #decoder = new FrameDecoder();
  #state: State = 'connecting';
  #ready!: Pending<ReadyInfo>;
  #resolveClosed!: (reason: Error | null) => void;
  #init: Pending<{ loadMs: number; concurrency: number }> | null = null;
  #asked = 1;
  /** Calls the shim accepted in init_ok (1 unless it said more). */
  #concurrency = 1;
  /** Calls sent and not answered, by request id: at most #concurrency, plus one sent ahead. */
  #calls = new Map<string, Call>();
  /** Calls sent ahead (in the shim's socket behind a running call), oldest first. */
  #ahead: Call[] = [];
  #finished = false;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    this.ready = new Promise<ReadyInfo>((resolve, reject) => {
      this.#ready = { resolve, reject };
    });
    // Whoever awaits `ready` still sees the rejection; this only keeps an unobserved one
    // (a shim that dies before anyone looked) from becoming an unhandled rejection.
    this.ready.catch(() => {});
    this.closed = new Promise<Error | null>((resolve) => {
      this.#resolveClosed = resolve;
    });
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    // Errors (ECONNRESET, EPIPE) are always followed by 'close', which does the work.
    socket.on('error', () => {});
    socket.on('close', () => this.#shutdown(null));
    if (socket.destroyed) this.#shutdown(null);
  }

  /** Calls this shim runs at once (known after init). */
  get concurrency(): number {
    return this.#concurrency;
  }

  init(fn: FunctionRef, env: Record<string, string>): Promise<{ loadMs: number; concurrency: number }> {
    if (this.#state === 'connecting') return this.ready.then(() => this.init(fn, env));
    if (this.#state === 'closed') return Promise.reject(connectionClosed());
    if (this.#state !== 'ready') return Promise.reject(new Error(`init called in state ${this.#state}`));
    let frame: Buffer[];
    try {
      frame = encodeFrame({
        type: 'init',
        function: { name: fn.name, version: fn.version, dir: fn.dir, file: fn.file, handler: fn.handler ?? null },
        env,
        // Sent only when asked for: a shim that has never heard of it sees the frame it knows.
        ...(fn.concurrency && fn.concurrency > 1 ? { concurrency: fn.concurrency } : {}),
      });
      this.#asked = fn.concurrency && fn.concurrency > 1 ? fn.concurrency : 1;
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      this.#init = { resolve, reject };
      this.#state = 'initializing';
      this.#write(frame);
    });
  }

  /**
   * One call. With `concurrency` 1 and a call running, it may be sent ahead (`ahead` true):
   * its frame goes into the socket now, so the shim finds it buffered when it answers the
   * running call, and the shim starts it then (docs/protocol.md, pipelining). `onStart` runs
   * when the call starts: at once for a call sent to a free shim, else when the call before
   * it is answered. A call sent ahead that never starts rejects with CallNotStarted.
   */
  invoke(req: InvokeRequest, onStart?: () => void, ahead = false): Promise<InvokeResult> {
    if (this.#state === 'closed') return Promise.reject(connectionClosed());
    if (this.#state !== 'idle') return Promise.reject(new Error(`invoke called in state ${this.#state}`));
    const running = this.#calls.size - this.#ahead.length;
    const goesAhead = running >= this.#concurrency;
    if ((goesAhead && !(ahead && this.#concurrency === 1 && this.#ahead.length === 0)) || this.#calls.has(req.id)) {
      return Promise.reject(new Error(`invoke called in state invoking with ${this.#calls.size} of ${this.#concurrency} calls in flight`));
    }
    let frame: Buffer[];
    try {
      frame = encodeFrame(
        {
          type: 'invoke',
          id: req.id,
          method: req.method,
          path: req.path,
          query: req.query,
          headers: req.headers,
          timeout_ms: req.timeoutMs,
        },
        req.body,
      );
    } catch (err) {
      return Promise.reject(err as Error);
    }
    return new Promise((resolve, reject) => {
      const call: Call = { id: req.id, resolve, reject, started: !goesAhead, onStart: goesAhead ? (onStart ?? null) : null };
      this.#calls.set(req.id, call);
      if (goesAhead) this.#ahead.push(call);
      this.#write(frame);
      if (!goesAhead) onStart?.();
    });
  }

  /**
   * Asks the shim to drop a call sent ahead that it has not started (its client left). The
   * shim answers `cancelled` if it dropped it (the call rejects with CallNotStarted), or runs
   * it and answers as usual if it had started it already. Nothing for a started call.
   */
  cancel(id: string): void {
    const call = this.#calls.get(id);
    if (!call || call.started || this.#finished) return;
    this.#write(encodeFrame({ type: 'cancel', id }));
  }

  destroy(): void {
    this.#shutdown(null);
  }

  #write(frame: Buffer[]): void {
    if (frame.length === 1) {
      this.#socket.write(frame[0]!);
      return;
    }
    this.#socket.cork();
    for (const part of frame) this.#socket.write(part);
    this.#socket.uncork();
  }

  #onData(chunk: Buffer): void {
    if (this.#finished) return;
    try {
      for (const frame of this.#decoder.push(chunk)) {
        this.#dispatch(frame);
        if (this.#finished) return;
      }
    } catch (err) {
      const error = err instanceof FaasError ? err : new FaasError('PROTOCOL_ERROR', String(err), { cause: err });
      this.#shutdown(error);
    }
  }

  #dispatch({ header, body }: Frame): void {
    switch (header.type) {
      case 'ready': {
        this.#expect('connecting', header);
        const { runtime, version, pid } = header;
        if (typeof runtime !== 'string' || typeof version !== 'string' || !Number.isInteger(pid)) {
          throw malformed(header);
        }
        this.#state = 'ready';
        this.#ready.resolve({ runtime, version, pid: pid as number });
        return;
      }
      case 'init_ok': {
        this.#expect('initializing', header);
        const took = header.concurrency ?? 1;
        if (typeof header.load_ms !== 'number' || !Number.isInteger(took) || (took as number) < 1 || (took as number) > this.#asked) throw malformed(header);
        const pending = this.#init!;
        this.#init = null;
        this.#state = 'idle';
        this.#concurrency = took as number;
        pending.resolve({ loadMs: header.load_ms, concurrency: this.#concurrency });
        return;
      }
      case 'init_error': {
        this.#expect('initializing', header);
        const error = shimError(header);
        const pending = this.#init!;
        this.#init = null;
        pending.reject(
          new FaasError('FUNCTION_ERROR', `function failed to load: ${error.type}: ${error.message}`, {
            details: { errorType: error.type, stack: error.stack },
          }),
        );
        // The shim exits after init_error; nothing more may be asked of it.
        this.#shutdown(null);
        return;
      }
      case 'result': {
        const call = this.#call(header);
        const { status, headers, logs } = header;
        if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599) {
          throw malformed(header);
        }
        if (!isStringRecord(headers) || !isStringArray(logs)) throw malformed(header);
        this.#answered(call);
        call.resolve({ status: status as number, headers, body, logs });
        return;
      }
      case 'error': {
        const call = this.#call(header);
        const error = shimError(header);
        const { logs } = header;
        if (!isStringArray(logs)) throw malformed(header);
        this.#answered(call);
        call.reject(
          new FaasError('FUNCTION_ERROR', error.message, {
            details: { errorType: error.type, stack: error.stack, logs },
          }),
        );
        return;
      }
      case 'cancelled': {
        // The shim dropped a call sent ahead before starting it (our cancel frame).
        const call = this.#call(header);
        this.#answered(call);
        call.reject(new CallNotStarted(true));
        return;
      }
      default:
        throw new FaasError('PROTOCOL_ERROR', `unknown frame type ${JSON.stringify(header.type)}`);
    }
  }

  #expect(state: State, header: FrameHeader): void {
    if (this.#state !== state) {
      throw new FaasError('PROTOCOL_ERROR', `unexpected ${header.type} frame in state ${this.#state}`);
    }
  }

  /** The call a result, error or cancelled frame answers (it stays pending until the frame is checked). */
  #call(header: FrameHeader): Call {
    this.#expect('idle', header);
    const call = typeof header.id === 'string' ? this.#calls.get(header.id) : undefined;
    if (!call) throw new FaasError('PROTOCOL_ERROR', `${header.type} frame for unknown request ${String(header.id)}`);
    return call;
  }

  /** `call` is over: the call sent ahead, if any, is the shim's now (it starts it on its own). */
  #answered(call: Call): void {
    this.#calls.delete(call.id);
    if (!call.started) {
      // Only a cancelled call is answered before it starts (a shim runs its calls in order).
      const i = this.#ahead.indexOf(call);
      if (i >= 0) this.#ahead.splice(i, 1);
      return;
    }
    if (this.#ahead.length === 0 || this.#calls.size - this.#ahead.length >= this.#concurrency) return;
    const next = this.#ahead.shift()!;
    next.started = true;
    const onStart = next.onStart;
    next.onStart = null;
    onStart?.();
  }

  /** Rejects everything pending, settles `closed` and drops the socket; runs once. */
  #shutdown(reason: Error | null): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = 'closed';
    const err = connectionClosed(reason);
    this.#ready.reject(err);
    this.#init?.reject(err);
    // A call sent ahead never ran: the pool may send it elsewhere.
    for (const call of this.#calls.values()) call.reject(call.started ? err : new CallNotStarted(false));
    this.#init = null;
    this.#calls.clear();
    this.#ahead = [];
    this.#resolveClosed(reason);
    this.#socket.destroy();
  }
}

function connectionClosed(cause?: Error | null): FaasError {
  return new FaasError('INSTANCE_CRASHED', 'instance connection closed', cause ? { cause } : {});
}

function malformed(header: FrameHeader): FaasError {
  return new FaasError('PROTOCOL_ERROR', `malformed ${header.type} frame`);
}

function shimError(header: FrameHeader): ShimError {
  const error = header.error as Partial<ShimError> | null | undefined;
  if (typeof error !== 'object' || error === null || typeof error.type !== 'string' || typeof error.message !== 'string' || typeof error.stack !== 'string') {
    throw malformed(header);
  }
  return { type: error.type, message: error.message, stack: error.stack };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  for (const key in value) {
    if (typeof (value as Record<string, unknown>)[key] !== 'string') return false;
  }
  return true;
}

function isStringArray(value: unknown): value is string[] {
  if (!Array.isArray(value)) return false;
  for (const item of value) if (typeof item !== 'string') return false;
  return true;
}

export interface ShimListener {
  server: net.Server;
  /** The next accepted connection; rejects when `signal` aborts or the listener closes. */
  nextConnection(signal?: AbortSignal): Promise<net.Socket>;
  /** Stops listening, drops connections nobody took, removes the socket file. */
  close(): Promise<void>;
}

/**
 * Listens on a Unix socket for shims. The socket file is made 0666 so a shim running as an
 * unprivileged uid (65534 in sandboxes and containers) can connect; access is controlled by
 * the instance directory it lives in.
 */
export async function listenForShim(socketPath: string): Promise<ShimListener> {
  await removeStaleSocket(socketPath);
  const accepted: net.Socket[] = [];
  const waiters: Array<{ resolve(s: net.Socket): void; reject(e: unknown): void }> = [];
  let closed = false;

  const server = net.createServer((socket) => {
    const waiter = waiters.shift();
    if (waiter) {
      waiter.resolve(socket);
      return;
    }
    // Parked until someone asks; errors before then must not become unhandled events.
    socket.on('error', () => {});
    accepted.push(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', () => {});
  try {
    await chmod(socketPath, 0o666);
  } catch (err) {
    server.close();
    throw err;
  }

  return {
    server,
    nextConnection(signal?: AbortSignal): Promise<net.Socket> {
      const ready = accepted.shift();
      if (ready) return Promise.resolve(ready);
      if (closed) return Promise.reject(listenerClosed());
      if (signal?.aborted) return Promise.reject(signal.reason);
      return new Promise<net.Socket>((resolve, reject) => {
        const onAbort = (): void => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(signal!.reason);
        };
        const waiter = {
          resolve(socket: net.Socket): void {
            signal?.removeEventListener('abort', onAbort);
            resolve(socket);
          },
          reject(err: unknown): void {
            signal?.removeEventListener('abort', onAbort);
            reject(err);
          },
        };
        waiters.push(waiter);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    close(): Promise<void> {
      if (!closed) {
        closed = true;
        for (const waiter of waiters.splice(0)) waiter.reject(listenerClosed());
        for (const socket of accepted.splice(0)) socket.destroy();
      }
      return new Promise<void>((resolve) => {
        if (!server.listening) return resolve();
        server.close(() => resolve());
      });
    },
  };
}

function listenerClosed(): FaasError {
  return new FaasError('INSTANCE_CRASHED', 'shim listener closed');
}

/** A leftover socket file makes listen() fail with EADDRINUSE; only sockets are removed. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  try {
    if ((await lstat(socketPath)).isSocket()) await unlink(socketPath);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
