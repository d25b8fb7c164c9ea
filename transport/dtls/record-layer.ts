/**
 * The record layer of one DTLS connection, shared by both roles (RFC 6347 §4.1): epochs 0
 * (plaintext, during the handshake) and 1 (AES-128-CCM-8), 48-bit write sequence numbers per
 * epoch, the anti-replay window of the protected epoch, and the packing of a flight's
 * records into datagrams that fit the handshake MTU budget.
 *
 * Renegotiation is refused, so a connection never goes past epoch 1; a new handshake from the
 * same peer makes a new connection.
 *
 * With connection IDs negotiated (RFC 9146), epoch-1 records to a peer that asked for a CID are
 * tls12_cid records carrying it, their real type inside the encrypted DTLSInnerPlaintext; and
 * once we asked for one, an epoch-1 record without our CID is refused.
 */
import { CcmCipher } from './aead.js';
import {
  AEAD_OVERHEAD_BYTES,
  ContentType,
  DTLS_1_2,
  HANDSHAKE_HEADER_BYTES,
  RECORD_HEADER_BYTES,
  RECORD_PLAINTEXT_BYTES_MAX,
  SEQUENCE_NUMBER_MAX,
} from './constants.js';
import { timingSafeEqual } from 'node:crypto';
import { assert } from '../../contracts/assert.js';
import { parseInnerPlaintext } from './connection-id.js';
import type { ConnectionIds } from './connection-id.js';
import { fragmentHandshakeMessage } from './fragments.js';
import type { HandshakeMessage } from './fragments.js';
import type { TrafficKeys } from './prf.js';
import { encodeRecord, writeRecordHeader } from './record.js';
import type { RawRecord } from './record.js';
import { ReplayWindow } from './replay-window.js';
import type { DropReason } from './stats.js';

/** One element of a handshake flight, kept so the flight can be sent again. */
export type FlightItem =
  | { readonly kind: 'handshake'; readonly epoch: 0 | 1; readonly message: HandshakeMessage }
  | { readonly kind: 'changeCipherSpec' };

/** A record that passed the record layer's checks, its content decrypted. */
export interface OpenedRecord {
  /** The real content type (of a tls12_cid record: the one inside its DTLSInnerPlaintext). */
  readonly type: number;
  readonly epoch: number;
  readonly content: Uint8Array;
  /**
   * Whether this epoch-1 record is the newest authenticated so far (its sequence number beyond
   * every earlier one): only such a record may move a session to a new address (RFC 9146 §6).
   */
  readonly newest: boolean;
}

const NO_CONNECTION_IDS: ConnectionIds = { read: null, write: null };

const CHANGE_CIPHER_SPEC_BODY = Uint8Array.of(1);
const NO_BYTES = new Uint8Array(0);

/** Epoch, sequence and cipher state of one connection. */
export class RecordLayer {
  /** The epoch records are read in: 0 until the peer's ChangeCipherSpec, then 1. */
  readEpoch: 0 | 1 = 0;
  /** The epoch application data and alerts are written in: 1 once our ChangeCipherSpec is out. */
  writeEpoch: 0 | 1 = 0;
  private readonly writeSeq: [number, number] = [0, 0];
  private pendingRead: CcmCipher | null = null;
  private read1: CcmCipher | null = null;
  private write1: CcmCipher | null = null;
  private readonly replay: ReplayWindow;
  private cids: ConnectionIds = NO_CONNECTION_IDS;

  constructor(
    private readonly isClient: boolean,
    replayWindowSize: number,
  ) {
    this.replay = new ReplayWindow(replayWindowSize);
  }

  /** Installs the keys of epoch 1; reading switches at the peer's ChangeCipherSpec. */
  setKeys(keys: TrafficKeys): void {
    assert(this.write1 === null, 'epoch 1 keys are set once');
    const client = new CcmCipher(keys.clientWriteKey, keys.clientWriteIv);
    const server = new CcmCipher(keys.serverWriteKey, keys.serverWriteIv);
    this.write1 = this.isClient ? client : server;
    this.pendingRead = this.isClient ? server : client;
  }

  /** Whether keys are installed and the peer's ChangeCipherSpec is awaited. */
  hasPendingRead(): boolean {
    return this.pendingRead !== null && this.readEpoch === 0;
  }

