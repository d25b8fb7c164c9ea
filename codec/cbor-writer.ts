/**
 * The CBOR encoder of wire format version 1. Messages are written as positional arrays (see
 * layout.ts) with the shortest heads (RFC 8949 §4.2.1 preferred serialization): integers as
 * major type 0 up to 2^53 - 1, strings as UTF-8 text, payloads as plain byte strings (never
 * tag 64), and no maps, tags or floats, which is exactly what cbor-scan.ts admits.
 *
 * Why not cbor-x's Encoder: it dispatches every byte string through a chain of `instanceof`
 * checks for its extensions, about 300 ns each (measured with cbor-x 1.6.9), which alone held
 * a 100-entry AppendEntries under 26,000 encodes per second. Writing our fixed layout
 * directly takes two cheap passes (size, then bytes) and one exact allocation. Decoding still
 * goes through cbor-x, and the tests check that cbor-x's own encoding of the same arrays
 * decodes to the same messages.
 */
import { Buffer } from 'node:buffer';
import type { ClusterConfiguration, LogEntry } from '../contracts/log.js';
import {
  isRequest,
  type AppendEntriesRequest,
  type RequestMessage,
  type ResponseMessage,
  type RpcMessage,
} from '../contracts/messages.js';
import { invariant, unreachable } from './checks.js';
import type { SlabAllocator } from './slab-allocator.js';
import { ENTRY_TYPE_CODE, FIELD_ORDER, FORWARD_KIND_CODE, MESSAGE_TYPE_CODE, WIRE_VERSION } from './layout.js';

const MAJOR_UINT = 0;
const MAJOR_BYTES = 2;
const MAJOR_TEXT = 3;
const MAJOR_ARRAY = 4;
const FALSE = 0xf4;
const TRUE = 0xf5;
const NULL = 0xf6;
const TWO_POW_32 = 0x1_0000_0000;

/** Receives the data items of one message in order: the size pass and the write pass. */
interface CborSink {
  head(major: number, argument: number): void;
  bytes(value: Uint8Array): void;
  text(value: string): void;
  simple(byte: number): void;
}

function headSize(argument: number): number {
  if (argument < 24) return 1;
  if (argument < 0x100) return 2;
  if (argument < 0x10000) return 3;
  return argument < TWO_POW_32 ? 5 : 9;
}

/** Counts the bytes a message will take. */
class CborSizer implements CborSink {
  size = 0;

  head(_major: number, argument: number): void {
    this.size += headSize(argument);
  }

  bytes(value: Uint8Array): void {
    this.size += headSize(value.byteLength) + value.byteLength;
  }

  text(value: string): void {
    const length = Buffer.byteLength(value, 'utf8');
    this.size += headSize(length) + length;
  }

  simple(): void {
    this.size += 1;
  }
}

/** Writes `word` (below 2^32) big-endian at `at`; returns the offset after it. */
function writeWord(out: Buffer, at: number, word: number): number {
  out[at] = word >>> 24;
  out[at + 1] = (word >>> 16) & 0xff;
  out[at + 2] = (word >>> 8) & 0xff;
  out[at + 3] = word & 0xff;
  return at + 4;
}

/**
 * Byte strings of at least this many bytes are pieces of their own in an encoding as parts
 * (cborWriteParts): below it, a piece would cost more than the copy it saves.
 */
export const CBOR_PART_BYTES_MIN = 1024;

/**
 * Writes a message into a buffer of exactly the size the sizer counted; with `parts`, the byte
 * strings of CBOR_PART_BYTES_MIN or more are left out of `out` (their heads stay) and pushed to
 * `parts` as they are, between the pieces of `out` around them.
 */
class CborByteWriter implements CborSink {
  readonly out: Buffer;
  offset = 0;
  /** Where the piece of `out` not yet pushed to `parts` starts. */
  private partStart = 0;

  constructor(
    out: Buffer,
    private readonly parts: Uint8Array[] | null = null,
  ) {
    this.out = out;
  }

  /** The pieces of an encoding as parts, once the whole message is written. */
  finishParts(): Uint8Array[] {
    invariant(this.parts !== null, 'a writer of parts');
    if (this.offset > this.partStart) this.parts.push(this.out.subarray(this.partStart, this.offset));
    return this.parts;
  }

