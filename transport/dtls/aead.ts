/**
 * Record protection with AES-128-CCM and an 8-byte tag (RFC 6655 §3, RFC 5246 §6.2.3.3).
 * The 12-byte nonce is the 4-byte implicit IV followed by the 8-byte explicit nonce, which is
 * the record's epoch and sequence number, sent in front of the ciphertext. The additional
 * data is epoch+sequence (8 bytes), type, version and plaintext length (RFC 6347 §4.1.2.1).
 *
 * A tls12_cid record (RFC 9146 §5) has other additional data: seq_num_placeholder (8 bytes of
 * 0xff), tls12_cid, cid_length, tls12_cid, version, epoch, sequence number, the CID and the
 * length of the DTLSInnerPlaintext; its nonce is built as for any other record.
 *
 * The nonce and additional data are written per record into buffers this direction keeps; the
 * cipher itself is an {@link AesCcm}, keyed once for the life of the connection.
 */
import {
  AEAD_OVERHEAD_BYTES,
  CONNECTION_ID_BYTES_MAX,
  ContentType,
  EXPLICIT_NONCE_BYTES,
  FIXED_IV_BYTES,
  KEY_BYTES,
  RECORD_PLAINTEXT_BYTES_MAX,
} from './constants.js';
import { assert } from '../../contracts/assert.js';
import { AesCcm } from './ccm.js';

const TAG_BYTES = 8;
const NONCE_BYTES = FIXED_IV_BYTES + EXPLICIT_NONCE_BYTES;
const AAD_BYTES = 13;
const NO_BYTES = new Uint8Array(0);
/** Additional data of a tls12_cid record without its CID (RFC 9146 §5). */
const CID_AAD_FIXED_BYTES = 23;

/**
 * The additional data of a tls12_cid record (RFC 9146 §5) written into `aad` from 0; returns
 * the view of its `CID_AAD_FIXED_BYTES + cid.length` bytes.
 */
export function cidAdditionalData(
  aad: Uint8Array,
  version: number,
  epoch: number,
  seq: number,
  cid: Uint8Array,
  innerLength: number,
): Uint8Array {
  assert(cid.length > 0 && cid.length <= CONNECTION_ID_BYTES_MAX, 'a CID record has a CID within the limit');
  assert(aad.length >= CID_AAD_FIXED_BYTES + cid.length, 'the additional data fits its buffer');
  aad.fill(0xff, 0, 8);
  aad[8] = ContentType.tls12Cid;
  aad[9] = cid.length;
  aad[10] = ContentType.tls12Cid;
  aad[11] = version >>> 8;
  aad[12] = version & 0xff;
  writeSeq(aad, 13, epoch, seq);
  aad.set(cid, 21);
  aad[21 + cid.length] = innerLength >>> 8;
  aad[22 + cid.length] = innerLength & 0xff;
  return aad.subarray(0, CID_AAD_FIXED_BYTES + cid.length);
}

function writeSeq(target: Uint8Array, at: number, epoch: number, seq: number): void {
  const high = Math.floor(seq / 0x1_0000_0000);
  const low = seq - high * 0x1_0000_0000;
  target[at] = epoch >>> 8;
  target[at + 1] = epoch & 0xff;
  target[at + 2] = high >>> 8;
  target[at + 3] = high & 0xff;
  target[at + 4] = low >>> 24;
  target[at + 5] = (low >>> 16) & 0xff;
  target[at + 6] = (low >>> 8) & 0xff;
  target[at + 7] = low & 0xff;
}

/** One direction's AES-128-CCM-8 key and implicit IV. */
export class CcmCipher {
  private readonly ccm: AesCcm;
  /** The implicit IV, then the explicit nonce of the record at hand. */
  private readonly nonce = new Uint8Array(NONCE_BYTES);
  /** The additional data of the record at hand. */
  private readonly aad = new Uint8Array(AAD_BYTES);
  /** The additional data of the tls12_cid record at hand. */
  private readonly cidAad = new Uint8Array(CID_AAD_FIXED_BYTES + CONNECTION_ID_BYTES_MAX);

  constructor(key: Uint8Array, salt: Uint8Array) {
    assert(key.length === KEY_BYTES, 'CCM key is 16 bytes');
    assert(salt.length === FIXED_IV_BYTES, 'CCM implicit IV is 4 bytes');
    this.ccm = new AesCcm(key, NONCE_BYTES, TAG_BYTES);
    this.nonce.set(salt, 0);
  }

