/**
 * Writing a backup (backup-format.ts) from a frozen state, a chunk at a time: the agent holds
 * the frozen view of the keys (two pointers per key, agent/kv/store.ts `entryColumns`), the
 * bounded parts already encoded (sessions, request ids, history, trust image: each bounded by
 * its own limit) and one chunk, never the whole image. Each key is encoded when the chunk that
 * carries it is asked for. A SHA-256 runs over every byte produced; the trailer carries it.
 */
import { createHash, type Hash } from 'node:crypto';
import { assert } from '../../contracts/assert.js';
import { encodeKvEntry, type KvSnapshotParts } from '../kv/index.js';
import { encodeTrustImage } from '../trust/trust-codec.js';
import type { TrustedStateMachine } from '../trust/trusted-state-machine.js';
import {
  encodeBackupHeader,
  encodeFrameHeader,
  encodeTrailerStart,
  FRAME_BYTES_MAX,
  FRAME_HEADER_BYTES,
  FRAME_KIND,
  TRAILER_BYTES,
  type BackupHeader,
} from './backup-format.js';

/** The state machine at one index, frozen: what a backup is written from. */
export interface FrozenState {
  /** The index the state is at (every entry up to it applied, none after). */
  readonly index: number;
  readonly revision: number;
  readonly keyCount: number;
  readonly dataBytes: number;
  readonly kv: KvSnapshotParts;
  /** The trust image, encoded (bounded: agent/trust/trust-state.ts limits). */
  readonly trust: Uint8Array;
}

/**
 * Freezes the state machine as it is now. Synchronous, so it sees the state between two applied
 * entries (the node applies a Ready's entries without yielding), and cheap: the keys are a view.
 */
export function freezeState(stateMachine: TrustedStateMachine): FrozenState {
  const kv = stateMachine.kv.snapshotParts();
  const stats = stateMachine.kv.stats();
  return {
    index: stats.lastApplied,
    revision: stateMachine.kv.revision,
    keyCount: stats.keyCount,
    dataBytes: stats.dataBytes,
    kv,
    trust: encodeTrustImage(stateMachine.trust.image()),
  };
}

type Piece = readonly [kind: number, bytes: Uint8Array];

/** The sections' bytes in file order: the KV image (prefix, each key, suffix), then the trust image. */
function* pieces(state: FrozenState): Generator<Piece> {
  yield [FRAME_KIND.kv, state.kv.prefix];
  for (let i = 0; i < state.kv.entries.keys.length; i += 1) yield [FRAME_KIND.kv, encodeKvEntry(state.kv, i)];
  yield [FRAME_KIND.kv, state.kv.suffix];
  yield [FRAME_KIND.trust, state.trust];
}

/** Produces a backup file's bytes in chunks of about `chunkBytes`; see the module comment. */
export class BackupStream {
  private readonly hash: Hash = createHash('sha256');
  private readonly source: Iterator<Piece>;
  /** The rest of a piece that did not fit the last frame, or the first piece of the next kind. */
  private carry: Piece | null = null;
  private header: Uint8Array | null;
  private finished = false;
  /** Bytes produced so far. */
  private produced = 0;

  constructor(
    header: BackupHeader,
    state: FrozenState,
    private readonly chunkBytes: number,
  ) {
    assert(Number.isSafeInteger(chunkBytes) && chunkBytes >= 64, 'a chunk holds a frame header and some bytes');
    assert(header.index === state.index, 'the header names the index of the state');
    this.header = encodeBackupHeader(header);
    this.source = pieces(state);
  }

  /** Bytes produced so far. */
  get bytes(): number {
    return this.produced;
  }

  /** The next chunk of the file, or null once the trailer was produced. */
  next(): Uint8Array | null {
    if (this.finished) return null;
    const out: Uint8Array[] = [];
    let outBytes = 0;
    if (this.header !== null) {
      out.push(this.header);
      outBytes += this.header.length;
      this.header = null;
    }
    while (outBytes + FRAME_HEADER_BYTES < this.chunkBytes) {
      const room = Math.min(FRAME_BYTES_MAX, this.chunkBytes - outBytes - FRAME_HEADER_BYTES);
      const frame = this.takeFrame(room);
      if (frame === null) {
        out.push(encodeFrameHeader(FRAME_KIND.end, 0));
        outBytes += FRAME_HEADER_BYTES;
        this.finished = true;
        break;
      }
      out.push(encodeFrameHeader(frame.kind, frame.body.length), frame.body);
      outBytes += FRAME_HEADER_BYTES + frame.body.length;
    }
    const chunk = Buffer.concat(out, outBytes);
    this.hash.update(chunk);
    this.produced += chunk.length;
    if (!this.finished) return chunk;
    const trailerStart = encodeTrailerStart(this.produced + TRAILER_BYTES);
    this.hash.update(trailerStart);
    const trailer = Buffer.concat([trailerStart, this.hash.digest()]);
    this.produced += trailer.length;
    return Buffer.concat([chunk, trailer]);
  }

  private nextPiece(): Piece | null {
    if (this.carry !== null) {
      const piece = this.carry;
      this.carry = null;
      return piece;
    }
    const next = this.source.next();
    return next.done === true ? null : next.value;
  }

  /** Up to `room` bytes of pieces of one kind, as one frame's body; null when every piece is out. */
  private takeFrame(room: number): { readonly kind: number; readonly body: Buffer } | null {
    assert(room > 0, 'a frame has room');
    const parts: Uint8Array[] = [];
    let kind: number | null = null;
    let bytes = 0;
    while (bytes < room) {
      const piece = this.nextPiece();
      if (piece === null) break;
      if (kind !== null && piece[0] !== kind) {
        this.carry = piece;
        break;
      }
      kind = piece[0];
      const data = piece[1];
      if (data.length > room - bytes) {
        parts.push(data.subarray(0, room - bytes));
        this.carry = [kind, data.subarray(room - bytes)];
        bytes = room;
        break;
      }
      parts.push(data);
      bytes += data.length;
    }
    return kind === null ? null : { kind, body: Buffer.concat(parts, bytes) };
  }
}
