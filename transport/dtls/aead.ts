/**
 * Record protection with AES-128-CCM and an 8-byte tag (RFC 6655 §3, RFC 5246 §6.2.3.3).
 * The 12-byte nonce is the 4-byte implicit IV followed by the 8-byte explicit nonce, which is
 * the record's epoch and sequence number, sent in front of the ciphertext. The additional
 * data is epoch+sequence (8 bytes), type, version and plaintext length (RFC 6347 §4.1.2.1).
 *
 * The nonce and additional data are written per record into buffers this direction keeps; the
 * cipher itself is an {@link AesCcm}, keyed once for the life of the connection.
 */
import { AEAD_OVERHEAD_BYTES, FIXED_IV_BYTES, KEY_BYTES, RECORD_PLAINTEXT_BYTES_MAX } from './constants.js';
import { assert } from '../../contracts/assert.js';
import { AesCcm } from './ccm.js';

const TAG_BYTES = 8;
const EXPLICIT_NONCE_BYTES = 8;
const NONCE_BYTES = FIXED_IV_BYTES + EXPLICIT_NONCE_BYTES;
const AAD_BYTES = 13;

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
   * ciphertext, tag; `plaintext.length + AEAD_OVERHEAD_BYTES` bytes.
   */
  seal(
    type: number,
    version: number,
    epoch: number,
    seq: number,
    plaintext: Uint8Array,
    out: Uint8Array,
    at: number,
  ): void {
    assert(plaintext.length <= RECORD_PLAINTEXT_BYTES_MAX, 'record plaintext within the RFC limit');
    assert(at >= 0 && at + plaintext.length + AEAD_OVERHEAD_BYTES <= out.length, 'record fragment fits the output');
    writeSeq(this.nonce, FIXED_IV_BYTES, epoch, seq);
    out.set(this.nonce.subarray(FIXED_IV_BYTES), at);
    const aad = this.additionalData(epoch, seq, type, version, plaintext.length);
    this.ccm.seal(this.nonce, aad, plaintext, out, at + EXPLICIT_NONCE_BYTES);
  }

  /**
   * Decrypts a record fragment; null when it is too short or fails authentication. The
   * explicit nonce is taken from the fragment as RFC 5246 §6.2.3.3 says; the record's own
   * epoch and sequence number enter the additional data.
   */
  open(type: number, version: number, epoch: number, seq: number, fragment: Uint8Array): Uint8Array | null {
    if (fragment.length < AEAD_OVERHEAD_BYTES) return null;
    const length = fragment.length - AEAD_OVERHEAD_BYTES;
    if (length > RECORD_PLAINTEXT_BYTES_MAX) return null;
    this.nonce.set(fragment.subarray(0, EXPLICIT_NONCE_BYTES), FIXED_IV_BYTES);
    const aad = this.additionalData(epoch, seq, type, version, length);
    const ciphertext = fragment.subarray(EXPLICIT_NONCE_BYTES, EXPLICIT_NONCE_BYTES + length);
    // Authentication failed when null: the caller drops the record (RFC 6347 §4.1.2.7).
    return this.ccm.open(this.nonce, aad, ciphertext, fragment.subarray(EXPLICIT_NONCE_BYTES + length));
  }
}
