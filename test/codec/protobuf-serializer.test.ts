// Proves the protobuf serializer's wire format and its refusals: codec/coraft.proto is the
// schema the serializer compiles, its field numbers follow layout.ts, a standard protobufjs
// encoder (reflection over the .proto file, omitting default values) interoperates, and the
// decoder refuses other versions, missing or double bodies, unknown fields and wrong wire
// types, integers above 2^53 - 1, unlisted enumeration values, deep group nesting, and the
// limits, while returning byte fields as views of its input.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import protobuf from 'protobufjs';
import { SerializationError } from '../../contracts/errors.js';
import { ProtobufSerializer } from '../../codec/index.js';
import {
  ENTRY_TYPE_CODE,
  FIELD_ORDER,
  FORWARD_KIND_CODE,
  MESSAGE_TYPE_CODE,
  MESSAGE_TYPES_BY_CODE,
} from '../../codec/layout.js';
import { protoSchema } from '../../codec/protobuf-schema.js';

const pb = new ProtobufSerializer();
const protoText = readFileSync(new URL('../../codec/coraft.proto', import.meta.url), 'utf8');
const root = protobuf.parse(protoText).root;
const type = (name: string): protobuf.Type => root.lookupType(`coraft.rpc.v1.${name}`);
const Envelope = type('Envelope');
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s/gu, ''), 'hex'));

function rejects(bytes: Uint8Array, code: string, pattern: RegExp, serializer = pb): void {
  assert.throws(
    () => serializer.decode(bytes),
    (error: unknown) => error instanceof SerializationError && error.code === code && pattern.test(error.message),
  );
}

const snakeToCamel = (name: string): string => name.replace(/_([a-z])/gu, (_, letter: string) => letter.toUpperCase());

