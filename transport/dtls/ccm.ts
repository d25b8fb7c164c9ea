/**
 * AES-128 in CCM mode (RFC 3610, NIST SP 800-38C) on two long-lived node:crypto ciphers per
 * key, instead of one `aes-128-ccm` cipher built per message: an `aes-128-ecb` cipher makes
 * the counter-mode key stream of a whole message in one call, and an `aes-128-cbc` cipher with
 * a zero IV computes the CBC-MAC in one call. The key stream that update() returns is a new
 * buffer, so the message is XORed into it in place: a sealed message is handed out as a view of
 * it with room in front for the record header (the key stream starts a block or more in), and
 * an opened one as a view of it.
 *
 * A CBC cipher carries its chaining value from one update() call to the next. Every CBC-MAC
 * must start from a zero IV, so the first block of each MAC input is XORed with the last
 * ciphertext block of the previous call: E(B0 ^ C_prev ^ C_prev) = E(B0), as from a fresh
 * cipher. The key stream is applied here, in 32-bit words, and the MAC input and counter
 * blocks are written into scratch buffers shared by every instance: seal() and open() are
 * synchronous and call nothing that could re-enter them, so one scratch serves the process.
 */
import { createCipheriv, createSecretKey, timingSafeEqual } from 'node:crypto';
import type { Cipher, KeyObject } from 'node:crypto';
import { assert } from '../../contracts/assert.js';
import { ONE_SHOT_BYTES_MIN, openOneShot, sealOneShot } from './ccm-one-shot.js';

const BLOCK_BYTES = 16;
/** Largest message: its length fits the 2-byte length field of the shortest L (RFC 3610 §2). */
const CCM_DATA_BYTES_MAX = 0xffff;
/** Largest additional data: beyond it RFC 3610 §2.2 needs a longer length encoding. */
const CCM_AAD_BYTES_MAX = 0xfeff;
/** Most bytes a sealed message leaves in front of its ciphertext (a record's header and nonce: 53). */
const HEADROOM_BYTES_MAX = 64;
const NO_BYTES = new Uint8Array(0);

/**
 * Scratch memory shared by every instance (see the file comment for why that is safe). It grows
 * to fit the largest message seen, which CCM_DATA_BYTES_MAX and CCM_AAD_BYTES_MAX bound to
 * under 264 KiB in all; DTLS records (16 KiB of plaintext, 13 bytes of AAD) need 50 KiB.
 */
class Scratch {
  /** The CBC-MAC input: B0, the additional data blocks, the message blocks. */
  mac = new Uint8Array(0);
  mac32 = new Int32Array(0);
  /** The counter blocks A0..An. */
  counters = new Uint8Array(0);
  readonly tag = new Uint8Array(BLOCK_BYTES);
  /** A one-shot message with its trailer byte, whole (ccm-one-shot.ts takes one buffer). */
  oneShot = new Uint8Array(0);

  /** Grows the buffers to hold `macBytes` of MAC input and `counterBytes` of counter blocks. */
  ensure(macBytes: number, counterBytes: number): void {
    // Round up to 1 KiB so that a few sizes of messages do not make many reallocations.
    if (this.mac.length < macBytes) {
      this.mac = new Uint8Array(Math.ceil(macBytes / 1024) * 1024);
      this.mac32 = new Int32Array(this.mac.buffer);
    }
    if (this.counters.length < counterBytes) this.counters = new Uint8Array(Math.ceil(counterBytes / 1024) * 1024);
  }
}

const scratch = new Scratch();

function roundUpToBlock(bytes: number): number {
  return Math.ceil(bytes / BLOCK_BYTES) * BLOCK_BYTES;
}

/** Where the message starts in the MAC input: after B0 and the length-prefixed additional data. */
function messageOffset(aadBytes: number): number {
  return BLOCK_BYTES + (aadBytes === 0 ? 0 : roundUpToBlock(2 + aadBytes));
}

/** The two keyed ciphers of an {@link AesCcm}, and its key for the one-shot ciphers of large messages. */
interface KeyedCiphers {
  readonly ecb: Cipher;
  readonly cbc: Cipher;
  readonly key: KeyObject;
}

