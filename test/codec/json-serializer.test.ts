// Proves the JSON serializer's wire format and its refusals with crafted documents: the exact
// text of a known message, the version check, unknown fields (including `__proto__` and
// `constructor`, which must not reach Object.prototype), strict base64, bad UTF-8 and byte
// order marks, numbers JSON can spell but messages cannot hold, deep nesting, the limits, and
// that the schema file and the field order of layout.ts describe the same fields.
import { strict as assert } from 'node:assert';
import { SerializationError } from '../../contracts/errors.js';
import type { RpcMessageType } from '../../contracts/messages.js';
import { FIELD_ORDER, MESSAGE_TYPES_BY_CODE } from '../../codec/layout.js';
import { JsonSerializer } from '../../codec/index.js';
import schema from '../../codec/schemas/rpc-v1.schema.json' with { type: 'json' };
import { prototypePolluted } from './hostile.js';

const json = new JsonSerializer();
const text = (document: string): Uint8Array => Buffer.from(document, 'utf8');

function rejects(document: string | Uint8Array, code: string, pattern: RegExp, serializer = json): void {
  assert.throws(
    () => serializer.decode(typeof document === 'string' ? text(document) : document),
    (error: unknown) => error instanceof SerializationError && error.code === code && pattern.test(error.message),
  );
}

const entriesDocument = (entries: string): string =>
  `{"v":1,"type":"AppendEntriesRequest","term":2,"leaderId":"n1","prevLogIndex":4,"prevLogTerm":1,"entries":` +
  `[${entries}],"leaderCommit":3}`;

