// Proves the direct writer of put commands (agent/kv/put-encode.ts):
// - property: for any put command and identity (keys and client ids ASCII or not, of every length head, values of
//   every length head, times and sequences around every integer-width edge and past 2^32, with and without a
//   session, watermark, request id and lease), encodePutDirect gives either null or exactly the bytes the generic
//   encoder (cbor-x) gives for it; and for the endpoint's puts (ASCII key, session, watermark, request id, no
//   lease) it is never null;
// - encodeKvCommand takes that path, and what it writes decodes (directly and generically) to the command;
// - its result owns its buffer from 1 KiB up (the store keeps large values as views of it).
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { decodeKvCommandGeneric, encodeKvCommand, encodeKvCommandGeneric } from '../../../agent/kv/encoding.js';
import { encodePutDirect } from '../../../agent/kv/put-encode.js';
import { decodePutDirect } from '../../../agent/kv/put-decode.js';
import type { KvCommand, KvSession } from '../../../agent/kv/types.js';
import { fcParams } from '../../fc-params.js';

const edges = [0, 1, 23, 24, 255, 256, 65_535, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
const countArb = fc.oneof(
  fc.constantFrom(...edges),
  fc.constantFrom(...edges).chain((e) => fc.integer({ min: Math.max(0, e - 2), max: Math.min(e + 2, 2 ** 53 - 1) })),
  fc.maxSafeNat(),
);
const lengthArb = fc.constantFrom(0, 1, 23, 24, 255, 256, 300, 1100);
const asciiArb = lengthArb.chain((n) => fc.stringMatching(new RegExp(`^[\\x00-\\x7f]{${Math.max(1, n)}}$`)));
const textArb = fc.oneof(asciiArb, fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('é', 'a€', '😀k'));
const bytesArb = lengthArb.chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
const sessionArb: fc.Arbitrary<KvSession | null> = fc.option(
  fc
    .record({ clientId: textArb, seq: countArb.map((s) => Math.max(1, s)), acked: fc.option(countArb, { nil: null }) })
    .map(({ clientId, seq, acked }) =>
      acked === null ? { clientId, seq } : { clientId, seq, ackedBelow: Math.max(1, Math.min(acked, seq)) },
    ),
  { nil: null },
);
const putArb = fc
  .record({
    key: textArb,
    value: bytesArb,
    returnPrevious: fc.boolean(),
    timeMs: countArb,
    session: sessionArb,
    requestId: fc.option(fc.uint8Array({ minLength: 16, maxLength: 16 }), { nil: undefined }),
    lease: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
    asIdentity: fc.boolean(),
  })
  .map(({ key, value, returnPrevious, timeMs, session, requestId, lease, asIdentity }) => {
    const command: KvCommand = {
      op: 'put',
      key,
      value,
      returnPrevious,
      session: asIdentity ? null : session,
      timeMs,
      ...(requestId === undefined || asIdentity ? {} : { requestId }),
      ...(lease === undefined ? {} : { lease }),
    };
    const identity = asIdentity && session !== null && requestId !== undefined ? { session, requestId } : undefined;
    return { command, identity };
  });

describe('encodePutDirect', () => {
  it('gives null or exactly the generic encoder’s bytes, for any put', () => {
    fc.assert(
      fc.property(putArb, ({ command, identity }) => {
        const direct = encodePutDirect(command, identity);
        const generic = Buffer.from(encodeKvCommandGeneric(command, identity));
        if (direct !== null) assert.deepEqual(Buffer.from(direct), generic);
        assert.deepEqual(Buffer.from(encodeKvCommand(command, identity)), generic);
      }),
      fcParams(),
    );
  });

  it('writes every endpoint put directly, and it reads back as the command', () => {
    const endpointArb = fc.record({
      key: fc.stringMatching(/^[\x20-\x7e]{1,300}$/),
      value: fc.uint8Array({ maxLength: 5000 }),
      seq: fc.integer({ min: 1, max: 2 ** 40 }),
      window: fc.nat(200),
      rid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      timeMs: fc.oneof(fc.nat(), fc.integer({ min: 1_700_000_000_000, max: 2_000_000_000_000 })),
    });
    fc.assert(
      fc.property(endpointArb, ({ key, value, seq, window, rid, timeMs }) => {
        const session = { clientId: '@n1/0123456789abcdef.3', seq, ackedBelow: Math.max(1, seq - window) };
        const command: KvCommand = { op: 'put', key, value, returnPrevious: false, session: null, timeMs };
        const direct = encodePutDirect(command, { session, requestId: rid });
        assert.notEqual(direct, null);
        if (direct === null) return;
        assert.deepEqual(
          Buffer.from(direct),
          Buffer.from(encodeKvCommandGeneric(command, { session, requestId: rid })),
        );
        const expected = { ...command, session, requestId: rid };
        assert.deepEqual(decodeKvCommandGeneric(direct), expected);
        assert.deepEqual(decodePutDirect(direct), expected);
        if (direct.byteLength >= 1024) assert.equal(direct.buffer.byteLength, direct.byteLength);
      }),
      fcParams(),
    );
  });
});