/**
 * One AES-128 key in CCM mode with a fixed nonce length and tag length. Its two ciphers hold
 * about 3 KiB outside the JS heap, so they are made at the first message: a server's half-open
 * handshake derives keys before the client has proven it holds them, and may never use them.
 */
export class AesCcm {
  private readonly key: Uint8Array;
  private ciphers: KeyedCiphers | null = null;
  // Invariant: the last ciphertext block the CBC cipher produced (its IV, zero at first).
  private readonly chain = new Uint8Array(BLOCK_BYTES);
  /** L, the bytes of the length field and of the counter: 15 - nonce length (RFC 3610 §2). */
  private readonly lengthBytes: number;

  /**
   * @param oneShotBytesMin messages of at least this many bytes go through a cipher built for
   *   each (ccm-one-shot.ts); the default is the one that pays, other values are for tests.
   */
  constructor(
    key: Uint8Array,
    private readonly nonceBytes: number,
    private readonly tagBytes: number,
    private readonly oneShotBytesMin = ONE_SHOT_BYTES_MIN,
  ) {
    assert(key.length === 16, 'AES-128 key is 16 bytes');
    assert(Number.isInteger(nonceBytes) && nonceBytes >= 7 && nonceBytes <= 13, 'CCM nonce is 7..13 bytes');
    assert(tagBytes >= 4 && tagBytes <= 16 && tagBytes % 2 === 0, 'CCM tag is 4, 6, .., 16 bytes');
    this.lengthBytes = 15 - nonceBytes;
    this.key = Uint8Array.from(key);
  }

  private keyed(): KeyedCiphers {
    if (this.ciphers === null) {
      this.ciphers = {
        ecb: createCipheriv('aes-128-ecb', this.key, null).setAutoPadding(false),
        cbc: createCipheriv('aes-128-cbc', this.key, new Uint8Array(BLOCK_BYTES)).setAutoPadding(false),
        key: createSecretKey(this.key),
      };
      // From here on the key lives only in the ciphers and the key object (outside the JS heap).
      this.key.fill(0);
    }
    return this.ciphers;
  }

  /** Encrypts `plaintext` into `out` at `at`: the ciphertext, then the tag. */
  seal(nonce: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, out: Uint8Array, at: number): void {
    assert(at >= 0 && at + plaintext.length + this.tagBytes <= out.length, 'sealed message fits the output');
    out.set(this.sealAfter(0, nonce, aad, plaintext, -1), at);
  }

  /**
   * Encrypts `plaintext`, followed by `rest` and by the byte `trailer` unless it is -1, into a
   * new buffer, and returns the view of `headroom` bytes for the caller to write (a record's
   * header), the ciphertext and the tag. The buffer is the one the key stream came in: the
   * ciphertext is made where it is sent, with no record buffer and no copy (see keyStream's
   * `before`); the plaintext is read once, into the MAC input, so its two pieces need not be joined.
   */
  sealAfter(
    headroom: number,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    trailer: number,
    rest: Uint8Array = NO_BYTES,
  ): Uint8Array {
    const length = sealedLength(headroom, plaintext, trailer, rest);
    this.checkAndReserve(nonce, aad, length);
    const start = this.prepareMac(nonce, aad, length);
    scratch.mac.set(plaintext, start);
    scratch.mac.set(rest, start + plaintext.length);
    if (trailer !== -1) scratch.mac[start + plaintext.length + rest.length] = trailer;
    const mac = this.cbcMac(start + roundUpToBlock(length));
    // S0 is block `before`, the message's key stream follows it; the blocks before S0 and
    // the one after the message (when the tag would not fit the last block) make room for the
    // headroom and the tag, so that the sealed message is one view of the key stream's buffer.
    const before = Math.max(0, Math.ceil(headroom / BLOCK_BYTES) - 1);
    const after = roundUpToBlock(length + this.tagBytes) - roundUpToBlock(length);
    const stream = this.keyStream(nonce, length, before, after / BLOCK_BYTES);
    const s0 = before * BLOCK_BYTES;
    const at = s0 + BLOCK_BYTES;
    xorWords(stream, at / 4, scratch.mac32, start / 4, roundUpToBlock(length) / 4);
    // The tag goes over the padding of the last block (or into the block after it); S0 is
    // read before the caller's headroom covers it.
    for (let i = 0; i < this.tagBytes; i += 1) stream[at + length + i] = (mac[i] ?? 0) ^ (stream[s0 + i] ?? 0);
    return stream.subarray(at - headroom, at + length + this.tagBytes);
  }