  /**
   * Sets the connection IDs the handshake negotiated, before epoch 1 is written or read. Empty
   * CIDs mean none.
   */
  setConnectionIds(cids: ConnectionIds): void {
    assert(this.writeEpoch === 0 && this.readEpoch === 0, 'connection IDs are set before epoch 1');
    this.cids = {
      read: cids.read === null || cids.read.length === 0 ? null : cids.read,
      write: cids.write === null || cids.write.length === 0 ? null : cids.write,
    };
  }

  /** The negotiated connection IDs (null fields when none). */
  connectionIds(): ConnectionIds {
    return this.cids;
  }

  /** Largest content one epoch-1 record carries: a byte less with a CID (the inner type takes it). */
  contentBytesMax(): number {
    return RECORD_PLAINTEXT_BYTES_MAX - (this.cids.write === null ? 0 : 1);
  }

  /** Bytes an epoch-1 record adds to its content: header, AEAD, and a CID record's CID and type. */
  recordOverheadBytes(): number {
    const write = this.cids.write;
    return RECORD_HEADER_BYTES + AEAD_OVERHEAD_BYTES + (write === null ? 0 : write.length + 1);
  }

  /** Switches reading to epoch 1 (the peer's ChangeCipherSpec arrived). */
  activateRead(): void {
    assert(this.pendingRead !== null, 'keys exist before reading epoch 1');
    this.read1 = this.pendingRead;
    this.readEpoch = 1;
  }

  /** Switches writing of data and alerts to epoch 1 (our ChangeCipherSpec went out). */
  activateWrite(): void {
    assert(this.write1 !== null, 'keys exist before writing epoch 1');
    this.writeEpoch = 1;
  }

  /** Sets the next epoch-0 write sequence number (the server echoes the ClientHello's). */
  setEpoch0WriteSeq(seq: number): void {
    assert(Number.isSafeInteger(seq) && seq >= 0 && seq <= SEQUENCE_NUMBER_MAX, 'sequence number is 48 bits');
    this.writeSeq[0] = seq;
  }

  /** The sequence number the next record written in `epoch` gets. */
  nextWriteSeq(epoch: 0 | 1): number {
    return this.writeSeq[epoch];
  }

  /** Checks, decrypts and replay-filters one record; a drop reason when it fails. */
  open(raw: RawRecord): OpenedRecord | DropReason {
    if (raw.epoch === 0) {
      // Epoch 0 is plaintext; any {254, x} version is allowed in it (RFC 6347 §4.1).
      if (raw.version >>> 8 !== 0xfe) return 'version';
      if (raw.type === ContentType.applicationData || raw.type === ContentType.tls12Cid) return 'unexpected';
      return { type: raw.type, epoch: 0, content: raw.fragment, newest: false };
    }
    if (raw.epoch !== 1 || this.read1 === null) return 'epoch';
    if (raw.version !== DTLS_1_2) return 'version';
    const cidProblem = this.cidProblem(raw);
    if (cidProblem !== null) return cidProblem;
    if (!this.replay.check(raw.seq)) return 'replay';
    const plaintext = this.read1.open(raw.type, raw.version, raw.epoch, raw.seq, raw.fragment, raw.cid);
    if (plaintext === null) return 'auth';
    const inner = raw.cid === null ? { type: raw.type, content: plaintext } : parseInnerPlaintext(plaintext);
    // An inner plaintext of zeros only has no type (RFC 9146 §4); it authenticated, so the
    // peer sent it: drop it without marking, like any malformed record.
    if (inner === null) return 'malformed';
    const newest = raw.seq > this.replay.highestSeq();
    // RFC 6347 §4.1.2.6: the window moves only for records that authenticated.
    this.replay.mark(raw.seq);
    return { type: inner.type, epoch: 1, content: inner.content, newest };
  }

  /** Why an epoch-1 record's CID (or its lack) is wrong for this connection; null when right. */
  private cidProblem(raw: RawRecord): DropReason | null {
    const expected = this.cids.read;
    if (expected === null) return raw.cid === null ? null : 'unexpected';
    // Once we asked for a CID, records without it are refused (RFC 9146 §3).
    if (raw.cid === null) return 'unexpected';
    return raw.cid.length === expected.length && timingSafeEqual(raw.cid, expected) ? null : 'unknownSession';
  }

  /** Writes one record of `type` in `epoch` with the next sequence number of that epoch. */
  seal(type: number, epoch: 0 | 1, content: Uint8Array, version = DTLS_1_2): Uint8Array {
    const parts = this.sealParts(type, epoch, content, version);
    return parts.length === 1 && parts[0] !== undefined ? parts[0] : Buffer.concat(parts);
  }

