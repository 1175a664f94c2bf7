// Framing of the daemon <-> shim protocol (docs/protocol.md): an 8-byte prefix (header
// length, body length; uint32 BE), a UTF-8 JSON header with a string `type`, raw body bytes.
// This is the invoke hot path: the body is never copied when it arrives in one socket chunk,
// and the only JSON work per frame is the header.
import { FaasError } from '../../errors.js';

export const MAX_HEADER_BYTES = 1024 * 1024;
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
const PREFIX_BYTES = 8;
const EMPTY = Buffer.alloc(0);
/** Bodies up to this size travel in the same buffer as their header. */
const INLINE_BODY_BYTES = 16 * 1024;

export interface FrameHeader {
  type: string;
  [field: string]: unknown;
}

export interface Frame {
  header: FrameHeader;
  body: Buffer;
}

/**
 * Encodes one frame as the buffers to hand to `socket.write` (one `writev` when corked):
 * prefix and header share one allocation; a body over 16 KiB is passed through, never copied.
 * Throws PAYLOAD_TOO_LARGE when a part exceeds its limit (the peer would kill us for it).
 */
export function encodeFrame(header: object, body: Buffer = EMPTY): Buffer[] {
  const json = JSON.stringify(header);
  const headerBytes = Buffer.byteLength(json);
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new FaasError('PAYLOAD_TOO_LARGE', `frame header of ${headerBytes} bytes exceeds ${MAX_HEADER_BYTES}`);
  }
  if (body.length > MAX_BODY_BYTES) {
    throw new FaasError('PAYLOAD_TOO_LARGE', `frame body of ${body.length} bytes exceeds ${MAX_BODY_BYTES}`);
  }
  // A small body is copied in after the header: one plain write() costs less than a corked
  // writev of two buffers. A large one is passed through uncopied.
  const inline = body.length <= INLINE_BODY_BYTES;
  const head = Buffer.allocUnsafe(PREFIX_BYTES + headerBytes + (inline ? body.length : 0));
  head.writeUInt32BE(headerBytes, 0);
  head.writeUInt32BE(body.length, 4);
  head.write(json, PREFIX_BYTES, 'utf8');
  if (!inline) return [head, body];
  if (body.length > 0) body.copy(head, PREFIX_BYTES + headerBytes);
  return [head];
}

function protocolError(message: string): FaasError {
  return new FaasError('PROTOCOL_ERROR', message);
}

/**
 * Incremental decoder: `push` each socket chunk, get back the frames it completed. Throws a
 * PROTOCOL_ERROR FaasError on an oversize length or a header that is not a JSON object with a
 * string `type`; after that the decoder stays failed (the connection must be dropped).
 */
export class FrameDecoder {
  #chunks: Buffer[] = [];
  /** Read position inside #chunks[0]. */
  #offset = 0;
  #buffered = 0;
  /** Lengths of the frame being read; -1 while waiting for its prefix. */
  #headerLength = -1;
  #bodyLength = 0;
  #failed: FaasError | null = null;

  /** Bytes received but not yet part of a returned frame. */
  get bufferedBytes(): number {
    return this.#buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (this.#failed) throw this.#failed;
    const frames: Frame[] = [];
    if (chunk.length === 0) return frames;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    try {
      for (;;) {
        if (this.#headerLength < 0) {
          if (this.#buffered < PREFIX_BYTES) break;
          const prefix = this.#take(PREFIX_BYTES);
          const headerLength = prefix.readUInt32BE(0);
          const bodyLength = prefix.readUInt32BE(4);
          if (headerLength > MAX_HEADER_BYTES) {
            throw protocolError(`frame header of ${headerLength} bytes exceeds ${MAX_HEADER_BYTES}`);
          }
          if (bodyLength > MAX_BODY_BYTES) {
            throw protocolError(`frame body of ${bodyLength} bytes exceeds ${MAX_BODY_BYTES}`);
          }
          this.#headerLength = headerLength;
          this.#bodyLength = bodyLength;
        }
        if (this.#buffered < this.#headerLength + this.#bodyLength) break;
        const header = parseHeader(this.#take(this.#headerLength));
        const body = this.#take(this.#bodyLength);
        this.#headerLength = -1;
        frames.push({ header, body });
      }
    } catch (err) {
      this.#failed = err instanceof FaasError ? err : protocolError(String(err));
      this.#chunks = [];
      this.#buffered = 0;
      throw this.#failed;
    }
    return frames;
  }

  /** Removes n buffered bytes (n <= #buffered): a view when they sit in one chunk, else a copy. */
  #take(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.#buffered -= n;
    const first = this.#chunks[0]!;
    const available = first.length - this.#offset;
    if (available >= n) {
      const out = first.subarray(this.#offset, this.#offset + n);
      if (available === n) {
        this.#chunks.shift();
        this.#offset = 0;
      } else {
        this.#offset += n;
      }
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0]!;
      const copied = chunk.copy(out, filled, this.#offset, Math.min(chunk.length, this.#offset + n - filled));
      filled += copied;
      if (this.#offset + copied === chunk.length) {
        this.#chunks.shift();
        this.#offset = 0;
      } else {
        this.#offset += copied;
      }
    }
    return out;
  }
}

function parseHeader(bytes: Buffer): FrameHeader {
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw protocolError('frame header is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw protocolError('frame header is not a JSON object');
  }
  if (typeof (value as { type?: unknown }).type !== 'string') {
    throw protocolError('frame header has no string "type"');
  }
  return value as FrameHeader;
}
