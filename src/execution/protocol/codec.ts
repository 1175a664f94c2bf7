// Framing of the daemon <-> shim protocol (docs/protocol.md): an 8-byte prefix (header
// length, body length; uint32 BE), a UTF-8 JSON header with a string `type`, raw body bytes.
// The code is runtimes/node/frames.js, the module the Node shim runs, so there is one
// JavaScript codec (test/codec-conformance.test.ts checks it against the Python shim's); this
// file gives it types and the daemon's coded errors. It is the invoke hot path: the body is
// never copied when it arrives in one socket chunk, and the only JSON work per frame is the
// header.
import { createRequire } from 'node:module';
import { FaasError } from '../../errors.js';

export interface FrameHeader {
  type: string;
  [field: string]: unknown;
}

export interface Frame {
  header: FrameHeader;
  body: Buffer;
}

/** runtimes/node/frames.js, as typed here. */
interface FramesModule {
  MAX_HEADER_BYTES: number;
  MAX_BODY_BYTES: number;
  FrameError: new (message: string) => Error;
  encodeFrame(header: object, body?: Buffer | null): Buffer[];
  FrameDecoder: new (
    onFrame: (header: FrameHeader, body: Buffer) => void,
  ) => {
    readonly bufferedBytes: number;
    push(chunk: Buffer): void;
  };
}

// src/execution/protocol/ and dist/execution/protocol/ are both three levels below the repo
// root (/opt/faasd in the image), which holds runtimes/.
const frames = createRequire(import.meta.url)('../../../runtimes/node/frames.js') as FramesModule;

export const MAX_HEADER_BYTES = frames.MAX_HEADER_BYTES;
export const MAX_BODY_BYTES = frames.MAX_BODY_BYTES;
/** What push() returns for a chunk that completed no frame: nothing is allocated for it. */
const NO_FRAMES: readonly Frame[] = Object.freeze([]);

/**
 * Encodes one frame as the buffers to hand to `socket.write` (one `writev` when corked):
 * prefix and header share one allocation, with a body of up to 16 KiB copied in after them;
 * a larger body is passed through, never copied. Throws PAYLOAD_TOO_LARGE when a part
 * exceeds its limit (the peer would kill us for it).
 */
export function encodeFrame(header: object, body?: Buffer): Buffer[] {
  try {
    return frames.encodeFrame(header, body);
  } catch (err) {
    if (err instanceof frames.FrameError) throw new FaasError('PAYLOAD_TOO_LARGE', err.message);
    throw err;
  }
}

/**
 * Incremental decoder: `push` each socket chunk, get back the frames it completed. Throws a
 * PROTOCOL_ERROR FaasError on an oversize length or a header that is not a UTF-8 JSON object
 * with a string `type`; after that the decoder stays failed (the connection must be dropped).
 */
export class FrameDecoder {
  #frames: Frame[] | null = null;
  #decoder = new frames.FrameDecoder((header, body) => {
    (this.#frames ??= []).push({ header, body });
  });
  #failed: FaasError | null = null;

  /** Bytes received but not yet part of a returned frame. */
  get bufferedBytes(): number {
    return this.#decoder.bufferedBytes;
  }

  push(chunk: Buffer): readonly Frame[] {
    if (this.#failed) throw this.#failed;
    this.#frames = null;
    try {
      this.#decoder.push(chunk);
    } catch (err) {
      this.#frames = null;
      this.#failed = new FaasError('PROTOCOL_ERROR', (err as Error).message, { cause: err });
      throw this.#failed;
    }
    const out = this.#frames ?? NO_FRAMES;
    this.#frames = null;
    return out;
  }
}
