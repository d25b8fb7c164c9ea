/**
 * A snapshot image encoded a chunk at a time from a captured view of the state (state-machine.ts
 * `captureSnapshot`), so that the runtime encodes it in bounded steps off the Ready loop while
 * entries go on being applied, and hands storage chunks instead of one whole-image buffer
 * (issues 16 and 17). The view is {@link KvSnapshotParts}: everything but the keys encoded at the
 * capture, and the keys as frozen columns whose values are never changed in place (store.ts: a
 * write stores a new object with its own copy of the value). The bytes are exactly those of
 * `snapshot()` at the capture, however the chunks fall (test/agent/kv/snapshot-stream.test.ts).
 */
import { Buffer } from 'node:buffer';
import { assert } from '../../contracts/assert.js';
import type { SnapshotEncoder } from '../../contracts/state-machine.js';
import { directEntryBytes, writeEntryDirect } from './snapshot-bytes.js';
import { encodeKvEntry } from './snapshot.js';
import { kvSnapshotParts } from './snapshot.js';
import type { KvSnapshotParts, KvSnapshotSource } from './snapshot.js';

/** Entries {@link KvSnapshotPiece.measure} measures in one step of an encoder. */
export const MEASURE_ENTRIES_PER_STEP = 4096;

/** A part of an image that writes itself into chunks, in order. */
export interface ImagePiece {
  /** Writes the next bytes into `out` from `at`, until `out` is full or the piece ends; returns where they end. */
  fill(out: Uint8Array, at: number): number;
  /** True once every byte of the piece was written. */
  readonly done: boolean;
}

/** Bytes already encoded, as a piece. */
export class BytesPiece implements ImagePiece {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array) {}

  get done(): boolean {
    return this.offset >= this.bytes.byteLength;
  }

  fill(out: Uint8Array, at: number): number {
    const take = Math.min(out.byteLength - at, this.bytes.byteLength - this.offset);
    out.set(this.bytes.subarray(this.offset, this.offset + take), at);
    this.offset += take;
    return at + take;
  }
}

/**
 * The KV image of captured parts, as a piece: the prefix, each entry (framed by hand into the
 * chunk, or encoded alone and copied across the chunk's end when it does not fit), the suffix.
 * It can also measure its exact size beforehand, a bounded step at a time (a node state frames
 * the KV image as a byte string, whose head holds its length).
 */
export class KvSnapshotPiece implements ImagePiece {
  private readonly prefix: BytesPiece;
  private readonly suffix: BytesPiece;
  /** The next entry to write. Invariant: entries before it are written or in `pending`. */
  private nextEntry = 0;
  /** An entry encoded alone that did not fit the chunk it started in. */
  private pending: BytesPiece | null = null;
  private measuredCount = 0;
  private measuredBytes = 0;

  constructor(private readonly parts: KvSnapshotParts) {
    assert(parts.prefix.byteLength > 0, 'a snapshot image has a prefix');
    assert(parts.suffix.byteLength > 0, 'a snapshot image has a suffix');
    this.prefix = new BytesPiece(parts.prefix);
    this.suffix = new BytesPiece(parts.suffix);
  }

  /** Measures up to `count` more entries; true once every entry is measured ({@link totalBytes} is then known). */
  measure(count: number): boolean {
    const keyCount = this.parts.entries.keys.length;
    const end = Math.min(keyCount, this.measuredCount + count);
    for (let i = this.measuredCount; i < end; i += 1) {
      const direct = directEntryBytes(this.parts, i);
      this.measuredBytes += direct >= 0 ? direct : encodeKvEntry(this.parts, i).byteLength;
    }
    this.measuredCount = end;
    return end === keyCount;
  }

  /** The image's exact size, bytes; every entry must have been measured. */
  get totalBytes(): number {
    assert(this.measuredCount === this.parts.entries.keys.length, 'every entry is measured before the size is read');
    return this.parts.prefix.byteLength + this.measuredBytes + this.parts.suffix.byteLength;
  }

