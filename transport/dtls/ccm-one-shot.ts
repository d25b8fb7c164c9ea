/**
 * AES-128-CCM of one large message with node:crypto's own `aes-128-ccm` cipher, built for that
 * message (RFC 3610; the same bytes as {@link AesCcm}'s own path, which the property test of
 * test/transport/dtls/ccm-one-shot.test.ts checks).
 *
 * Why two paths: AesCcm drives two long-lived ciphers (ECB for the key stream, CBC for the MAC),
 * which pays for small messages, where building a cipher per message would dominate; but each
 * of its calls returns a new buffer as large as the message (the key stream, and the CBC output
 * of which one block is used), and the message is copied into the MAC input first. OpenSSL's CCM
 * does the counter mode and the CBC-MAC in one interleaved pass and returns only the ciphertext:
 * at a 16 KiB record (a peer's packed AppendEntries) it seals about 1.6 times as many records per
 * CPU second, with a third of the bytes allocated. Building its cipher costs a few microseconds,
 * which messages of ONE_SHOT_BYTES_MIN and more repay (bench: `npm run bench -- dtls --records`).
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { KeyObject } from 'node:crypto';

/** Messages of at least this many bytes go through the one-shot cipher (see the file comment). */
export const ONE_SHOT_BYTES_MIN = 2048;

/** A message sealed in one shot: its ciphertext and its tag, each in a new buffer. */
export interface OneShotSealed {
  readonly ciphertext: Uint8Array;
  readonly tag: Uint8Array;
}

/** Encrypts and authenticates `plaintext` with a cipher built for it. */
export function sealOneShot(
  key: KeyObject,
  nonce: Uint8Array,
  aad: Uint8Array,
  plaintext: Uint8Array,
  tagBytes: number,
): OneShotSealed {
  const cipher = createCipheriv('aes-128-ccm', key, nonce, { authTagLength: tagBytes });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  // CCM takes the whole message in one update() (node:crypto and OpenSSL allow no second call).
  const ciphertext = cipher.update(plaintext);
  cipher.final();
  return { ciphertext, tag: cipher.getAuthTag() };
}

/**
 * Decrypts `ciphertext` and checks `tag` (OpenSSL compares it in constant time); the plaintext,
 * in a new buffer that nothing else holds, or null when the tag does not match.
 */
export function openOneShot(
  key: KeyObject,
  nonce: Uint8Array,
  aad: Uint8Array,
  ciphertext: Uint8Array,
  tag: Uint8Array,
): Uint8Array | null {
  const decipher = createDecipheriv('aes-128-ccm', key, nonce, { authTagLength: tag.length });
  decipher.setAuthTag(tag);
  decipher.setAAD(aad, { plaintextLength: ciphertext.length });
  const plaintext = decipher.update(ciphertext);
  try {
    decipher.final();
  } catch {
    // Nothing of a forgery's plaintext stays behind.
    plaintext.fill(0);
    return null;
  }
  return plaintext;
}