  /**
   * Like {@link sealAfter}, as the parts of one datagram, in order: the view of `headroom` bytes
   * for the caller to write, the ciphertext and the tag. A message of at least the one-shot
   * size goes through ccm-one-shot.ts: three parts (the headroom a new buffer of its own);
   * a smaller one is sealAfter's single view. Same bytes either way. The one-shot cipher takes
   * the message in one piece: `plaintext` itself, or `plaintext`, `rest` and the trailer joined
   * in the shared scratch (no new buffer).
   */
  sealParts(
    headroom: number,
    nonce: Uint8Array,
    aad: Uint8Array,
    plaintext: Uint8Array,
    trailer: number,
    rest: Uint8Array = NO_BYTES,
  ): Uint8Array[] {
    const length = sealedLength(headroom, plaintext, trailer, rest);
    if (length < this.oneShotBytesMin) return [this.sealAfter(headroom, nonce, aad, plaintext, trailer, rest)];
    this.checkAndReserve(nonce, aad, length);
    let message = plaintext;
    if (length > plaintext.length) {
      if (scratch.oneShot.length < length) scratch.oneShot = new Uint8Array(Math.ceil(length / 1024) * 1024);
      message = scratch.oneShot.subarray(0, length);
      message.set(plaintext);
      message.set(rest, plaintext.length);
      if (trailer !== -1) message[length - 1] = trailer;
    }
    const sealed = sealOneShot(this.keyed().key, nonce, aad, message, this.tagBytes);
    return [new Uint8Array(headroom), sealed.ciphertext, sealed.tag];
  }

  /**
   * Decrypts and authenticates `ciphertext` with `tag`; the plaintext (a view of a new buffer
   * that nothing else holds) only when the tag matches, compared in constant time, else null.
   */
  open(nonce: Uint8Array, aad: Uint8Array, ciphertext: Uint8Array, tag: Uint8Array): Uint8Array | null {
    const length = ciphertext.length;
    this.checkAndReserve(nonce, aad, length);
    if (tag.length !== this.tagBytes) return null;
    if (length >= this.oneShotBytesMin) return openOneShot(this.keyed().key, nonce, aad, ciphertext, tag);
    const start = this.prepareMac(nonce, aad, length);
    const paddedWords = roundUpToBlock(length) / 4;
    // Decrypt through the MAC input's scratch: the ciphertext may sit at any byte offset.
    scratch.mac.set(ciphertext, start);
    const stream = this.keyStream(nonce, length, 0, 0);
    xorWords(stream, BLOCK_BYTES / 4, scratch.mac32, start / 4, paddedWords);
    const plaintext = stream.subarray(BLOCK_BYTES, BLOCK_BYTES + length);
    // The padding after it is still zero from prepareMac().
    scratch.mac.set(plaintext, start);
    const mac = this.cbcMac(start + paddedWords * 4);
    const expected = scratch.tag.subarray(0, this.tagBytes);
    for (let i = 0; i < this.tagBytes; i += 1) expected[i] = (mac[i] ?? 0) ^ (stream[i] ?? 0);
    if (!timingSafeEqual(expected, tag)) {
      // Nothing of a forgery's plaintext stays behind.
      plaintext.fill(0);
      scratch.mac.fill(0, start, start + length);
      return null;
    }
    return plaintext;
  }

  /** Asserts the sizes of a message and grows the shared scratch to hold it. */
  private checkAndReserve(nonce: Uint8Array, aad: Uint8Array, length: number): void {
    assert(nonce.length === this.nonceBytes, 'nonce has the length the cipher was made for');
    assert(aad.length <= CCM_AAD_BYTES_MAX, 'additional data within the 2-byte length encoding');
    assert(length <= CCM_DATA_BYTES_MAX, 'message within the CCM length field');
    scratch.ensure(messageOffset(aad.length) + roundUpToBlock(length), BLOCK_BYTES + roundUpToBlock(length));
  }