  get done(): boolean {
    return this.suffix.done;
  }

  fill(out: Uint8Array, at: number): number {
    const target = Buffer.from(out.buffer, out.byteOffset, out.byteLength);
    let end = this.prefix.fill(target, at);
    const count = this.parts.entries.keys.length;
    while (end < target.byteLength) {
      if (this.pending !== null) {
        end = this.pending.fill(target, end);
        if (this.pending.done) this.pending = null;
        continue;
      }
      if (this.nextEntry >= count) return this.suffix.fill(target, end);
      const bytes = directEntryBytes(this.parts, this.nextEntry);
      if (bytes >= 0 && bytes <= target.byteLength - end)
        end = writeEntryDirect(this.parts, this.nextEntry, target, end);
      else this.pending = new BytesPiece(this.alone(this.nextEntry, bytes));
      this.nextEntry += 1;
    }
    return end;
  }

  /** Entry `i` encoded on its own (`bytes`: its direct size, or -1 for one cbor-x encodes). */
  private alone(i: number, bytes: number): Uint8Array {
    if (bytes < 0) return encodeKvEntry(this.parts, i);
    const own = Buffer.allocUnsafe(bytes);
    const end = writeEntryDirect(this.parts, i, own, 0);
    assert(end === bytes, 'an entry takes the bytes measured for it');
    return own;
  }
}

/** The bytes of `pieces`, in order, a chunk at a time: the encoder of a captured image. */
export class ImageChunks implements SnapshotEncoder {
  private index = 0;
  /**
   * The buffer every chunk is encoded into (SnapshotEncoder.next: valid until the next call), so that
   * an image costs one chunk of memory rather than its size in buffers that die old, which V8 counts
   * toward its next full collection (issue 16: followers under 64 x 4 KiB).
   */
  private out: Uint8Array | null = null;

  constructor(private readonly pieces: readonly ImagePiece[]) {}

  next(chunkBytes: number): Uint8Array | null {
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes >= 1, 'a chunk holds at least one byte');
    if (this.index >= this.pieces.length) return null;
    if (this.out?.byteLength !== chunkBytes)
      this.out = new Uint8Array(Buffer.allocUnsafeSlow(chunkBytes).buffer, 0, chunkBytes);
    const out = this.out;
    let end = 0;
    for (let piece = this.pieces[this.index]; piece !== undefined; piece = this.pieces[this.index]) {
      end = piece.fill(out, end);
      if (!piece.done) break;
      this.index += 1;
    }
    assert(end === chunkBytes || this.index >= this.pieces.length, 'a chunk is full unless the image ends');
    return end === chunkBytes ? out : out.subarray(0, end);
  }
}

/**
 * An encoder made by its first step, which produces no bytes: the work of making it (encoding the
 * sessions, history and leases of a capture) is then a step of its own, off the capture.
 */
export class DeferredChunks implements SnapshotEncoder {
  private encoder: SnapshotEncoder | null = null;

  constructor(private readonly make: () => SnapshotEncoder) {}

  totalBytes(): number | null {
    return this.encoder?.totalBytes?.() ?? null;
  }

  next(chunkBytes: number): Uint8Array | null {
    if (this.encoder !== null) return this.encoder.next(chunkBytes);
    this.encoder = this.make();
    return new Uint8Array(0);
  }
}

/** The encoder of an image already encoded whole (a state machine without captureSnapshot). */
export function wholeImageChunks(image: Uint8Array): SnapshotEncoder {
  return new ImageChunks(image.byteLength === 0 ? [] : [new BytesPiece(image)]);
}

/** The encoder of a captured KV state (KvStateMachine.captureSnapshot): its parts are encoded by the first step. */
export function kvSnapshotChunks(source: KvSnapshotSource): SnapshotEncoder {
  return new DeferredChunks(() => new ImageChunks([new KvSnapshotPiece(kvSnapshotParts(source))]));
}
