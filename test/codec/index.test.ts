// Proves the codec factory and the shared rules: createSerializer builds each codec by name
// and refuses unknown names and bad limits with ConfigError; the limits resolve as
// documented; layout.ts lists exactly the fields of every message type; and every encoder
// refuses what its decoder would refuse (invalid values, unknown types, over-limit content),
// naming the field, so that a peer is never sent a message it must reject.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { ConfigError, SerializationError } from '../../contracts/errors.js';
import { RPC_MESSAGE_TYPES, type RpcMessage } from '../../contracts/messages.js';
import { createSerializer, DEFAULT_CODEC_LIMITS, resolveCodecLimits, SERIALIZER_NAMES } from '../../codec/index.js';
import type { SerializerName } from '../../codec/index.js';
import { FIELD_ORDER } from '../../codec/layout.js';
import { messageArbitraries, rpcMessageArbitrary } from './arbitraries.js';
import { fcParams } from '../fc-params.js';

const vote = {
  type: 'RequestVoteRequest',
  term: 3,
  candidateId: 'n1',
  lastLogIndex: 9,
  lastLogTerm: 2,
  transfer: false,
} as const;

describe('createSerializer', () => {
  it('builds each codec by its configuration name', () => {
    const expected = [
      ['cbor', 60, 'application/cbor'],
      ['json', 50, 'application/json'],
      ['protobuf', 65000, 'application/x-protobuf'],
    ];
    assert.deepStrictEqual(
      SERIALIZER_NAMES.map((name) => createSerializer(name)).map((s) => [s.name, s.contentFormat, s.mediaType]),
      expected,
    );
  });

  it('refuses an unknown name with ConfigError', () => {
    assert.throws(
      () => createSerializer('msgpack' as SerializerName),
      (error: unknown) => error instanceof ConfigError && /msgpack/u.test(error.message),
    );
  });

  it('refuses bad limits with ConfigError naming every bad field and its limit', () => {
    assert.throws(
      () =>
        createSerializer('cbor', {
          messageBytesMax: 10,
          entriesPerMessageMax: 0,
          entryBytesMax: 1.5,
          chunkBytesMax: -1,
        }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 4 &&
        error.problems.some((p) => p.includes('messageBytesMax: expected an integer from 1024 to 268435456, got 10')) &&
        error.problems.some((p) => p.includes('entriesPerMessageMax')),
    );
    assert.throws(
      () => resolveCodecLimits({ messageBytesMax: 4096, chunkBytesMax: 8192 }),
      /chunkBytesMax: expected an integer from 1 to 4096/u,
    );
  });
});

describe('decoders', () => {
  for (const name of SERIALIZER_NAMES) {
    it(`${name} refuses input that is not bytes, or bytes over shared memory`, () => {
      const serializer = createSerializer(name);
      const shared = new Uint8Array(new SharedArrayBuffer(8));
      for (const input of [shared, 'text', null, [1, 2], new Uint16Array(2)]) {
        assert.throws(
          () => serializer.decode(input as Uint8Array),
          (error: unknown) => error instanceof SerializationError && error.code === 'CODEC_MALFORMED',
        );
      }
    });
  }
});

describe('codec limits', () => {
  it('default to 8 MiB messages, 10,000 entries, 1 MiB entries and 4 MiB chunks', () => {
    assert.deepStrictEqual(
      { ...DEFAULT_CODEC_LIMITS },
      { messageBytesMax: 8 << 20, entriesPerMessageMax: 10_000, entryBytesMax: 1 << 20, chunkBytesMax: 4 << 20 },
    );
    assert.deepStrictEqual({ ...resolveCodecLimits() }, { ...DEFAULT_CODEC_LIMITS });
  });

  it('override field by field, defaults shrinking to a smaller message limit', () => {
    assert.deepStrictEqual(
      { ...resolveCodecLimits({ messageBytesMax: 65536, entriesPerMessageMax: 5 }) },
      { messageBytesMax: 65536, entriesPerMessageMax: 5, entryBytesMax: 65536, chunkBytesMax: 65536 },
    );
  });
});

describe('layout', () => {
  it('lists exactly the fields of every message type, type excepted', () => {
    const arbitraries = messageArbitraries();
    for (const type of RPC_MESSAGE_TYPES) {
      const arbitrary: fc.Arbitrary<RpcMessage> = arbitraries[type];
      const [sample] = fc.sample(arbitrary, { numRuns: 1, seed: 1 });
      assert.ok(sample !== undefined);
      assert.deepStrictEqual(
        Object.keys(sample)
          .filter((key) => key !== 'type')
          .sort(),
        [...FIELD_ORDER[type]].sort(),
        type,
      );
    }
  });
});

describe('encoders', () => {
  const invalid: readonly (readonly [string, unknown, RegExp])[] = [
    ['a negative term', { ...vote, term: -1 }, /RequestVoteRequest\.term: expected a non-negative safe integer/u],
    ['a NaN index', { ...vote, lastLogIndex: Number.NaN }, /RequestVoteRequest\.lastLogIndex/u],
    ['an unsafe integer', { ...vote, lastLogTerm: 2 ** 53 }, /RequestVoteRequest\.lastLogTerm/u],
    [
      'a missing field',
      { type: 'RequestVoteRequest', term: 3, candidateId: 'n1', lastLogIndex: 9, lastLogTerm: 2 },
      /transfer: expected a boolean, got nothing/u,
    ],
    ['an empty node id', { ...vote, candidateId: '' }, /candidateId: node id must not be empty/u],
    ['a lone surrogate', { ...vote, candidateId: 'n\ud800' }, /candidateId: node id contains a forbidden character/u],
    ['an unknown type', { ...vote, type: 'Gossip' }, /message\.type: unknown message type the string "Gossip"/u],
    ['a non-object', 'RequestVoteRequest', /expected a message/u],
    [
      'an unknown entry type',
      {
        type: 'AppendEntriesRequest',
        term: 1,
        leaderId: 'n1',
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [{ term: 1, index: 1, type: 'snapshot', command: new Uint8Array(0) }],
        leaderCommit: 0,
      },
      /entries\[0\]\.type: expected an entry type/u,
    ],
    [
      'a command that is not bytes',
      {
        type: 'AppendEntriesRequest',
        term: 1,
        leaderId: 'n1',
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [{ term: 1, index: 1, type: 'noop', command: [1, 2] }],
        leaderCommit: 0,
      },
      /entries\[0\]\.command: expected a byte string/u,
    ],
    [
      'a lower-case error code',
      { type: 'ClientForwardResponse', code: 'not_leader', message: '', leaderHint: null, result: new Uint8Array(0) },
      /code: error code contains a forbidden character/u,
    ],
  ];

  for (const name of SERIALIZER_NAMES) {
    const serializer = createSerializer(name);
    for (const [what, message, pattern] of invalid) {
      it(`${name} refuses to encode ${what}`, () => {
        assert.throws(
          () => serializer.encode(message as RpcMessage),
          (error: unknown) =>
            error instanceof SerializationError && error.code === 'CODEC_MALFORMED' && pattern.test(error.message),
        );
      });
    }

    it(`${name} encodes only the known fields of a message carrying extra properties`, () => {
      const decoded = serializer.decode(serializer.encode({ ...vote, debugTag: 'x' } as RpcMessage));
      assert.deepStrictEqual(decoded, vote);
    });
  }

  it('encode exactly what decode accepts, for every codec', () => {
    const limits = { entriesPerMessageMax: 4, entryBytesMax: 64, chunkBytesMax: 256, messageBytesMax: 8192 };
    const pairs = SERIALIZER_NAMES.map((name) => [createSerializer(name, limits), createSerializer(name)] as const);
    const accepts = (action: () => unknown): boolean => {
      try {
        action();
        return true;
      } catch (error: unknown) {
        assert.ok(error instanceof SerializationError, String(error));
        return false;
      }
    };
    fc.assert(
      fc.property(rpcMessageArbitrary(), (message) => {
        for (const [strict, loose] of pairs) {
          const encodable = accepts(() => strict.encode(message));
          const decodable = accepts(() => strict.decode(loose.encode(message)));
          assert.equal(encodable, decodable, `${strict.name}: encode and decode agree`);
        }
      }),
      fcParams(500),
    );
  });
});
