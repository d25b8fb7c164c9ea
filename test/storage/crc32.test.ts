// Proves the storage checksum (storage/crc32.ts): the table-driven CRC-32 that Node before 20.15
// (armv7's newest registry build is 20.11.0) falls back to gives the same value as zlib.crc32
// for every input and every starting CRC, so records written under one Node verify under the
// other. Checked three ways: the standard check values; a property against a bit-at-a-time
// reference written from the definition (runs on every Node); and a property against zlib.crc32
// itself where the running Node has it. And crc32Combine: the CRC-32 of two strings joined, from
// theirs and the second's length (up to 1 MiB and more); crc32Through gives crc32's value for any
// bytes and starting CRC, and keeps a large command's own CRC-32 by its object (another view of the
// same memory reads it again). Properties replay with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import * as zlib from 'node:zlib';
import fc from 'fast-check';
import {
  COMMAND_CRC_KEPT_BYTES_MIN,
  chooseCrc32,
  crc32,
  crc32Combine,
  crc32Portable,
  crc32Through,
} from '../../storage/crc32.js';
import { fcParams } from '../fc-params.js';

/** CRC-32 straight from its definition: reflected polynomial 0xedb88320, one bit at a time. */
function crc32Bitwise(data: Uint8Array, previous = 0): number {
  let c = ~previous >>> 0;
  for (const byte of data) {
    c ^= byte;
    for (let bit = 0; bit < 8; bit += 1) c = c & 1 ? (0xedb88320 ^ (c >>> 1)) >>> 0 : c >>> 1;
  }
  return ~c >>> 0;
}

const nativeCrc32: unknown = Reflect.get(zlib, 'crc32');
const ascii = (text: string): Uint8Array => new TextEncoder().encode(text);
/** Byte strings long enough to cover the 8-byte steps and every tail length. */
const bytes = fc.uint8Array({ maxLength: 200 });
const startingCrc = fc.nat({ max: 0xffffffff });

