'use strict';
// Framing of the daemon <-> shim protocol (docs/protocol.md), the one JavaScript copy: the
// Node shim requires it (this directory is /opt/faas/runtime in sandboxes and containers) and
// the daemon loads it through src/execution/protocol/codec.ts. Plain CommonJS, Node built-ins
// only, no build step. A frame: header length, body length (uint32 BE each), a UTF-8 JSON
// header that is an object with a string `type`, raw body bytes.
//
// This is the invoke hot path on both sides of the socket: a small frame is one buffer and
// one write, a body is never copied when it arrives in one socket chunk, and the only JSON
// work per frame is the header. test/codec-conformance.test.ts runs it (in the daemon and as
// the shim loads it) and the Python shim's framing over the same frames.

// Node >= 18.14. A runtime image with an older Node skips the check: toString() then turns
// bytes that are not UTF-8 into U+FFFD, as before the check existed.
const isUtf8 = require('node:buffer').isUtf8 || (() => true);

const MAX_HEADER_BYTES = 1024 * 1024;
const MAX_BODY_BYTES = 64 * 1024 * 1024;
const PREFIX_BYTES = 8;
// Bodies up to this size travel in the same buffer as their header: one plain write costs
// less than a corked writev of two buffers (node's stream machinery runs per buffer). A
// larger body is handed to the socket as it is, never copied.
const INLINE_BODY_BYTES = 16 * 1024;
const EMPTY = Buffer.alloc(0);

/** A frame that breaks docs/protocol.md: one the peer sent (decoding) or one we must not send. */
class FrameError extends Error {
  get name() {
    return 'FrameError';
  }
}

/** Prefix and header, followed by the body when it is at most INLINE_BODY_BYTES. */
function encodeHead(header, body) {
  const json = JSON.stringify(header);
  const headerBytes = Buffer.byteLength(json);
  if (headerBytes > MAX_HEADER_BYTES) {
    throw new FrameError(`frame header of ${headerBytes} bytes exceeds ${MAX_HEADER_BYTES}`);
  }
  const bodyBytes = body.length;
  if (bodyBytes > MAX_BODY_BYTES) {
    throw new FrameError(`frame body of ${bodyBytes} bytes exceeds ${MAX_BODY_BYTES}`);
  }
  const inline = bodyBytes <= INLINE_BODY_BYTES ? bodyBytes : 0;
  const head = Buffer.allocUnsafe(PREFIX_BYTES + headerBytes + inline);
  head.writeUInt32BE(headerBytes, 0);
  head.writeUInt32BE(bodyBytes, 4);
  head.write(json, PREFIX_BYTES, 'utf8');
  if (inline > 0) body.copy(head, PREFIX_BYTES + headerBytes);
  return head;
}

/**
 * One frame as the buffers to write in order: [whole frame] or, for a body over 16 KiB,
 * [prefix + header, body] (the body itself, uncopied). Throws FrameError when the header or
 * body is over its limit (the peer would drop the connection for it).
 */
function encodeFrame(header, body) {
  if (!body) body = EMPTY;
  const head = encodeHead(header, body);
  return body.length > INLINE_BODY_BYTES ? [head, body] : [head];
}

/**
 * Encodes one frame and writes it to `stream` (a net.Socket): one write(), or for a large body
 * two inside cork()/uncork() (one writev). `callback` runs when the last part is flushed.
 * Throws FrameError, having written nothing, when a part is over its limit.
 */
function writeFrame(stream, header, body, callback) {
  if (!body) body = EMPTY;
  const head = encodeHead(header, body);
  if (body.length <= INLINE_BODY_BYTES) {
    stream.write(head, callback);
    return;
  }
  stream.cork();
  stream.write(head);
  stream.write(body, callback);
  stream.uncork();
}

/**
 * Incremental decoder: `push` each socket chunk; `onFrame(header, body)` runs for every frame
 * it completes, in order. A body that lies within one chunk is a view of it, not a copy.
 * `push` throws FrameError on a length over its limit or a header that is not a UTF-8 JSON
 * object with a string `type`; the decoder then stays failed (the connection must be dropped).
 */