describe('JsonSerializer', () => {
  it('names itself json with Content-Format 50 and application/json', () => {
    assert.equal(json.name, 'json');
    assert.equal(json.contentFormat, 50);
    assert.equal(json.mediaType, 'application/json');
  });

  it('writes one object: version, type, then the fields by name, bytes as base64', () => {
    const bytes = json.encode({
      type: 'AppendEntriesRequest',
      term: 2,
      leaderId: 'n1',
      prevLogIndex: 4,
      prevLogTerm: 1,
      entries: [{ term: 2, index: 5, type: 'command', command: new Uint8Array([0xfb, 0xff]) }],
      leaderCommit: 3,
    });
    assert.equal(
      Buffer.from(bytes).toString('utf8'),
      entriesDocument('{"term":2,"index":5,"type":"command","command":"+/8="}'),
    );
  });

  it('decodes a document whatever the order of its fields', () => {
    const decoded = json.decode(text('{"term":7,"type":"TimeoutNowResponse","v":1}'));
    assert.deepStrictEqual(decoded, { type: 'TimeoutNowResponse', term: 7 });
  });

  describe('version', () => {
    it('refuses another numeric version with CODEC_VERSION', () => {
      rejects('{"v":2,"type":"TimeoutNowResponse","term":7}', 'CODEC_VERSION', /version the number 2/u);
      rejects('{"v":0,"this":"may be a whole new format"}', 'CODEC_VERSION', /version/u);
      rejects(` { "v" : 2 , "deeper": ${'['.repeat(100)}${']'.repeat(100)}}`, 'CODEC_VERSION', /version the number 2/u);
      rejects('{"type":"TimeoutNowResponse","v":3,"term":7}', 'CODEC_VERSION', /version the number 3/u);
    });

    it('refuses a missing or non-numeric version as malformed', () => {
      rejects(
        '{"type":"TimeoutNowResponse","term":7}',
        'CODEC_MALFORMED',
        /message\.v: expected the version 1, got nothing/u,
      );
      rejects('{"v":"1","type":"TimeoutNowResponse","term":7}', 'CODEC_MALFORMED', /message\.v/u);
      rejects('[1]', 'CODEC_MALFORMED', /expected a JSON object/u);
      rejects('null', 'CODEC_MALFORMED', /expected a JSON object/u);
    });
  });

  describe('unknown and hostile keys', () => {
    it('refuses unknown fields, naming them', () => {
      rejects(
        '{"v":1,"type":"TimeoutNowResponse","term":7,"extra":true}',
        'CODEC_MALFORMED',
        /TimeoutNowResponse: must NOT have additional properties \(the string "extra"\)/u,
      );
      rejects(
        entriesDocument('{"term":2,"index":5,"type":"noop","command":"","x":1}'),
        'CODEC_MALFORMED',
        /entries\[0\]: must NOT have additional properties/u,
      );
    });

    it('refuses __proto__ and constructor keys at any depth without polluting Object.prototype', () => {
      rejects(
        '{"__proto__":{"polluted":true},"v":1,"type":"TimeoutNowResponse","term":7}',
        'CODEC_MALFORMED',
        /additional properties \(the string "__proto__"\)/u,
      );
      rejects(
        entriesDocument('{"__proto__":{"polluted":1},"term":2,"index":5,"type":"noop","command":""}'),
        'CODEC_MALFORMED',
        /__proto__/u,
      );
      rejects(
        '{"constructor":{"prototype":{"polluted":1}},"v":1,"type":"TimeoutNowResponse","term":7}',
        'CODEC_MALFORMED',
        /constructor/u,
      );
      rejects('{"v":1,"type":"__proto__"}', 'CODEC_MALFORMED', /unknown message type/u);
      rejects('{"v":1,"type":"toString"}', 'CODEC_MALFORMED', /unknown message type/u);
      assert.equal(prototypePolluted(), false);
    });
  });

  describe('values', () => {
    const cases: readonly (readonly [string, string, RegExp])[] = [
      ['a fractional term', '{"v":1,"type":"TimeoutNowResponse","term":1.5}', /\.term: must be integer/u],
      ['a negative term', '{"v":1,"type":"TimeoutNowResponse","term":-1}', /\.term: must be >= 0/u],
      [
        'a term above 2^53 - 1',
        '{"v":1,"type":"TimeoutNowResponse","term":9007199254740993}',
        /\.term: must be <= 9007199254740991/u,
      ],
      ['an infinite term', '{"v":1,"type":"TimeoutNowResponse","term":1e400}', /\.term/u],
      ['a string term', '{"v":1,"type":"TimeoutNowResponse","term":"7"}', /\.term: must be integer/u],
      ['a null term', '{"v":1,"type":"TimeoutNowResponse","term":null}', /\.term: must be integer/u],
      ['a missing field', '{"v":1,"type":"TimeoutNowResponse"}', /must have required property 'term'/u],
      [
        'an empty node id',
        '{"v":1,"type":"TimeoutNowRequest","term":1,"leaderId":""}',
        /\.leaderId: must NOT have fewer than 1 characters/u,
      ],
      [
        'a lone surrogate in a node id',
        '{"v":1,"type":"TimeoutNowRequest","term":1,"leaderId":"a\\ud800"}',
        /leaderId: node id contains a forbidden character/u,
      ],
      [
        'a control character in a node id',
        '{"v":1,"type":"TimeoutNowRequest","term":1,"leaderId":"a\\n"}',
        /\.leaderId: must match pattern/u,
      ],
      [
        '64 astral characters as a node id (128 code units)',
        `{"v":1,"type":"TimeoutNowRequest","term":1,"leaderId":"${'😀'.repeat(64)}"}`,
        /node id of 128 chars exceeds 64/u,
      ],
      [
        'an unknown entry type',
        entriesDocument('{"term":2,"index":5,"type":"snapshot","command":""}'),
        /entries\[0\]\.type: must be equal to one of the allowed values/u,
      ],
      [
        'base64 without padding',
        entriesDocument('{"term":2,"index":5,"type":"noop","command":"AQ"}'),
        /entries\[0\]\.command: base64 length is not a multiple of 4/u,
      ],
      [
        'base64 with stray bits',
        entriesDocument('{"term":2,"index":5,"type":"noop","command":"AR=="}'),
        /entries\[0\]\.command: not canonical padded base64/u,
      ],
      [
        'base64url characters',
        entriesDocument('{"term":2,"index":5,"type":"noop","command":"-_8="}'),
        /command: not canonical padded base64/u,
      ],
      [
        'base64 with whitespace',
        entriesDocument('{"term":2,"index":5,"type":"noop","command":"AQ==    "}'),
        /command: not canonical padded base64/u,
      ],
      [
        'a byte array instead of base64',
        entriesDocument('{"term":2,"index":5,"type":"noop","command":[1]}'),
        /command: must be string/u,
      ],
    ];
    for (const [what, document, pattern] of cases) {
      it(`refuses ${what}, naming the field`, () => rejects(document, 'CODEC_MALFORMED', pattern));
    }
  });

  describe('text', () => {
    it('refuses invalid UTF-8, a byte order mark and trailing garbage', () => {
      rejects(Uint8Array.of(0x7b, 0xff, 0x7d), 'CODEC_MALFORMED', /json:/u);
      rejects(
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), text('{"v":1,"type":"TimeoutNowResponse","term":7}')]),
        'CODEC_MALFORMED',
        /json:/u,
      );
      rejects('{"v":1,"type":"TimeoutNowResponse","term":7} x', 'CODEC_MALFORMED', /json:/u);
      rejects('', 'CODEC_MALFORMED', /json:/u);
    });

    it('refuses deep nesting and value bombs before JSON.parse builds them', () => {
      rejects(
        `${'['.repeat(4_000_000)}${']'.repeat(4_000_000)}`,
        'CODEC_MALFORMED',
        /json: byte 4: nested deeper than 4/u,
      );
      rejects(
        `{"v":1,"type":"TimeoutNowResponse","term":${'['.repeat(200_000)}${']'.repeat(200_000)}}`,
        'CODEC_MALFORMED',
        /nested deeper than 4/u,
      );
      rejects(
        `{"v":1,"type":"TimeoutNowResponse","term":7,"x":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`,
        'CODEC_MALFORMED',
        /nested deeper than 4/u,
      );
      const bomb = (item: string, count: number, per: number): string =>
        `{"v":1,"a":[${Array.from({ length: count / per }, () => `[${Array(per).fill(item).join(',')}]`).join(',')}]}`;
      rejects(bomb('{}', 1_000_000, 5000), 'CODEC_LIMIT', /json: byte \d+: more than 58256 values/u);
      rejects(bomb('[]', 1_000_000, 5000), 'CODEC_LIMIT', /more than 58256 values/u);
      rejects(`[${Array(20_000).fill('0').join(',')}]`, 'CODEC_LIMIT', /an array of more than 10000 items/u);
      rejects(
        `{${Array.from({ length: 40 }, (_, i) => `"k${i}":0`).join(',')}}`,
        'CODEC_MALFORMED',
        /an object of more than 32 members/u,
      );
    });

    it('skips brackets and quotes inside strings when scanning', () => {
      const message = {
        type: 'ClientForwardResponse',
        code: '',
        message: '[[[[[{{{{{ \\" ]]]',
        leaderHint: null,
        result: new Uint8Array(0),
      } as const;
      assert.deepStrictEqual(json.decode(json.encode(message)), message);
    });
  });

  describe('limits', () => {
    const small = new JsonSerializer({ entriesPerMessageMax: 1, entryBytesMax: 2, messageBytesMax: 1024 });

    it('refuses too many entries and too large commands with CODEC_LIMIT', () => {
      const entry = '{"term":2,"index":5,"type":"noop","command":"AQI="}';
      rejects(
        entriesDocument(`${entry},${entry}`),
        'CODEC_LIMIT',
        /entries: 2 items exceed entriesPerMessageMax \(1\)/u,
        small,
      );
      rejects(
        entriesDocument('{"term":2,"index":5,"type":"noop","command":"AQID"}'),
        'CODEC_LIMIT',
        /entries\[0\]\.command: 3 bytes exceed entryBytesMax \(2\)/u,
        small,
      );
      rejects(new Uint8Array(1025).fill(0x20), 'CODEC_LIMIT', /messageBytesMax/u, small);
    });
  });

  it('returns byte fields as plain Uint8Arrays decoded from base64', () => {
    const decoded = json.decodeAs(
      'AppendEntriesRequest',
      text(entriesDocument('{"term":2,"index":5,"type":"noop","command":"AQID"}')),
    );
    assert.deepStrictEqual(decoded.entries[0]?.command, new Uint8Array([1, 2, 3]));
  });

  it('has a schema whose required fields are, in order, v, type and the fields of layout.ts', () => {
    const definitions = schema.definitions as Record<string, { required?: readonly string[] }>;
    for (const type of MESSAGE_TYPES_BY_CODE) {
      const fields: readonly string[] = FIELD_ORDER[type satisfies RpcMessageType];
      assert.deepStrictEqual(definitions[type]?.required, ['v', 'type', ...fields], type);
    }
  });
});