describe('storage CRC-32', () => {
  it('combines two CRC-32s and the second string’s length into the CRC-32 of both joined (property)', () => {
    const long = fc
      .record({ length: fc.integer({ min: 0, max: 1_100_000 }), seed: fc.nat({ max: 255 }) })
      .map(({ length, seed }) => Uint8Array.from({ length }, (_, i) => (i * 131 + seed + (i >> 9)) & 0xff));
    fc.assert(
      fc.property(bytes, bytes, (a, b) => {
        assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(Buffer.concat([a, b])));
      }),
      fcParams(300, 'crc32 combine'),
    );
    fc.assert(
      fc.property(bytes, long, (a, b) => {
        assert.equal(crc32Combine(crc32(a), crc32(b), b.length), crc32(Buffer.concat([a, b])));
      }),
      fcParams(60, 'crc32 combine, long'),
    );
    const record = new Uint8Array(256 * 1024).fill(0x5a);
    const combine = (crcA: number, crcB: number): number => crc32Combine(crcA, crcB, record.length);
    assert.equal(combine(combine(0, crc32(record)), crc32(record)), crc32(Buffer.concat([record, record])));
  });

  it('takes a large command’s CRC-32 once and keeps it by its object (crc32Through, property)', () => {
    const sized = fc
      .record({ length: fc.integer({ min: 0, max: 3 * COMMAND_CRC_KEPT_BYTES_MIN }), seed: fc.nat({ max: 255 }) })
      .map(({ length, seed }) => Uint8Array.from({ length }, (_, i) => (i * 7 + seed) & 0xff));
    fc.assert(
      fc.property(sized, startingCrc, (data, previous) => {
        assert.equal(crc32Through(data, previous), crc32(data, previous));
        assert.equal(crc32Through(data, previous), crc32(data, previous), 'again, from what was kept');
      }),
      fcParams(100, 'crc32Through'),
    );
    const command = new Uint8Array(COMMAND_CRC_KEPT_BYTES_MIN).fill(3);
    const first = crc32Through(command);
    // A command never changes; changing one shows that its CRC-32 is not read from its bytes again.
    command[0] = 4;
    assert.equal(crc32Through(command), first, 'kept by the object');
    const view = command.subarray(0);
    assert.equal(crc32Through(view), crc32(view), 'another view of the same memory reads it (a reused buffer might)');
    const small = new Uint8Array(COMMAND_CRC_KEPT_BYTES_MIN - 1).fill(3);
    const before = crc32Through(small);
    small[0] = 4;
    assert.notEqual(crc32Through(small), before, 'a smaller one is read each time');
  });

  it('gives the standard check values', () => {
    for (const f of [crc32Portable, crc32, crc32Bitwise]) {
      assert.equal(f(ascii('123456789')), 0xcbf43926, 'the CRC-32 check value');
      assert.equal(f(new Uint8Array(0)), 0);
      assert.equal(f(ascii('a')), 0xe8b7be43);
      assert.equal(f(ascii('The quick brown fox jumps over the lazy dog')), 0x414fa339);
      assert.equal(f(new Uint8Array(32)), 0x190a55ad, '32 zero bytes');
      assert.equal(f(new Uint8Array(32).fill(0xff)), 0xff6cab0b, '32 0xff bytes');
    }
  });

  it('the table-driven CRC equals the bit-at-a-time one for any bytes and starting CRC', () => {
    fc.assert(
      fc.property(bytes, startingCrc, (data, previous) => {
        assert.equal(crc32Portable(data, previous), crc32Bitwise(data, previous));
      }),
      fcParams(500, 'crc32 portable = bitwise'),
    );
  });

  it('continues across any split of the input, as a frame header then its payload', () => {
    fc.assert(
      fc.property(bytes, fc.nat(), startingCrc, (data, cut, previous) => {
        const at = cut % (data.length + 1);
        const whole = crc32Portable(data, previous);
        assert.equal(crc32Portable(data.subarray(at), crc32Portable(data.subarray(0, at), previous)), whole);
      }),
      fcParams(300, 'crc32 continuation'),
    );
  });

  it('equals zlib.crc32 for any bytes, any view offset and any starting CRC (where Node has it)', function () {
    if (typeof nativeCrc32 !== 'function') this.skip();
    const native = chooseCrc32(nativeCrc32);
    fc.assert(
      fc.property(bytes, fc.nat({ max: 7 }), startingCrc, (data, offset, previous) => {
        // Any view, including an empty one of an empty ArrayBuffer, which zlib.crc32 itself gets wrong.
        const view = data.subarray(Math.min(offset, data.length));
        assert.equal(crc32Portable(view, previous), native(view, previous));
        assert.equal(crc32Portable(view), native(view));
      }),
      fcParams(1000, 'crc32 portable = zlib'),
    );
  });

  it('uses zlib.crc32 when Node has it and the table-driven one when it does not', () => {
    assert.equal(chooseCrc32(undefined), crc32Portable, 'Node before 20.15: no zlib.crc32');
    let calls = 0;
    const spy = (data: Uint8Array, previous?: number): number => ((calls += 1), crc32Portable(data, previous));
    assert.equal(chooseCrc32(spy)(ascii('123456789')), 0xcbf43926);
    assert.equal(calls, 1, 'a native crc32 is the one called');
    assert.equal(crc32 === crc32Portable, typeof nativeCrc32 !== 'function', 'this Node picks by what zlib has');
  });

  it('keeps the starting CRC over empty input, where zlib.crc32 gives 0 for an empty ArrayBuffer', () => {
    const empties = [new Uint8Array(new ArrayBuffer(0)), new Uint8Array(0), new Uint8Array(8).subarray(8)];
    for (const empty of empties) {
      assert.equal(crc32(empty, 0x1234), 0x1234);
      assert.equal(crc32Portable(empty, 0x1234), 0x1234);
      assert.equal(chooseCrc32(() => 0)(empty, 0x1234), 0x1234, 'the native one is not asked about nothing');
    }
  });

  it('refuses a starting CRC that is not an unsigned 32-bit number', () => {
    for (const bad of [-1, 2 ** 32, 1.5, Number.NaN]) {
      assert.throws(() => crc32Portable(new Uint8Array(1), bad), { code: 'RAFT_INVARIANT' });
    }
  });
});
