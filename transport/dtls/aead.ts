/**
 * Record protection with AES-128-CCM and an 8-byte tag (RFC 6655 §3, RFC 5246 §6.2.3.3).
 * The 12-byte nonce is the 4-byte implicit IV followed by the 8-byte explicit nonce, which is
 * the record's epoch and sequence number, sent in front of the ciphertext. The additional
 * data is epoch+sequence (8 bytes), type, version and plaintext length (RFC 6347 §4.1.2.1).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { AEAD_OVERHEAD_BYTES, FIXED_IV_BYTES, KEY_BYTES } from './constants.js';
import { assert } from '../../contracts/assert.js';

const TAG_BYTES = 8;
const EXPLICIT_NONCE_BYTES = 8;

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

function additionalData(epoch: number, seq: number, type: number, version: number, length: number): Uint8Array {
  const aad = new Uint8Array(13);
  writeSeq(aad, 0, epoch, seq);
  aad[8] = type;
  aad[9] = version >>> 8;
  aad[10] = version & 0xff;
  aad[11] = length >>> 8;
  aad[12] = length & 0xff;
  return aad;
}

/** One direction's AES-128-CCM-8 key and implicit IV. */
export class CcmCipher {
  private readonly key: Uint8Array;
  private readonly salt: Uint8Array;

  constructor(key: Uint8Array, salt: Uint8Array) {
    assert(key.length === KEY_BYTES, 'CCM key is 16 bytes');
    assert(salt.length === FIXED_IV_BYTES, 'CCM implicit IV is 4 bytes');
    this.key = Uint8Array.from(key);
    this.salt = Uint8Array.from(salt);
  }

  private nonce(epoch: number, seq: number): Uint8Array {
    const nonce = new Uint8Array(FIXED_IV_BYTES + EXPLICIT_NONCE_BYTES);
    nonce.set(this.salt, 0);
    writeSeq(nonce, FIXED_IV_BYTES, epoch, seq);
    return nonce;
  }

  /** Encrypts `plaintext` into a record fragment: explicit nonce, ciphertext, tag. */
  seal(type: number, version: number, epoch: number, seq: number, plaintext: Uint8Array): Uint8Array {
    const nonce = this.nonce(epoch, seq);
    const cipher = createCipheriv('aes-128-ccm', this.key, nonce, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(epoch, seq, type, version, plaintext.length), { plaintextLength: plaintext.length });
    const body = cipher.update(plaintext);
    cipher.final();
    const out = new Uint8Array(plaintext.length + AEAD_OVERHEAD_BYTES);
    out.set(nonce.subarray(FIXED_IV_BYTES), 0);
    out.set(body, EXPLICIT_NONCE_BYTES);
    out.set(cipher.getAuthTag(), EXPLICIT_NONCE_BYTES + plaintext.length);
    return out;
  }

  /**
   * Decrypts a record fragment; null when it is too short or fails authentication. The
   * explicit nonce is taken from the fragment as RFC 5246 §6.2.3.3 says; the record's own
   * epoch and sequence number enter the additional data.
   */
  open(type: number, version: number, epoch: number, seq: number, fragment: Uint8Array): Uint8Array | null {
    if (fragment.length < AEAD_OVERHEAD_BYTES) return null;
    const length = fragment.length - AEAD_OVERHEAD_BYTES;
    const nonce = new Uint8Array(FIXED_IV_BYTES + EXPLICIT_NONCE_BYTES);
    nonce.set(this.salt, 0);
    nonce.set(fragment.subarray(0, EXPLICIT_NONCE_BYTES), FIXED_IV_BYTES);
    const decipher = createDecipheriv('aes-128-ccm', this.key, nonce, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(fragment.subarray(EXPLICIT_NONCE_BYTES + length));
    decipher.setAAD(additionalData(epoch, seq, type, version, length), { plaintextLength: length });
    const plaintext = decipher.update(fragment.subarray(EXPLICIT_NONCE_BYTES, EXPLICIT_NONCE_BYTES + length));
    try {
      decipher.final();
    } catch {
      // Authentication failed: the caller drops the record (RFC 6347 §4.1.2.7).
      return null;
    }
    return plaintext;
  }
}