describe('ProtobufSerializer', () => {
  it('names itself protobuf with the experimental Content-Format 65000 and application/x-protobuf', () => {
    assert.equal(pb.name, 'protobuf');
    assert.equal(pb.contentFormat, 65000);
    assert.equal(pb.mediaType, 'application/x-protobuf');
  });

  describe('schema', () => {
    it('compiles exactly the text of codec/coraft.proto, from source and from the built package', async () => {
      assert.equal(protoSchema(), protoText);
      const built = (await import(new URL('../../dist/codec/protobuf-schema.js', import.meta.url).href)) as {
        protoSchema: () => string;
      };
      assert.equal(built.protoSchema(), protoText);
    });

    it('numbers message fields by the order of layout.ts and bodies by type code + 1', () => {
      for (const name of MESSAGE_TYPES_BY_CODE) {
        const fields = type(name).fieldsArray.map((field) => [snakeToCamel(field.name), field.id]);
        assert.deepStrictEqual(
          fields,
          FIELD_ORDER[name].map((field, i) => [field, i + 1]),
          name,
        );
        const body = Envelope.fieldsArray.find((field) => field.resolvedType?.name === name || field.type === name);
        assert.equal(body?.id, MESSAGE_TYPE_CODE[name] + 1, `${name} body field`);
      }
      assert.deepStrictEqual(
        { ...root.lookupEnum('coraft.rpc.v1.EntryType').values },
        {
          ENTRY_TYPE_UNSPECIFIED: 0,
          ENTRY_TYPE_COMMAND: ENTRY_TYPE_CODE.command,
          ENTRY_TYPE_NOOP: ENTRY_TYPE_CODE.noop,
          ENTRY_TYPE_CONFIG: ENTRY_TYPE_CODE.config,
        },
      );
      assert.deepStrictEqual(
        { ...root.lookupEnum('coraft.rpc.v1.ForwardKind').values },
        {
          FORWARD_KIND_UNSPECIFIED: 0,
          FORWARD_KIND_WRITE: FORWARD_KIND_CODE.write,
          FORWARD_KIND_READ: FORWARD_KIND_CODE.read,
          FORWARD_KIND_ADMIN: FORWARD_KIND_CODE.admin,
        },
      );
    });
  });

  describe('interoperability', () => {
    it('starts every encoding with the version field, 0x08 0x01', () => {
      assert.equal(
        Buffer.from(pb.encode({ type: 'TimeoutNowResponse', term: 7 })).toString('hex'),
        '0801' + '5a02' + '0807',
      );
    });

    it('decodes what a standard encoder writes, absent scalars reading as zero', () => {
      const bytes = Envelope.encode(
        Envelope.fromObject({ version: 1, appendEntriesResponse: { success: true } }),
      ).finish();
      assert.deepStrictEqual(pb.decode(bytes), {
        type: 'AppendEntriesResponse',
        term: 0,
        success: true,
        conflictIndex: null,
        conflictTerm: null,
        lastLogIndex: 0,
      });
      const joint = Envelope.encode(
        Envelope.fromObject({
          version: 1,
          installSnapshotRequest: {
            leaderId: 'n1',
            configuration: { voters: ['n1'], oldVoters: { ids: [] } },
            data: Buffer.from([1]),
          },
        }),
      ).finish();
      const decoded = pb.decodeAs('InstallSnapshotRequest', joint);
      assert.deepStrictEqual(decoded.configuration, { voters: ['n1'], learners: [], oldVoters: [], members: [] });
      assert.deepStrictEqual(decoded.data, new Uint8Array([1]));
    });

    it('tells an absent optional field (null) from a present zero', () => {
      const message = {
        type: 'AppendEntriesResponse',
        term: 1,
        success: false,
        conflictIndex: 0,
        conflictTerm: null,
        lastLogIndex: 0,
      } as const;
      assert.deepStrictEqual(pb.decode(pb.encode(message)), message);
      assert.deepStrictEqual(pb.decode(pb.encode({ ...message, conflictIndex: null, conflictTerm: 0 })), {
        ...message,
        conflictIndex: null,
        conflictTerm: 0,
      });
    });
  });

  describe('refusals', () => {
    const cases: readonly (readonly [string, string, string, RegExp])[] = [
      ['another version', '0802 5a02 0807', 'CODEC_VERSION', /version 2 is not supported/u],
      ['version 0', '0800 5a02 0807', 'CODEC_VERSION', /version 0/u],
      ['a huge version', '08ffffffff0f 5a00', 'CODEC_VERSION', /version 4294967295/u],
      [
        'an encoding that does not start with the version',
        '5a02 0807 0801',
        'CODEC_MALFORMED',
        /must start with the version field/u,
      ],
      ['a truncated version', '08', 'CODEC_MALFORMED', /truncated version/u],
      ['an empty input', '', 'CODEC_MALFORMED', /must start with the version field/u],
      [
        'a repeated version with another value',
        '0801 5a02 0807 0802',
        'CODEC_MALFORMED',
        /version: repeated with another value/u,
      ],
      ['no body', '0801', 'CODEC_MALFORMED', /exactly one message body, got 0/u],
      ['an unknown envelope field', '0801 5a02 0807 7001', 'CODEC_MALFORMED', /unknown field/u],
      ['an unknown body field', '0801 5a04 0807 1001', 'CODEC_MALFORMED', /TimeoutNowResponse: unknown field/u],
      [
        'a field of the wrong wire type',
        '0801 5a03 0a0107',
        'CODEC_MALFORMED',
        /unknown field or field of the wrong wire type/u,
      ],
      [
        'a term above 2^53 - 1',
        '0801 5a09 0880808080808080 10',
        'CODEC_MALFORMED',
        /TimeoutNowResponse\.term: expected a safe integer/u,
      ],
      [
        'an unspecified entry type',
        '0801 320e 12026e31 2a08 0801 1001 1800 2200',
        'CODEC_MALFORMED',
        /entries\[0\]\.type: expected an entry type code from 1 to 3, got the number 0/u,
      ],
      [
        'an unlisted entry type',
        '0801 320e 12026e31 2a08 0801 1001 1804 2200',
        'CODEC_MALFORMED',
        /entries\[0\]\.type/u,
      ],
      [
        'an unknown field in an entry',
        '0801 3210 12026e31 2a0a 0801 1001 1801 2200 2801',
        'CODEC_MALFORMED',
        /entries\[0\]: unknown field/u,
      ],
      [
        'an empty leader id',
        '0801 5202 0801',
        'CODEC_MALFORMED',
        /TimeoutNowRequest\.leaderId: node id must not be empty/u,
      ],
      [
        'a missing configuration',
        '0801 4204 1202 6e31',
        'CODEC_MALFORMED',
        /InstallSnapshotRequest\.configuration: expected a record, got null/u,
      ],
      ['an empty leader hint', '0801 6a02 1a00', 'CODEC_MALFORMED', /leaderHint: node id must not be empty/u],
      ['a length beyond the input', '0801 5a7f 0807', 'CODEC_MALFORMED', /protobuf:/u],
      ['invalid UTF-8 in a string', '0801 5205 0801 1201 ff', 'CODEC_MALFORMED', /protobuf:|forbidden/u],
    ];
    for (const [what, bytes, code, pattern] of cases) {
      it(`refuses ${what}`, () => rejects(hex(bytes), code, pattern));
    }

    it('decodes the last of two bodies, as protobuf requires of a oneof', () => {
      // protobufjs clears the earlier member of a oneof when it meets a later one, as the
      // protobuf specification says, so two bodies cannot be told from one.
      assert.deepStrictEqual(pb.decode(hex('0801 5a02 0807 5206 0807 1202 6e31')), {
        type: 'TimeoutNowRequest',
        term: 7,
        leaderId: 'n1',
      });
    });

    it('refuses groups, which could nest 1,000,000 deep, before protobufjs reads them', () => {
      const deep = new Uint8Array(2 + 1_000_000).fill(0x7b);
      deep.set([0x08, 0x01]);
      rejects(deep, 'CODEC_MALFORMED', /protobuf: byte 3: wire type 3 \(groups are not used\) in field 15/u);
    });

    it('refuses more fields than any message may hold, before protobufjs builds them', () => {
      // An AppendEntriesRequest body of 4,000,000 empty entries (2 bytes each).
      const header = hex('0801 32 80a4e803');
      const bomb = Buffer.alloc(header.length + 8_000_000);
      bomb.set(header);
      for (let i = header.length; i < bomb.length; i += 2) bomb.set([0x2a, 0x00], i);
      rejects(bomb, 'CODEC_LIMIT', /more than 58256 fields/u);
    });

    it('refuses deeply nested length-delimited bodies', () => {
      let body: Uint8Array = new Uint8Array(0);
      for (let depth = 0; depth < 200; depth += 1)
        body = protobuf.Writer.create()
          .uint32((5 << 3) | 2)
          .bytes(body)
          .finish();
      rejects(
        Buffer.concat([
          hex('0801'),
          protobuf.Writer.create()
            .uint32((6 << 3) | 2)
            .bytes(body)
            .finish(),
        ]),
        'CODEC_MALFORMED',
        /./u,
      );
    });
  });

  describe('limits and byte fields', () => {
    const small = new ProtobufSerializer({ entriesPerMessageMax: 1, entryBytesMax: 2, messageBytesMax: 1024 });

    it('refuses too many entries and too large commands with CODEC_LIMIT', () => {
      const entry = { term: 1, index: 1, type: 'command', command: new Uint8Array(2) } as const;
      const message = {
        type: 'AppendEntriesRequest',
        term: 1,
        leaderId: 'n1',
        prevLogIndex: 0,
        prevLogTerm: 0,
        entries: [entry, entry],
        leaderCommit: 0,
      } as const;
      rejects(pb.encode(message), 'CODEC_LIMIT', /entries: 2 items exceed entriesPerMessageMax \(1\)/u, small);
      rejects(
        pb.encode({ ...message, entries: [{ ...entry, command: new Uint8Array(3) }] }),
        'CODEC_LIMIT',
        /entries\[0\]\.command: 3 bytes exceed entryBytesMax \(2\)/u,
        small,
      );
      rejects(new Uint8Array(1025), 'CODEC_LIMIT', /messageBytesMax/u, small);
    });

    it('returns byte fields as plain Uint8Array views of the input', () => {
      const input = Buffer.from(
        pb.encode({
          type: 'ClientForwardRequest',
          sourceId: 'n2',
          kind: 'read',
          payload: new Uint8Array([5, 6]),
          timeoutMs: 100,
        }),
      );
      const decoded = pb.decodeAs('ClientForwardRequest', input);
      assert.equal(Object.getPrototypeOf(decoded.payload), Uint8Array.prototype);
      assert.equal(decoded.payload.buffer, input.buffer);
      assert.deepStrictEqual(decoded, {
        type: 'ClientForwardRequest',
        sourceId: 'n2',
        kind: 'read',
        payload: new Uint8Array([5, 6]),
        timeoutMs: 100,
      });
    });
  });
});
