/**
 * Key derivation of TLS 1.2 as DTLS 1.2 uses it: the PRF with SHA-256 (RFC 5246 §5), the PSK
 * premaster secret (RFC 4279 §2), the master secret (RFC 5246 §8.1) or extended master secret
 * (RFC 7627 §4), the key block of AES-128-CCM-8 (RFC 6655 §3: no MAC keys, 16-byte keys,
 * 4-byte implicit IVs) and Finished verify_data (RFC 5246 §7.4.9).
 */
import { createHash, createHmac } from 'node:crypto';
import { concatBytes } from './bytes.js';
import { FIXED_IV_BYTES, KEY_BYTES, MASTER_SECRET_BYTES, RANDOM_BYTES, VERIFY_DATA_BYTES } from './constants.js';
import { assert } from '../../contracts/assert.js';

const encoder = new TextEncoder();

function hmac(secret: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  const mac = createHmac('sha256', secret);
  for (const part of parts) mac.update(part);
  return mac.digest();
}

/** PRF(secret, label, seed) = P_SHA256(secret, label + seed), truncated to `length` bytes. */
export function prf(secret: Uint8Array, label: string, seed: Uint8Array, length: number): Uint8Array {
  assert(Number.isSafeInteger(length) && length > 0 && length <= 1024, 'prf length in 1..1024');
  const labelSeed = concatBytes([encoder.encode(label), seed]);
  const out = new Uint8Array(length);
  let a = hmac(secret, labelSeed);
  let filled = 0;
  for (;;) {
    const block = hmac(secret, a, labelSeed);
    out.set(block.subarray(0, Math.min(block.length, length - filled)), filled);
    filled += block.length;
    if (filled >= length) return out;
    // A(i+1) = HMAC(secret, A(i)), computed only when another block is needed.
    a = hmac(secret, a);
  }
}

/** SHA-256 of the concatenation of `parts`. */
export function sha256(parts: readonly Uint8Array[]): Uint8Array {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** The plain PSK premaster secret: uint16 N, N zero bytes, uint16 N, the PSK (RFC 4279 §2). */
export function pskPremasterSecret(psk: Uint8Array): Uint8Array {
  assert(psk.length > 0 && psk.length <= 0xffff, 'psk length in 1..65535');
  const out = new Uint8Array(4 + 2 * psk.length);
  out[0] = psk.length >>> 8;
  out[1] = psk.length & 0xff;
  out[2 + psk.length] = psk.length >>> 8;
  out[3 + psk.length] = psk.length & 0xff;
  out.set(psk, 4 + psk.length);
  return out;
}

/** The master secret of RFC 5246 §8.1, or of RFC 7627 §4 when `sessionHash` is given. */
export function masterSecret(
  premaster: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
  sessionHash: Uint8Array | null,
): Uint8Array {
  assert(clientRandom.length === RANDOM_BYTES, 'client random is 32 bytes');
  assert(serverRandom.length === RANDOM_BYTES, 'server random is 32 bytes');
  if (sessionHash !== null) return prf(premaster, 'extended master secret', sessionHash, MASTER_SECRET_BYTES);
  return prf(premaster, 'master secret', concatBytes([clientRandom, serverRandom]), MASTER_SECRET_BYTES);
}

/** The traffic keys of one connection, named by the side that writes with them. */
export interface TrafficKeys {
  readonly clientWriteKey: Uint8Array;
  readonly serverWriteKey: Uint8Array;
  readonly clientWriteIv: Uint8Array;
  readonly serverWriteIv: Uint8Array;
}

/** Splits the key block of AES-128-CCM-8 (RFC 5246 §6.3; note server_random comes first). */
export function trafficKeys(master: Uint8Array, clientRandom: Uint8Array, serverRandom: Uint8Array): TrafficKeys {
  assert(master.length === MASTER_SECRET_BYTES, 'master secret is 48 bytes');
  const size = 2 * KEY_BYTES + 2 * FIXED_IV_BYTES;
  const block = prf(master, 'key expansion', concatBytes([serverRandom, clientRandom]), size);
  return {
    clientWriteKey: block.subarray(0, KEY_BYTES),
    serverWriteKey: block.subarray(KEY_BYTES, 2 * KEY_BYTES),
    clientWriteIv: block.subarray(2 * KEY_BYTES, 2 * KEY_BYTES + FIXED_IV_BYTES),
    serverWriteIv: block.subarray(2 * KEY_BYTES + FIXED_IV_BYTES, size),
  };
}

/** Finished verify_data for `side` over the hash of the handshake messages so far. */
export function verifyData(master: Uint8Array, side: 'client' | 'server', handshakeHash: Uint8Array): Uint8Array {
  assert(handshakeHash.length === 32, 'handshake hash is SHA-256');
  return prf(master, `${side} finished`, handshakeHash, VERIFY_DATA_BYTES);
}