  /**
   * Writes B0 and the additional data blocks into the MAC scratch, zeroes the padding of the
   * message's last block, and returns where the message goes (RFC 3610 §2.2).
   */
  private prepareMac(nonce: Uint8Array, aad: Uint8Array, length: number): number {
    const mac = scratch.mac;
    mac[0] = (aad.length > 0 ? 0x40 : 0) | (((this.tagBytes - 2) / 2) << 3) | (this.lengthBytes - 1);
    mac.set(nonce, 1);
    mac.fill(0, 1 + this.nonceBytes, BLOCK_BYTES - 2);
    mac[14] = length >>> 8;
    mac[15] = length & 0xff;
    const start = messageOffset(aad.length);
    if (aad.length > 0) {
      mac[16] = aad.length >>> 8;
      mac[17] = aad.length & 0xff;
      mac.set(aad, 18);
      mac.fill(0, 18 + aad.length, start);
    }
    const padded = start + roundUpToBlock(length);
    if (padded > start) mac.fill(0, padded - BLOCK_BYTES, padded);
    return start;
  }

  /** CBC-MAC of the first `bytes` of the MAC scratch; returns T (a view valid until the next call). */
  private cbcMac(bytes: number): Uint8Array {
    assert(bytes % BLOCK_BYTES === 0 && bytes >= BLOCK_BYTES, 'CBC-MAC input is whole blocks');
    const mac = scratch.mac;
    for (let i = 0; i < BLOCK_BYTES; i += 1) mac[i] = (mac[i] ?? 0) ^ (this.chain[i] ?? 0);
    const out = this.keyed().cbc.update(mac.subarray(0, bytes));
    assert(out.length === bytes, 'CBC without padding returns every block');
    const last = out.subarray(bytes - BLOCK_BYTES);
    this.chain.set(last);
    return last;
  }

  /**
   * S0..Sn for a message of `length` bytes (RFC 3610 §2.3), in a new buffer, after `before`
   * blocks and followed by `after` blocks that are not key stream of this message: they are
   * room for the caller, E(A0) again, never sent.
   */
  private keyStream(nonce: Uint8Array, length: number, before: number, after: number): Uint8Array {
    const messageBlocks = roundUpToBlock(length) / BLOCK_BYTES;
    const blocks = before + 1 + messageBlocks + after;
    scratch.ensure(0, blocks * BLOCK_BYTES);
    const counters = scratch.counters.subarray(0, blocks * BLOCK_BYTES);
    counters[0] = this.lengthBytes - 1;
    counters.set(nonce, 1);
    counters.fill(0, 1 + this.nonceBytes, BLOCK_BYTES);
    // Copy A0 over every block, doubling, then set each message block's counter (at most 2 bytes).
    for (let have = BLOCK_BYTES; have < counters.length; have *= 2) counters.copyWithin(have, 0, have);
    const s1 = (before + 1) * BLOCK_BYTES;
    for (let i = 1; i <= messageBlocks; i += 1) {
      counters[s1 + (i - 1) * BLOCK_BYTES + 14] = i >>> 8;
      counters[s1 + (i - 1) * BLOCK_BYTES + 15] = i & 0xff;
    }
    const stream = this.keyed().ecb.update(counters);
    assert(stream.length === counters.length, 'ECB without padding returns every block');
    // Node gives update() its own ArrayBuffer; the words XORed into it must be aligned.
    assert(stream.byteOffset % 4 === 0, 'the key stream is 4-byte aligned');
    return stream;
  }
}

/** Words t.. of `bytes` (4-byte aligned) ^= words s.. of `source`, for `words` words. */
function xorWords(bytes: Uint8Array, t: number, source: Int32Array, s: number, words: number): void {
  const target = new Int32Array(bytes.buffer, bytes.byteOffset + t * 4, words);
  for (let i = 0; i < words; i += 1) target[i] = (target[i] ?? 0) ^ (source[s + i] ?? 0);
}

/** The length of a sealed message: `plaintext`, `rest` and the trailer byte unless it is -1 (headroom checked too). */
function sealedLength(headroom: number, plaintext: Uint8Array, trailer: number, rest: Uint8Array): number {
  assert(Number.isInteger(headroom) && headroom >= 0 && headroom <= HEADROOM_BYTES_MAX, 'headroom within 64 bytes');
  assert(trailer >= -1 && trailer <= 0xff, 'a trailer is a byte or -1');
  return plaintext.length + rest.length + (trailer === -1 ? 0 : 1);
}