  head(major: number, argument: number): void {
    // Byte stores rather than Buffer#writeUInt32BE, whose argument checks cost more than the
    // store itself on this hot path (measured).
    const out = this.out;
    const type = major << 5;
    let at = this.offset;
    if (argument < 24) {
      out[at++] = type | argument;
    } else if (argument < 0x100) {
      out[at++] = type | 24;
      out[at++] = argument;
    } else if (argument < 0x10000) {
      out[at++] = type | 25;
      out[at++] = argument >>> 8;
      out[at++] = argument & 0xff;
    } else if (argument < TWO_POW_32) {
      out[at++] = type | 26;
      at = writeWord(out, at, argument);
    } else {
      out[at++] = type | 27;
      at = writeWord(out, at, Math.floor(argument / TWO_POW_32));
      at = writeWord(out, at, argument % TWO_POW_32);
    }
    this.offset = at;
  }

  bytes(value: Uint8Array): void {
    this.head(MAJOR_BYTES, value.byteLength);
    if (this.parts !== null && value.byteLength >= CBOR_PART_BYTES_MIN) {
      this.parts.push(this.out.subarray(this.partStart, this.offset), value);
      this.partStart = this.offset;
      return;
    }
    this.out.set(value, this.offset);
    this.offset += value.byteLength;
  }

  text(value: string): void {
    this.head(MAJOR_TEXT, Buffer.byteLength(value, 'utf8'));
    this.offset += this.out.write(value, this.offset, 'utf8');
  }

  simple(byte: number): void {
    this.out[this.offset++] = byte;
  }
}

function uint(s: CborSink, value: number): void {
  s.head(MAJOR_UINT, value);
}

function bool(s: CborSink, value: boolean): void {
  s.simple(value ? TRUE : FALSE);
}

function nodeIds(s: CborSink, ids: readonly string[] | null): void {
  if (ids === null) {
    s.simple(NULL);
    return;
  }
  s.head(MAJOR_ARRAY, ids.length);
  for (const id of ids) s.text(id);
}

/** The encoded size of a list of entries, computed directly: entries dominate large messages. */
function entriesSize(list: readonly LogEntry[]): number {
  let size = headSize(list.length);
  for (const entry of list) {
    const length = entry.command.byteLength;
    // An entry is a 4-item array head, term, index, a one-byte type code and the command.
    size += 2 + headSize(entry.term) + headSize(entry.index) + headSize(length) + length;
  }
  return size;
}

function entries(s: CborSink, list: readonly LogEntry[]): void {
  if (s instanceof CborSizer) {
    s.size += entriesSize(list);
    return;
  }
  s.head(MAJOR_ARRAY, list.length);
  for (const entry of list) {
    s.head(MAJOR_ARRAY, 4);
    uint(s, entry.term);
    uint(s, entry.index);
    uint(s, ENTRY_TYPE_CODE[entry.type]);
    s.bytes(entry.command);
  }
}

function configuration(s: CborSink, config: ClusterConfiguration): void {
  const witnesses = config.witnesses ?? [];
  // The optional fifth item is written only when there is a witness (layout.ts).
  s.head(MAJOR_ARRAY, witnesses.length === 0 ? 4 : 5);
  nodeIds(s, config.voters);
  nodeIds(s, config.learners);
  nodeIds(s, config.oldVoters);
  s.head(MAJOR_ARRAY, config.members.length);
  for (const member of config.members) {
    s.head(MAJOR_ARRAY, 2);
    s.text(member.id);
    s.text(member.address);
  }
  if (witnesses.length > 0) nodeIds(s, witnesses);
}

