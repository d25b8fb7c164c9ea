// Proves the direct reader of put commands (agent/kv/put-decode.ts):
// - property: for any command encodeKvCommand writes (every op, with and without a session,
//   watermark, request id and lease), decodePutDirect gives either null or exactly what the
//   generic decoder (cbor-x and Fields) gives;
// - property: for any bytes made from an encoded put by changing, dropping or adding bytes, the
//   same holds, and where it gives a command the generic decoder accepts the bytes too (so a
//   replica reading either way applies the same command or refuses it the same way);
// - the endpoint's puts (session, watermark, request id; ASCII key) are read directly, not null.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { decodeKvCommandGeneric, encodeKvCommand } from '../../../agent/kv/encoding.js';
import { decodePutDirect } from '../../../agent/kv/put-decode.js';
import type { KvCommand } from '../../../agent/kv/types.js';
import { SerializationError } from '../../../contracts/errors.js';
import { fcParams } from '../../fc-params.js';
import { operationArb, requestIdArb, sessionArb } from './arbitraries.js';

const commandArb: fc.Arbitrary<KvCommand> = fc
  .record({
    operation: operationArb,
    session: sessionArb,
    timeMs: fc.oneof(fc.nat(), fc.constant(1_796_354_935_439), fc.maxSafeNat()),
    requestId: fc.option(requestIdArb, { nil: undefined }),
  })
  .map(({ operation, session, timeMs, requestId }) =>
    session !== null && requestId !== undefined
      ? { ...operation, session, timeMs, requestId }
      : { ...operation, session, timeMs },
  );

const endpointPutArb = fc.record({
  key: fc.stringMatching(/^[\x20-\x7e]{1,40}$/),
  value: fc.uint8Array({ maxLength: 5000 }),
  prev: fc.boolean(),
  seq: fc.integer({ min: 1, max: 2 ** 40 }),
  window: fc.nat(200),
  rid: fc.uint8Array({ minLength: 16, maxLength: 16 }),
  timeMs: fc.oneof(fc.nat(), fc.integer({ min: 1_700_000_000_000, max: 2_000_000_000_000 })),
});

/** The generic decoder's answer: the command, or 'malformed'. */
function generic(bytes: Uint8Array): KvCommand | 'malformed' {
  try {
    return decodeKvCommandGeneric(bytes);
  } catch (error) {
    if (error instanceof SerializationError) return 'malformed';
    throw error;
  }
}

function agrees(bytes: Uint8Array): void {
  const direct = decodePutDirect(bytes);
  sameAsBufferAndArray(bytes, direct);
  if (direct === null) return;
  assert.deepEqual(direct, generic(bytes));
}

/**
 * Text is read one way from a Buffer and another from a plain Uint8Array: the same bytes, as a
 * Buffer view at an offset into a larger buffer and as a plain array, read alike.
 */
function sameAsBufferAndArray(bytes: Uint8Array, direct: KvCommand | null): void {
  const inBuffer = Buffer.concat([Buffer.from([0xff, 0x61]), bytes, Buffer.from([0x62])]).subarray(2, 2 + bytes.length);
  assert.deepEqual(decodePutDirect(inBuffer), direct);
  assert.deepEqual(decodePutDirect(Uint8Array.from(bytes)), direct);
}

describe('decodePutDirect', () => {
  it('gives null or what the generic decoder gives, for every encoded command', () => {
    fc.assert(
      fc.property(commandArb, (command) => {
        agrees(encodeKvCommand(command));
      }),
      fcParams(),
    );
  });

  it('reads the endpoint puts directly, as the generic decoder does', () => {
    fc.assert(
      fc.property(endpointPutArb, ({ key, value, prev, seq, window, rid, timeMs }) => {
        const session = { clientId: '@n1/0123456789abcdef.3', seq, ackedBelow: Math.max(1, seq - window) };
        const bytes = encodeKvCommand(
          { op: 'put', key, value, returnPrevious: prev, session: null, timeMs },
          { session, requestId: rid },
        );
        const direct = decodePutDirect(bytes);
        assert.notEqual(direct, null);
        assert.deepEqual(direct, generic(bytes));
        sameAsBufferAndArray(bytes, direct);
        const plain = encodeKvCommand({ op: 'put', key, value, returnPrevious: prev, session: null, timeMs });
        assert.notEqual(decodePutDirect(plain), null);
        assert.deepEqual(decodePutDirect(plain), generic(plain));
      }),
      fcParams(),
    );
  });

  it('gives null or what the generic decoder gives, for puts with bytes changed, dropped or added', () => {
    const edit = fc.record({
      at: fc.nat(),
      byte: fc.integer({ min: 0, max: 255 }),
      kind: fc.constantFrom('set', 'drop', 'insert', 'cut'),
    });
    fc.assert(
      fc.property(endpointPutArb, fc.array(edit, { minLength: 1, maxLength: 3 }), (put, edits) => {
        const session = { clientId: '@n1/b.0', seq: put.seq, ackedBelow: Math.max(1, put.seq - put.window) };
        let bytes = Uint8Array.from(
          encodeKvCommand(
            {
              op: 'put',
              key: put.key,
              value: put.value.subarray(0, 8),
              returnPrevious: put.prev,
              session: null,
              timeMs: put.timeMs,
            },
            { session, requestId: put.rid },
          ),
        );
        for (const { at, byte, kind } of edits) {
          const i = at % (bytes.length + 1);
          const list = Array.from(bytes);
          if (kind === 'set' && i < list.length) list[i] = byte;
          if (kind === 'drop') list.splice(i, 1);
          if (kind === 'insert') list.splice(i, 0, byte);
          if (kind === 'cut') list.length = i;
          bytes = Uint8Array.from(list);
        }
        agrees(bytes);
      }),
      fcParams(2000),
    );
  });
});
