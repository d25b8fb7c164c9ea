// Proves that every codec round-trips every message type (property 6), that the three codecs
// agree with one another (a message through CBOR, JSON and protobuf decodes to equal
// messages), and that decodeAs refuses a valid message of another type. fast-check generates
// messages with the arbitraries of arbitraries.ts (empty, maximal and unicode-heavy values);
// serializers are configured with the same bounds, so values at a bound are valid.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { SerializationError } from '../../contracts/errors.js';
import { RPC_MESSAGE_TYPES, type RpcMessage, type RpcMessageType } from '../../contracts/messages.js';
import { createSerializer, SERIALIZER_NAMES } from '../../codec/index.js';
import { codecLimitsFor, messageArbitraries, rpcMessageArbitrary } from './arbitraries.js';
import { fcParams } from '../fc-params.js';

const serializers = SERIALIZER_NAMES.map((name) => createSerializer(name, codecLimitsFor()));
const arbitraries = messageArbitraries();

/** Decoded byte fields must be plain Uint8Arrays, so that deepStrictEqual compares contents only. */
function assertPlainBytes(value: unknown, path: string): void {
  if (value instanceof Uint8Array) {
    assert.equal(Object.getPrototypeOf(value), Uint8Array.prototype, `${path} is a plain Uint8Array`);
  } else if (Array.isArray(value)) {
    value.forEach((item, i) => assertPlainBytes(item, `${path}[${i}]`));
  } else if (typeof value === 'object' && value !== null) {
    for (const [key, field] of Object.entries(value)) assertPlainBytes(field, `${path}.${key}`);
  }
}

describe('codec round trip (property 6)', () => {
  for (const serializer of serializers) {
    describe(serializer.name, () => {
      for (const type of RPC_MESSAGE_TYPES) {
        it(`round-trips every ${type}`, () => {
          fc.assert(
            fc.property(arbitraries[type], (message) => {
              const bytes = serializer.encode(message);
              const decoded = serializer.decode(bytes);
              assert.deepStrictEqual(decoded, message);
              assert.deepStrictEqual(serializer.decodeAs(type, bytes), message);
              assertPlainBytes(decoded, type);
            }),
            fcParams(300),
          );
        });
      }

      it('decodes Buffer input and views at an offset like a plain Uint8Array', () => {
        fc.assert(
          fc.property(rpcMessageArbitrary(), fc.nat({ max: 16 }), (message, offset) => {
            const bytes = serializer.encode(message);
            const backing = Buffer.alloc(bytes.byteLength + offset + 5, 0xa5);
            backing.set(bytes, offset);
            const decoded = serializer.decode(backing.subarray(offset, offset + bytes.byteLength));
            assert.deepStrictEqual(decoded, message);
            assertPlainBytes(decoded, message.type);
          }),
          fcParams(300),
        );
      });
    });
  }
});

describe('codecs agree', () => {
  it('decode the same message from CBOR, JSON and protobuf', () => {
    fc.assert(
      fc.property(rpcMessageArbitrary(), (message) => {
        const decoded = serializers.map((serializer) => serializer.decode(serializer.encode(message)));
        for (const other of decoded) assert.deepStrictEqual(other, decoded[0]);
        assert.deepStrictEqual(decoded[0], message);
      }),
      fcParams(1000),
    );
  });

  it('are deterministic: the same message always encodes to the same bytes', () => {
    fc.assert(
      fc.property(rpcMessageArbitrary(), (message) => {
        for (const serializer of serializers) {
          assert.deepStrictEqual(
            Buffer.from(serializer.encode(message)),
            Buffer.from(serializer.encode(structuredClone(message))),
          );
        }
      }),
      fcParams(300),
    );
  });
});

describe('decodeAs', () => {
  const otherType = (type: RpcMessageType): fc.Arbitrary<RpcMessageType> =>
    fc.constantFrom(...RPC_MESSAGE_TYPES.filter((t) => t !== type));

  for (const serializer of serializers) {
    it(`${serializer.name}: refuses a valid message of another type with CODEC_MALFORMED`, () => {
      const pairs = rpcMessageArbitrary().chain((message) =>
        otherType(message.type).map((expected) => [message, expected] as const),
      );
      fc.assert(
        fc.property(pairs, ([message, expected]: readonly [RpcMessage, RpcMessageType]) => {
          const bytes = serializer.encode(message);
          assert.throws(
            () => serializer.decodeAs(expected, bytes),
            (error: unknown) =>
              error instanceof SerializationError &&
              error.code === 'CODEC_MALFORMED' &&
              error.message.includes(expected) &&
              error.message.includes(message.type),
          );
        }),
        fcParams(500),
      );
    });
  }
});
