// Proves the KV encoding: commands, queries and results round-trip (fast-check), an identity or
// store revision passed beside a command or result encodes as if it were inside it, byte values
// are plain CBOR byte strings (no typed-array tag), decoders are strict (unknown fields, wrong
// types, half a session, a watermark above the sequence or without a session, a request id of
// the wrong length or without a session, unknown ops are refused), and arbitrary bytes decode to a value or a
// CODEC_MALFORMED SerializationError only.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { Encoder } from 'cbor-x';
import {
  decodeKvCommand,
  decodeKvQuery,
  decodeKvResult,
  encodeKvCommand,
  encodeKvQuery,
  encodeKvResult,
} from '../../../agent/kv/encoding.js';
import { SerializationError } from '../../../contracts/errors.js';
import type { KvCommand } from '../../../agent/kv/types.js';
import { fcParams } from '../../fc-params.js';
import { keyArb, operationArb, requestIdArb, resultArb, sessionArb } from './arbitraries.js';

const raw = new Encoder({ mapsAsObjects: true, useRecords: false });

function expectMalformed(fn: () => unknown, pattern: RegExp): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof SerializationError && e.code === 'CODEC_MALFORMED' && pattern.test(e.message),
  );
}

describe('KV encoding', () => {
  it('round-trips every command', () => {
    const arb = fc.record({
      operation: operationArb,
      session: sessionArb,
      timeMs: fc.nat(),
      requestId: fc.option(requestIdArb, { nil: null }),
    });
    fc.assert(
      fc.property(arb, ({ operation, session, timeMs, requestId }) => {
        const plain: KvCommand = { ...operation, session, timeMs };
        const command: KvCommand = session === null || requestId === null ? plain : { ...plain, requestId };
        assert.deepEqual(decodeKvCommand(encodeKvCommand(command)), command);
      }),
      fcParams(300, 'kv codec command round trip'),
    );
  });

  it('round-trips every result and query', () => {
    fc.assert(
      fc.property(resultArb, keyArb, (result, key) => {
        assert.deepEqual(decodeKvResult(encodeKvResult(result)), result);
        assert.deepEqual(decodeKvQuery(encodeKvQuery({ op: 'get', key })), { op: 'get', key });
      }),
      fcParams(300, 'kv codec result round trip'),
    );
  });

  it('writes an identity given beside a command exactly as the same identity inside it', () => {
    // encodeKvCommand(command, identity) is how the endpoint stamps a write without copying it:
    // the log entry must be byte for byte the one the copied command would have made.
    const arb = fc.record({
      operation: operationArb,
      session: sessionArb,
      identity: sessionArb,
      timeMs: fc.nat(),
      requestId: requestIdArb,
    });
    fc.assert(
      fc.property(arb, ({ operation, session, identity, timeMs, requestId }) => {
        const command: KvCommand = { ...operation, session, timeMs };
        if (identity === null) return;
        const copied: KvCommand = { ...command, session: identity, requestId };
        assert.deepEqual(encodeKvCommand(command, { session: identity, requestId }), encodeKvCommand(copied));
      }),
      fcParams(300, 'kv codec command identity'),
    );
  });

  it('writes a store revision given beside a result exactly as the same revision inside it', () => {
    fc.assert(
      fc.property(resultArb, fc.nat(), (result, storeRevision) => {
        const stamped = result.type === 'error' ? result : { ...result, storeRevision };
        assert.deepEqual(encodeKvResult(result, storeRevision), encodeKvResult(stamped));
      }),
      fcParams(300, 'kv codec result store revision'),
    );
  });

  it('round-trips a changes query with and without a byte budget, and refuses a budget out of range', () => {
    const base = { op: 'changes', since: 7, prefix: 'a/', exact: false, limit: 10 } as const;
    assert.deepEqual(decodeKvQuery(encodeKvQuery(base)), base);
    assert.deepEqual(decodeKvQuery(encodeKvQuery({ ...base, bytesMax: 1024 })), { ...base, bytesMax: 1024 });
    for (const bytesMax of [0, 256 * 1024 + 1])
      assert.throws(() => decodeKvQuery(encodeKvQuery({ ...base, bytesMax })), { code: 'CODEC_MALFORMED' });
  });

  it('encodes values as plain byte strings', () => {
    const bytes = encodeKvCommand({
      op: 'put',
      key: 'k',
      value: new Uint8Array([7, 8]),
      returnPrevious: false,
      session: null,
      timeMs: 0,
    });
    const hex = Buffer.from(bytes).toString('hex');
    assert.ok(hex.includes('420708'), `byte string 0x42 0x07 0x08 in ${hex}`);
    assert.ok(!hex.includes('d840'), 'no tag 64 (typed array)');
  });

  // Memory: a command stays in the in-memory log after it is applied; decoding it must add nothing to it.
  it('leaves a decoded command as it was, with no property added', () => {
    const command = encodeKvCommand({
      op: 'put',
      key: 'k',
      value: new Uint8Array(256).fill(1),
      returnPrevious: false,
      timeMs: 1,
      session: { clientId: 'c', seq: 1 },
    });
    decodeKvCommand(command);
    assert.deepEqual(Object.getOwnPropertyNames(command), [...command.keys()].map(String));
  });

  it('refuses unknown fields, missing fields, wrong types and half a session', () => {
    const put = { op: 'put', key: 'k', value: Buffer.from('v'), prev: false, time: 0 };
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, extra: 1 })), /unexpected field 'extra'/);
    expectMalformed(
      () => decodeKvCommand(raw.encode({ op: 'put', key: 'k', prev: false, time: 0 })),
      /missing field 'value'/,
    );
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, value: 'text' })), /'value' must be a byte string/);
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, time: -1 })), /'time' must be an integer/);
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, time: 1.5 })), /'time' must be an integer/);
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, client: 'c' })), /'client' and 'seq' go together/);
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, client: 'c', seq: 0 })),
      /'seq' must be an integer from 1/,
    );
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, client: '', seq: 1 })), /'client' must not be empty/);
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, key: '' })), /'key' must not be empty/);
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, acked: 1 })),
      /'acked' and 'rid' need 'client' and 'seq'/,
    );
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, rid: Buffer.alloc(16) })),
      /'acked' and 'rid' need 'client' and 'seq'/,
    );
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, client: 'c', seq: 3, acked: 4 })),
      /'acked' must be an integer from 1 to 3/,
    );
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, client: 'c', seq: 3, acked: 0 })),
      /'acked' must be an integer from 1 to 3/,
    );
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, client: 'c', seq: 3, rid: Buffer.alloc(15) })),
      /'rid' must have 16 bytes/,
    );
    expectMalformed(
      () => decodeKvCommand(raw.encode({ ...put, client: 'c', seq: 3, rid: 'text' })),
      /'rid' must be a byte string/,
    );
    expectMalformed(() => decodeKvCommand(raw.encode({ ...put, op: 'increment' })), /unknown op/);
    expectMalformed(() => decodeKvCommand(raw.encode([put])), /expected a map/);
    expectMalformed(
      () => decodeKvCommand(Buffer.concat([raw.encode(put), Buffer.from([0])])),
      /not a single well-formed CBOR item/,
    );
    expectMalformed(() => decodeKvCommand(new Uint8Array(0)), /empty/);
    expectMalformed(() => decodeKvResult(raw.encode({ type: 'error', code: 'NOPE', message: '' })), /unknown code/);
    expectMalformed(() => decodeKvQuery(raw.encode({ op: 'put', key: 'k' })), /unknown op/);
  });

  it('decodes arbitrary bytes to a value or CODEC_MALFORMED only', () => {
    const decoders = [decodeKvCommand, decodeKvQuery, decodeKvResult];
    const inputs = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.anything().map((v) => new Uint8Array(raw.encode(v))),
    );
    fc.assert(
      fc.property(inputs, (bytes) => {
        for (const decode of decoders) {
          try {
            decode(bytes);
          } catch (error: unknown) {
            assert.ok(error instanceof SerializationError && error.code === 'CODEC_MALFORMED', String(error));
          }
        }
      }),
      fcParams(1000, 'kv codec arbitrary bytes'),
    );
  });
});