class FrameDecoder {
  #onFrame;
  #chunks = [];
  /** Read position inside #chunks[0]. */
  #offset = 0;
  #buffered = 0;
  /** Lengths of the frame being read; -1 while waiting for its prefix. */
  #headerLength = -1;
  #bodyLength = 0;
  #failed = null;

  constructor(onFrame) {
    this.#onFrame = onFrame;
  }

  /** Bytes received but not yet part of a delivered frame (a prefix already read included). */
  get bufferedBytes() {
    return this.#headerLength < 0 ? this.#buffered : this.#buffered + PREFIX_BYTES;
  }

  push(chunk) {
    if (this.#failed !== null) throw this.#failed;
    if (chunk.length === 0) return;
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    for (;;) {
      if (this.#headerLength < 0) {
        if (this.#buffered < PREFIX_BYTES) return;
        this.#readPrefix();
      }
      if (this.#buffered < this.#headerLength + this.#bodyLength) return;
      const header = this.#readHeader(this.#headerLength);
      const body = this.#take(this.#bodyLength);
      this.#headerLength = -1;
      // Last: a callback that throws leaves the decoder consistent, at the next frame.
      this.#onFrame(header, body);
    }
  }

  #readPrefix() {
    const first = this.#chunks[0];
    let headerLength;
    let bodyLength;
    if (first.length - this.#offset >= PREFIX_BYTES) {
      // Read in place: no view or copy for the 8 bytes.
      headerLength = first.readUInt32BE(this.#offset);
      bodyLength = first.readUInt32BE(this.#offset + 4);
      this.#skip(first, PREFIX_BYTES);
    } else {
      const prefix = this.#take(PREFIX_BYTES);
      headerLength = prefix.readUInt32BE(0);
      bodyLength = prefix.readUInt32BE(4);
    }
    if (headerLength > MAX_HEADER_BYTES) {
      this.#fail(`frame header of ${headerLength} bytes exceeds ${MAX_HEADER_BYTES}`);
    }
    if (bodyLength > MAX_BODY_BYTES) this.#fail(`frame body of ${bodyLength} bytes exceeds ${MAX_BODY_BYTES}`);
    this.#headerLength = headerLength;
    this.#bodyLength = bodyLength;
  }

  #readHeader(n) {
    const bytes = this.#take(n);
    // toString() would turn bytes that are not UTF-8 into U+FFFD and carry on; the protocol
    // (and Python's decoder) says such a header is malformed.
    if (!isUtf8(bytes)) this.#fail('frame header is not valid UTF-8');
    let value;
    try {
      value = JSON.parse(bytes.toString('utf8'));
    } catch {
      this.#fail('frame header is not valid JSON');
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      this.#fail('frame header is not a JSON object');
    }
    if (typeof value.type !== 'string') this.#fail('frame header has no string "type"');
    return value;
  }

  /** Drops the buffered bytes and stays failed with this error. */
  #fail(message) {
    this.#failed = new FrameError(message);
    this.#chunks = [];
    this.#offset = 0;
    this.#buffered = 0;
    throw this.#failed;
  }

  /** Moves past n bytes of `first` (= #chunks[0]; n no more than what is left of it). */
  #skip(first, n) {
    this.#buffered -= n;
    if (first.length - this.#offset === n) {
      this.#chunks.shift();
      this.#offset = 0;
    } else {
      this.#offset += n;
    }
  }

  /** Removes n buffered bytes (n <= #buffered): a view when they sit in one chunk, else a copy. */
  #take(n) {
    if (n === 0) return EMPTY;
    const first = this.#chunks[0];
    const offset = this.#offset;
    if (first.length - offset >= n) {
      this.#skip(first, n);
      return first.subarray(offset, offset + n);
    }
    this.#buffered -= n;
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const chunk = this.#chunks[0];
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

module.exports = {
  MAX_HEADER_BYTES,
  MAX_BODY_BYTES,
  PREFIX_BYTES,
  INLINE_BODY_BYTES,
  FrameError,
  FrameDecoder,
  encodeFrame,
  writeFrame,
};