  private additionalData(epoch: number, seq: number, type: number, version: number, length: number): Uint8Array {
    const aad = this.aad;
    writeSeq(aad, 0, epoch, seq);
    aad[8] = type;
    aad[9] = version >>> 8;
    aad[10] = version & 0xff;
    aad[11] = length >>> 8;
    aad[12] = length & 0xff;
    return aad;
  }

  /**
   * Encrypts `plaintext` into a record fragment written into `out` at `at`: explicit nonce,
   * ciphertext, tag; `plaintext.length + AEAD_OVERHEAD_BYTES` bytes. For a tls12_cid record
   * (`cid` set) the plaintext is the DTLSInnerPlaintext.
   */
  seal(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    out: Uint8Array,
    at: number,
    cid: Uint8Array | null = null,
  ): void {
    assert(at >= 0 && at + plaintext.length + AEAD_OVERHEAD_BYTES <= out.length, 'record fragment fits the output');
    let to = at;
    for (const part of this.sealRecord(0, type, version, epoch, seq, plaintext, -1, cid)) {
      out.set(part, to);
      to += part.length;
    }
  }

  /**
   * A new record as the parts of one datagram (AesCcm.sealParts): `headerBytes` left for the
   * caller's record header at the start of the first part, then the fragment (explicit nonce,
   * ciphertext, tag) of `plaintext`. With `innerType` other than -1 the plaintext sealed is a
   * tls12_cid record's DTLSInnerPlaintext: `plaintext`, then that byte. The parts are views of
   * the buffers the cipher made: no copy of the ciphertext. `rest` follows `plaintext` in the
   * record (before the inner type), read where it is.
   */
  sealRecord(
    headerBytes: number,
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    innerType: number,
    cid: Uint8Array | null,
    rest: Uint8Array = NO_BYTES,
  ): Uint8Array[] {
    const length = plaintext.length + rest.length + (innerType === -1 ? 0 : 1);
    assert(length <= RECORD_PLAINTEXT_BYTES_MAX, 'record plaintext within the RFC limit');
    assert(innerType === -1 || (innerType > 0 && innerType <= 0xff), 'the real content type is a non-zero byte');
    assert((cid !== null) === (type === ContentType.tls12Cid), 'a CID exactly on tls12_cid records');
    writeSeq(this.nonce, FIXED_IV_BYTES, epoch, seq);
    const aad =
      cid === null
        ? this.additionalData(epoch, seq, type, version, length)
        : cidAdditionalData(this.cidAad, version, epoch, seq, cid, length);
    const parts = this.ccm.sealParts(headerBytes + EXPLICIT_NONCE_BYTES, this.nonce, aad, plaintext, innerType, rest);
    parts[0]?.set(this.nonce.subarray(FIXED_IV_BYTES), headerBytes);
    return parts;
  }

  /**
   * Decrypts a record fragment; null when it is too short or fails authentication. The
   * explicit nonce is taken from the fragment as RFC 5246 §6.2.3.3 says; the record's own
   * epoch and sequence number enter the additional data (and its CID, for a tls12_cid record,
   * whose plaintext is a DTLSInnerPlaintext).
   */
  open(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    fragment: Uint8Array,
    cid: Uint8Array | null = null,
  ): Uint8Array | null {
    if (fragment.length < AEAD_OVERHEAD_BYTES) return null;
    const length = fragment.length - AEAD_OVERHEAD_BYTES;
    if (length > RECORD_PLAINTEXT_BYTES_MAX) return null;
    if ((cid !== null) !== (type === ContentType.tls12Cid)) return null;
    this.nonce.set(fragment.subarray(0, EXPLICIT_NONCE_BYTES), FIXED_IV_BYTES);
    const aad =
      cid === null
        ? this.additionalData(epoch, seq, type, version, length)
        : cidAdditionalData(this.cidAad, version, epoch, seq, cid, length);
    const ciphertext = fragment.subarray(EXPLICIT_NONCE_BYTES, EXPLICIT_NONCE_BYTES + length);
    // Authentication failed when null: the caller drops the record (RFC 6347 §4.1.2.7).
    return this.ccm.open(this.nonce, aad, ciphertext, fragment.subarray(EXPLICIT_NONCE_BYTES + length));
  }
}
