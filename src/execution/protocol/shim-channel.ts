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
  /** Calls sent and not answered, by request id: at most #concurrency. */
  #calls = new Map<string, Pending<InvokeResult>>();
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

  invoke(req: InvokeRequest): Promise<InvokeResult> {
    if (this.#state === 'closed') return Promise.reject(connectionClosed());
    if (this.#state !== 'idle') return Promise.reject(new Error(`invoke called in state ${this.#state}`));
    if (this.#calls.size >= this.#concurrency || this.#calls.has(req.id)) {
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
      this.#calls.set(req.id, { resolve, reject });
      this.#write(frame);
    });
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
        const pending = this.#call(header);
        const { status, headers, logs } = header;
        if (!Number.isInteger(status) || (status as number) < 100 || (status as number) > 599) {
          throw malformed(header);
        }
        if (!isStringRecord(headers) || !isStringArray(logs)) throw malformed(header);
        this.#calls.delete(header.id as string);
        pending.resolve({ status: status as number, headers, body, logs });
        return;
      }
      case 'error': {
        const pending = this.#call(header);
        const error = shimError(header);
        const { logs } = header;
        if (!isStringArray(logs)) throw malformed(header);
        this.#calls.delete(header.id as string);
        pending.reject(
          new FaasError('FUNCTION_ERROR', error.message, {
            details: { errorType: error.type, stack: error.stack, logs },
          }),
        );
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

  /** The call a result or error frame answers (it stays pending until the frame is checked). */
  #call(header: FrameHeader): Pending<InvokeResult> {
    this.#expect('idle', header);
    const pending = typeof header.id === 'string' ? this.#calls.get(header.id) : undefined;
    if (!pending) throw new FaasError('PROTOCOL_ERROR', `${header.type} frame for unknown request ${String(header.id)}`);
    return pending;
  }

  /** Rejects everything pending, settles `closed` and drops the socket; runs once. */
  #shutdown(reason: Error | null): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#state = 'closed';
    const err = connectionClosed(reason);
    this.#ready.reject(err);
    this.#init?.reject(err);
    for (const call of this.#calls.values()) call.reject(err);
    this.#init = null;
    this.#calls.clear();
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
