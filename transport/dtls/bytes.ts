/**
 * Bounds-checked reading and writing of TLS wire structures (RFC 5246 §4: big-endian
 * integers, length-prefixed vectors). A reader that runs past its end throws `DecodeError`,
 * which the parse functions turn into a `null` result at the message boundary; nothing that
 * arrives from the network can make a reader touch memory outside its view.
 */
import { assert } from '../../contracts/assert.js';

/** Thrown by {@link ByteReader} on malformed input; caught by {@link tryDecode}. */
export class DecodeError extends Error {
  override get name(): string {
    return 'DecodeError';
  }
}

/** Runs `decode` and returns null when the input is malformed; other errors propagate. */
export function tryDecode<T>(decode: () => T): T | null {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) return null;
    throw error;
  }
}

/** Reads big-endian integers and vectors from a byte view, never past its end. */
export class ByteReader {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  /** Bytes not yet read. */
  remaining(): number {
    return this.bytes.length - this.offset;
  }

  /** Throws DecodeError unless every byte has been read. */
  expectEnd(): void {
    if (this.offset !== this.bytes.length) throw new DecodeError('trailing bytes');
  }

  private need(count: number): number {
    if (count > this.bytes.length - this.offset) throw new DecodeError('truncated');
    const at = this.offset;
    this.offset += count;
    return at;
  }

  uint8(): number {
    const at = this.need(1);
    return this.bytes[at] ?? 0;
  }

  uint16(): number {
    const at = this.need(2);
    return ((this.bytes[at] ?? 0) << 8) | (this.bytes[at + 1] ?? 0);
  }

  uint24(): number {
    const at = this.need(3);
    return ((this.bytes[at] ?? 0) << 16) | ((this.bytes[at + 1] ?? 0) << 8) | (this.bytes[at + 2] ?? 0);
  }

  uint48(): number {
    const high = this.uint16();
    const low = this.uint32();
    return high * 0x1_0000_0000 + low;
  }

  uint32(): number {
    const high = this.uint16();
    return high * 0x1_0000 + this.uint16();
  }

  /** A view of the next `count` bytes (no copy). */
  bytesView(count: number): Uint8Array {
    const at = this.need(count);
    return this.bytes.subarray(at, at + count);
  }

  /** A vector with a 1-byte length prefix, at most `max` bytes. */
  vector8(max = 0xff): Uint8Array {
    const length = this.uint8();
    if (length > max) throw new DecodeError('vector too long');
    return this.bytesView(length);
  }

  /** A vector with a 2-byte length prefix, at most `max` bytes. */
  vector16(max = 0xffff): Uint8Array {
    const length = this.uint16();
    if (length > max) throw new DecodeError('vector too long');
    return this.bytesView(length);
  }
}

/** Writes big-endian integers and vectors into a fixed-size buffer. */
export class ByteWriter {
  private offset = 0;
  private readonly bytes: Uint8Array;

  constructor(size: number) {
    assert(Number.isSafeInteger(size) && size >= 0, 'writer size is a non-negative integer');
    this.bytes = new Uint8Array(size);
  }

  private take(count: number): number {
    assert(this.offset + count <= this.bytes.length, 'writer stays within its buffer');
    const at = this.offset;
    this.offset += count;
    return at;
  }

  uint8(value: number): this {
    assert(value >= 0 && value <= 0xff, 'uint8 in range');
    this.bytes[this.take(1)] = value;
    return this;
  }

  uint16(value: number): this {
    assert(value >= 0 && value <= 0xffff, 'uint16 in range');
    const at = this.take(2);
    this.bytes[at] = value >>> 8;
    this.bytes[at + 1] = value & 0xff;
    return this;
  }

  uint24(value: number): this {
    assert(value >= 0 && value <= 0xff_ffff, 'uint24 in range');
    const at = this.take(3);
    this.bytes[at] = value >>> 16;
    this.bytes[at + 1] = (value >>> 8) & 0xff;
    this.bytes[at + 2] = value & 0xff;
    return this;
  }

  uint48(value: number): this {
    assert(Number.isSafeInteger(value) && value >= 0 && value < 2 ** 48, 'uint48 in range');
    const high = Math.floor(value / 0x1_0000_0000);
    const low = value - high * 0x1_0000_0000;
    this.uint16(high);
    this.uint16(low >>> 16);
    return this.uint16(low & 0xffff);
  }

  raw(data: Uint8Array): this {
    this.bytes.set(data, this.take(data.length));
    return this;
  }

  vector8(data: Uint8Array): this {
    return this.uint8(data.length).raw(data);
  }

  vector16(data: Uint8Array): this {
    return this.uint16(data.length).raw(data);
  }

  /** The written bytes; asserts the buffer was filled exactly. */
  finish(): Uint8Array {
    assert(this.offset === this.bytes.length, 'writer filled exactly');
    return this.bytes;
  }
}

/** Concatenates byte arrays into a new one. */
export function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  let total = 0;
  for (const part of parts) total += part.length;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