/** Writes the fields of request `m` in the order of FIELD_ORDER (the decoder reads them by that table). */
function requestBody(s: CborSink, m: RequestMessage): void {
  switch (m.type) {
    case 'RequestVoteRequest':
    case 'PreVoteRequest':
      uint(s, m.term);
      s.text(m.candidateId);
      uint(s, m.lastLogIndex);
      uint(s, m.lastLogTerm);
      if (m.type === 'RequestVoteRequest') bool(s, m.transfer);
      return;
    case 'AppendEntriesRequest':
      uint(s, m.term);
      s.text(m.leaderId);
      uint(s, m.prevLogIndex);
      uint(s, m.prevLogTerm);
      entries(s, m.entries);
      uint(s, m.leaderCommit);
      return;
    case 'InstallSnapshotRequest':
      uint(s, m.term);
      s.text(m.leaderId);
      uint(s, m.lastIncludedIndex);
      uint(s, m.lastIncludedTerm);
      uint(s, m.offset);
      s.bytes(m.data);
      bool(s, m.done);
      uint(s, m.totalBytes);
      configuration(s, m.configuration);
      return;
    case 'TimeoutNowRequest':
      uint(s, m.term);
      s.text(m.leaderId);
      return;
    case 'ClientForwardRequest':
      s.text(m.sourceId);
      uint(s, FORWARD_KIND_CODE[m.kind]);
      s.bytes(m.payload);
      uint(s, m.timeoutMs);
      return;
    default:
      unreachable(m);
  }
}

function uintOrNull(s: CborSink, value: number | null): void {
  if (value === null) s.simple(NULL);
  else uint(s, value);
}

/** Writes the fields of response `m` in the order of FIELD_ORDER. */
function responseBody(s: CborSink, m: ResponseMessage): void {
  switch (m.type) {
    case 'RequestVoteResponse':
    case 'PreVoteResponse':
      uint(s, m.term);
      bool(s, m.voteGranted);
      return;
    case 'AppendEntriesResponse':
      uint(s, m.term);
      bool(s, m.success);
      uintOrNull(s, m.conflictIndex);
      uintOrNull(s, m.conflictTerm);
      uint(s, m.lastLogIndex);
      return;
    case 'InstallSnapshotResponse':
      uint(s, m.term);
      uint(s, m.bytesStored);
      return;
    case 'TimeoutNowResponse':
      uint(s, m.term);
      return;
    case 'ClientForwardResponse':
      s.text(m.code);
      s.text(m.message);
      if (m.leaderHint === null) s.simple(NULL);
      else s.text(m.leaderHint);
      s.bytes(m.result);
      return;
    default:
      unreachable(m);
  }
}

function message(s: CborSink, m: RpcMessage): void {
  s.head(MAJOR_ARRAY, 2 + FIELD_ORDER[m.type].length);
  uint(s, WIRE_VERSION);
  uint(s, MESSAGE_TYPE_CODE[m.type]);
  if (isRequest(m)) requestBody(s, m);
  else responseBody(s, m);
}

/** The encoded size of `m`, in bytes. `m` must already be checked (checkMessage). */
export function cborSize(m: RpcMessage): number {
  const sizer = new CborSizer();
  message(sizer, m);
  return sizer.size;
}

/** Encodes `m`, whose encoded size is `size` (from cborSize), into a buffer from `allocator`. */
export function cborWrite(m: RpcMessage, size: number, allocator: SlabAllocator): Buffer {
  const writer = new CborByteWriter(allocator.allocate(size));
  message(writer, m);
  invariant(writer.offset === size, 'the CBOR writer fills exactly the size the sizer counted');
  return writer.out;
}

/** Bytes of `entries`' commands that an encoding as parts leaves out of its own buffer. */
export function partBytesOf(entries: readonly LogEntry[]): number {
  let bytes = 0;
  for (const entry of entries) if (entry.command.byteLength >= CBOR_PART_BYTES_MIN) bytes += entry.command.byteLength;
  return bytes;
}

/**
 * Encodes `m` (size `size`, from cborSize; `partBytes`, from partBytesOf) as parts: pieces whose
 * concatenation is cborWrite's bytes, each command of CBOR_PART_BYTES_MIN or more being a piece of
 * its own, the entry's own object (not copied), and the rest written into one buffer from
 * `allocator` that the other pieces are views of. So an AppendEntries of large commands costs a
 * buffer of its heads, not a copy of every command, per follower it goes to.
 */
export function cborWriteParts(
  m: AppendEntriesRequest,
  size: number,
  partBytes: number,
  allocator: SlabAllocator,
): Uint8Array[] {
  const own = size - partBytes;
  const writer = new CborByteWriter(allocator.allocate(own), []);
  message(writer, m);
  invariant(writer.offset === own, 'the CBOR writer fills exactly the size the sizer counted, less the parts');
  return writer.finishParts();
}
