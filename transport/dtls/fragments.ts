/**
 * Handshake message framing of DTLS (RFC 6347 §4.2.3): every handshake message carries its
 * message_seq, and may be split into fragments that each fit one record. This file encodes and
 * splits outgoing messages, parses the fragments of a record, and reassembles incoming ones in
 * message_seq order, with limits on message size and on how far ahead it buffers.
 */
import { ByteReader, ByteWriter, tryDecode } from './bytes.js';
import { HANDSHAKE_HEADER_BYTES } from './constants.js';
import { assert } from '../../contracts/assert.js';

/** One handshake fragment as it arrived; `body` is a view into the record. */
export interface HandshakeFragment {
  readonly msgType: number;
  readonly length: number;
  readonly messageSeq: number;
  readonly fragmentOffset: number;
  readonly body: Uint8Array;
}

/** A complete handshake message. */
export interface HandshakeMessage {
  readonly msgType: number;
  readonly messageSeq: number;
  readonly body: Uint8Array;
}

/** Parses the handshake fragments of one record's plaintext; null when malformed. */
export function parseHandshakeFragments(plaintext: Uint8Array, fragmentsMax: number): HandshakeFragment[] | null {
  const parsed = tryDecode(() => {
    const reader = new ByteReader(plaintext);
    const fragments: HandshakeFragment[] = [];
    while (reader.remaining() > 0 && fragments.length < fragmentsMax) {
      const msgType = reader.uint8();
      const length = reader.uint24();
      const messageSeq = reader.uint16();
      const fragmentOffset = reader.uint24();
      const body = reader.bytesView(reader.uint24());
      fragments.push({ msgType, length, messageSeq, fragmentOffset, body });
    }
    return reader.remaining() === 0 ? fragments : null;
  });
  if (parsed === null) return null;
  for (const f of parsed) if (f.fragmentOffset + f.body.length > f.length) return null;
  return parsed;
}

/** Encodes one fragment of a message of `length` bytes: header plus `body`. */
export function encodeHandshakeFragment(
  msgType: number,
  length: number,
  messageSeq: number,
  fragmentOffset: number,
  body: Uint8Array,
): Uint8Array {
  assert(fragmentOffset + body.length <= length, 'fragment lies inside its message');
  return new ByteWriter(HANDSHAKE_HEADER_BYTES + body.length)
    .uint8(msgType)
    .uint24(length)
    .uint16(messageSeq)
    .uint24(fragmentOffset)
    .uint24(body.length)
    .raw(body)
    .finish();
}

/**
 * A whole message as one fragment. The handshake transcript hashes exactly these bytes: RFC
 * 6347 §4.2.6 hashes every message as if it had been sent unfragmented.
 */
export function encodeHandshakeMessage(message: HandshakeMessage): Uint8Array {
  return encodeHandshakeFragment(message.msgType, message.body.length, message.messageSeq, 0, message.body);
}

/** Splits a message into fragments of at most `fragmentBodyBytesMax` body bytes each. */
export function fragmentHandshakeMessage(message: HandshakeMessage, fragmentBodyBytesMax: number): Uint8Array[] {
  assert(fragmentBodyBytesMax > 0, 'fragments carry at least one byte');
  const { msgType, messageSeq, body } = message;
  if (body.length <= fragmentBodyBytesMax) return [encodeHandshakeMessage(message)];
  const fragments: Uint8Array[] = [];
  for (let offset = 0; offset < body.length; offset += fragmentBodyBytesMax) {
    const part = body.subarray(offset, Math.min(body.length, offset + fragmentBodyBytesMax));
    fragments.push(encodeHandshakeFragment(msgType, body.length, messageSeq, offset, part));
  }
  return fragments;
}

interface PartialMessage {
  readonly msgType: number;
  readonly body: Uint8Array;
  readonly covered: Uint8Array;
  coveredBytes: number;
}

/** Limits of a {@link HandshakeReassembler}. */
export interface ReassemblyLimits {
  /** Largest handshake message accepted, in bytes. */
  readonly messageBytesMax: number;
  /** How many message_seq values past the next expected one are buffered. */
  readonly messagesAheadMax: number;
}

/** What {@link HandshakeReassembler.add} did with a fragment. */
export type AddResult = 'accepted' | 'old' | 'too-far' | 'invalid';

/** Reassembles handshake messages of one handshake, in message_seq order. */
export class HandshakeReassembler {
  // Invariant: every key of `partial` is in [nextSeq, nextSeq + messagesAheadMax].
  private readonly partial = new Map<number, PartialMessage>();
  private expected: number;

  constructor(
    private readonly limits: ReassemblyLimits,
    nextSeq = 0,
  ) {
    assert(limits.messageBytesMax > 0, 'messageBytesMax is positive');
    assert(limits.messagesAheadMax >= 0, 'messagesAheadMax is not negative');
    this.expected = nextSeq;
  }

  /** The message_seq of the next message to be delivered. */
  nextSeq(): number {
    return this.expected;
  }

  /** Adds a fragment: 'old' means a retransmission of an already delivered message. */
  add(fragment: HandshakeFragment): AddResult {
    const { messageSeq, length, fragmentOffset, body } = fragment;
    if (messageSeq < this.expected) return 'old';
    if (messageSeq > this.expected + this.limits.messagesAheadMax) return 'too-far';
    if (length > this.limits.messageBytesMax) return 'invalid';
    let entry = this.partial.get(messageSeq);
    if (entry === undefined && fragmentOffset === 0 && body.length === length) {
      // The common case: an unfragmented message needs no coverage map.
      this.partial.set(messageSeq, {
        msgType: fragment.msgType,
        body: Uint8Array.from(body),
        covered: new Uint8Array(0),
        coveredBytes: length,
      });
      return 'accepted';
    }
    if (entry === undefined) {
      entry = {
        msgType: fragment.msgType,
        body: new Uint8Array(length),
        covered: new Uint8Array(length),
        coveredBytes: 0,
      };
      this.partial.set(messageSeq, entry);
    } else if (entry.msgType !== fragment.msgType || entry.body.length !== length) {
      return 'invalid';
    } else if (entry.coveredBytes === length) {
      return 'accepted';
    }
    entry.body.set(body, fragmentOffset);
    for (let i = fragmentOffset; i < fragmentOffset + body.length; i += 1) {
      if (entry.covered[i] === 0) {
        entry.covered[i] = 1;
        entry.coveredBytes += 1;
      }
    }
    assert(entry.coveredBytes <= length, 'coverage never exceeds the message');
    return 'accepted';
  }

  /** Removes and returns the next message if it is complete; null otherwise. */
  next(): HandshakeMessage | null {
    const entry = this.partial.get(this.expected);
    if (entry === undefined || entry.coveredBytes !== entry.body.length) return null;
    this.partial.delete(this.expected);
    const message = { msgType: entry.msgType, messageSeq: this.expected, body: entry.body };
    this.expected += 1;
    return message;
  }

  /** Forgets everything buffered and expects `nextSeq` next. */
  reset(nextSeq: number): void {
    this.partial.clear();
    this.expected = nextSeq;
  }

  /** Bytes currently buffered (for limits and tests). */
  bufferedBytes(): number {
    let total = 0;
    for (const entry of this.partial.values()) total += entry.body.length;
    return total;
  }
}