  /**
   * Like {@link seal}, as the parts of one datagram, in order (a large epoch-1 record comes as
   * header, ciphertext and tag from the cipher that made them: AesCcm.sealParts), for a socket
   * that sends them without joining them first. The record's content is `content` followed by
   * `rest` (epoch 1 only), which the cipher reads where they are.
   */
  sealParts(
    type: number,
    epoch: 0 | 1,
    content: Uint8Array,
    version = DTLS_1_2,
    rest: Uint8Array = NO_BYTES,
  ): Uint8Array[] {
    const seq = this.writeSeq[epoch];
    // 2^48 records would take years at line rate; running out is a bug, not an operating case.
    assert(seq <= SEQUENCE_NUMBER_MAX, 'sequence numbers of an epoch are not exhausted');
    this.writeSeq[epoch] = seq + 1;
    if (epoch === 0) {
      assert(rest.length === 0, 'an epoch-0 record is one piece');
      return [encodeRecord(type, version, 0, seq, content)];
    }
    assert(this.write1 !== null, 'epoch 1 has keys before it is written');
    const cid = this.cids.write;
    // A record to a peer with a CID is a tls12_cid record, its real type inside the encrypted
    // DTLSInnerPlaintext (content, type, no padding). The cipher leaves room for the header in
    // front of the fragment it makes: no record buffer, the socket takes the parts.
    const recordType = cid === null ? type : ContentType.tls12Cid;
    const innerBytes = content.length + rest.length + (cid === null ? 0 : 1);
    const headerBytes = RECORD_HEADER_BYTES + (cid === null ? 0 : cid.length);
    const innerType = cid === null ? -1 : type;
    const parts = this.write1.sealRecord(headerBytes, recordType, version, 1, seq, content, innerType, cid, rest);
    const fragmentBytes = innerBytes + AEAD_OVERHEAD_BYTES;
    const first = parts[0];
    assert(first !== undefined, 'a sealed record has a first part');
    writeRecordHeader(first, recordType, version, 1, seq, fragmentBytes, cid, headerBytes + fragmentBytes);
    assert(bytesOf(parts) === headerBytes + fragmentBytes, 'the parts hold the whole record');
    return parts;
  }

  /**
   * Encodes a flight into datagrams of at most `datagramBytesMax` bytes, fragmenting
   * handshake messages as needed (RFC 6347 §4.2.3) and packing several records per datagram.
   * Retransmissions call this again, so they get fresh sequence numbers (RFC 6347 §4.2.4).
   */
  encodeFlight(items: readonly FlightItem[], datagramBytesMax: number): Uint8Array[] {
    const records: Uint8Array[] = [];
    for (const item of items) {
      if (item.kind === 'changeCipherSpec') {
        records.push(this.seal(ContentType.changeCipherSpec, 0, CHANGE_CIPHER_SPEC_BODY));
        continue;
      }
      const overhead = HANDSHAKE_HEADER_BYTES + (item.epoch === 1 ? this.recordOverheadBytes() : RECORD_HEADER_BYTES);
      assert(datagramBytesMax > overhead, 'a datagram fits a record with at least one byte');
      for (const fragment of fragmentHandshakeMessage(item.message, datagramBytesMax - overhead)) {
        records.push(this.seal(ContentType.handshake, item.epoch, fragment));
      }
    }
    return packDatagrams(records, datagramBytesMax);
  }
}

/** Packs records greedily, in order, into datagrams of at most `datagramBytesMax` bytes. */
export function packDatagrams(records: readonly Uint8Array[], datagramBytesMax: number): Uint8Array[] {
  const datagrams: Uint8Array[] = [];
  let current: Uint8Array[] = [];
  let size = 0;
  for (const record of records) {
    assert(record.length <= datagramBytesMax, 'every record fits a datagram');
    if (size + record.length > datagramBytesMax) {
      datagrams.push(Buffer.concat(current));
      current = [];
      size = 0;
    }
    current.push(record);
    size += record.length;
  }
  if (current.length > 0) datagrams.push(Buffer.concat(current));
  return datagrams;
}

/** The bytes of a datagram sent as parts. */
export function bytesOf(parts: readonly Uint8Array[]): number {
  let bytes = 0;
  for (const part of parts) bytes += part.length;
  return bytes;
}
