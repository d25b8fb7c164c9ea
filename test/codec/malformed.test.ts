// Proves property 7 for byte-level damage: arbitrary byte strings, arbitrary bytes behind a
// valid message header, every kind of truncation and single bit flips of valid encodings are
// either decoded to a valid message or rejected with SerializationError, never anything else
// (hostile.ts classifies each outcome). Each test feeds a fixed number of inputs and asserts
// it; with confusion.test.ts this makes well over 100,000 hostile inputs per codec:
// 12,000 + 12,000 here (random) + 24,000 (truncations) + 24,000 (bit flips) = 72,000, and
// 2 × 18,000 type-confused documents there. Inputs come from fast-check (seeded, replayable).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { createSerializer, SERIALIZER_NAMES } from '../../codec/index.js';
import { codecLimitsFor, rpcMessageArbitrary } from './arbitraries.js';
import { fcParams } from '../fc-params.js';
import { DecodeCounter, prototypePolluted } from './hostile.js';

const MUTATIONS_PER_MESSAGE = 24;
const MESSAGES = 1000;

/** Bytes that start like a valid message of each codec, to push random tails past the header checks. */
const HEADERS: Readonly<Record<string, readonly Uint8Array[]>> = {
  cbor: [Uint8Array.of(0x87, 0x01, 0x01), Uint8Array.of(0x88, 0x01, 0x05), Uint8Array.of(0x8b, 0x01, 0x07)],
  json: [
    Buffer.from('{"v":1,"type":"AppendEntriesRequest",'),
    Buffer.from('{"v":1,"type":"InstallSnapshotRequest","configuration":'),
    Buffer.from('{"v":1,'),
  ],
  protobuf: [Uint8Array.of(0x08, 0x01), Uint8Array.of(0x08, 0x01, 0x32), Uint8Array.of(0x08, 0x01, 0x3a, 0x7f, 0x08)],
};

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

for (const name of SERIALIZER_NAMES) {
  describe(`${name} decoder against damaged input (property 7)`, () => {
    const serializer = createSerializer(name, codecLimitsFor());

    it('rejects or decodes 12,000 arbitrary byte strings', () => {
      const counter = new DecodeCounter();
      fc.assert(
        fc.property(fc.array(fc.uint8Array({ maxLength: 96 }), { minLength: 12, maxLength: 12 }), (inputs) => {
          for (const bytes of inputs) counter.decode(serializer, bytes);
        }),
        fcParams(MESSAGES),
      );
      assert.ok(counter.count >= 12_000, `${counter.count} inputs`);
    });

    it('rejects or decodes 12,000 arbitrary tails behind a valid header', () => {
      const counter = new DecodeCounter();
      const headers = HEADERS[name] ?? [];
      fc.assert(
        fc.property(
          fc.array(fc.tuple(fc.constantFrom(...headers), fc.uint8Array({ maxLength: 64 })), {
            minLength: 12,
            maxLength: 12,
          }),
          (inputs) => {
            for (const [header, tail] of inputs) counter.decode(serializer, concat(header, tail));
          },
        ),
        fcParams(MESSAGES),
      );
      assert.ok(counter.count >= 12_000, `${counter.count} inputs`);
    });

    it('rejects every truncation of 1,000 valid encodings (24,000 inputs)', () => {
      const counter = new DecodeCounter();
      const cuts = fc.array(fc.nat(), { minLength: MUTATIONS_PER_MESSAGE, maxLength: MUTATIONS_PER_MESSAGE });
      fc.assert(
        fc.property(rpcMessageArbitrary(), cuts, (message, positions) => {
          const bytes = serializer.encode(message);
          for (const position of positions) counter.reject(serializer, bytes.subarray(0, position % bytes.byteLength));
        }),
        fcParams(MESSAGES),
      );
      assert.ok(counter.count >= 24_000, `${counter.count} inputs`);
    });

    it('rejects or decodes single bit flips of 1,000 valid encodings (24,000 inputs)', () => {
      const counter = new DecodeCounter();
      const flips = fc.array(fc.nat(), { minLength: MUTATIONS_PER_MESSAGE, maxLength: MUTATIONS_PER_MESSAGE });
      fc.assert(
        fc.property(rpcMessageArbitrary(), flips, (message, bits) => {
          const bytes = serializer.encode(message);
          for (const bit of bits) {
            const flipped = Uint8Array.from(bytes);
            const at = bit % (flipped.byteLength * 8);
            flipped[at >> 3] = (flipped[at >> 3] ?? 0) ^ (1 << (at & 7));
            counter.decode(serializer, flipped);
          }
        }),
        fcParams(MESSAGES),
      );
      assert.ok(counter.count >= 24_000, `${counter.count} inputs`);
      assert.ok(
        counter.rejected > counter.count / 2,
        `most flips are caught (${counter.rejected} of ${counter.count})`,
      );
    });

    it('leaves Object.prototype untouched', () => {
      assert.equal(prototypePolluted(), false);
    });
  });
}
