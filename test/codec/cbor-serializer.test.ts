// Proves the CBOR serializer's wire format and its refusals, one crafted case at a time: the
// exact bytes of known messages (so the format cannot drift unnoticed), interoperability with
// cbor-x's own encoder, the version check, everything the pre-decode scan refuses (maps, tags,
// floats, indefinite lengths, huge declared lengths, deep nesting, bad UTF-8, trailing bytes),
// strict field checks with field paths, the configurable limits, and zero-copy byte fields.
import { strict as assert } from 'node:assert';
import { Encoder } from 'cbor-x';
import { SerializationError } from '../../contracts/errors.js';
import type { AppendEntriesRequest, RpcMessage } from '../../contracts/messages.js';
import { CborSerializer, DEFAULT_CODEC_LIMITS, JsonSerializer } from '../../codec/index.js';
import { checkMessage } from '../../codec/check-message.js';
import { OBJECT_IN_PLACE_DIALECT } from '../../codec/dialects.js';
import { prototypePolluted } from './hostile.js';

const cbor = new CborSerializer();
const hex = (text: string): Uint8Array => Uint8Array.from(Buffer.from(text.replace(/\s/gu, ''), 'hex'));
const toHex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function rejects(bytes: Uint8Array, code: string, pattern: RegExp, serializer = cbor): void {
  assert.throws(
    () => serializer.decode(bytes),
    (error: unknown) => error instanceof SerializationError && error.code === code && pattern.test(error.message),
  );
}

const append = (entries: AppendEntriesRequest['entries']): AppendEntriesRequest => ({
  type: 'AppendEntriesRequest',
  term: 2,
  leaderId: 'n1',
  prevLogIndex: 4,
  prevLogTerm: 1,
  entries,
  leaderCommit: 3,
});

describe('CborSerializer', () => {
  it('names itself cbor with Content-Format 60 and application/cbor', () => {
    assert.equal(cbor.name, 'cbor');
    assert.equal(cbor.contentFormat, 60);
    assert.equal(cbor.mediaType, 'application/cbor');
  });

  describe('wire format', () => {
    it('writes a heartbeat as [version, type code, ...fields]', () => {
      // [1, 5, 2, "n1", 4, 1, [], 3]
      assert.equal(toHex(cbor.encode(append([]))), '880105026' + '26e31' + '040180' + '03');
    });

    it('writes entries as [term, index, type code, plain byte string] (no tag 64)', () => {
      const bytes = cbor.encode(append([{ term: 2, index: 5, type: 'noop', command: new Uint8Array([0xab]) }]));
      assert.equal(toHex(bytes), '880105026' + '26e31' + '0401' + '81' + '84020502' + '41ab' + '03');
    });

    it('writes nulls, large integers as major type 0 and text as UTF-8', () => {
      const bytes = cbor.encode({
        type: 'AppendEntriesResponse',
        term: 2 ** 53 - 1,
        success: false,
        conflictIndex: null,
        conflictTerm: 2 ** 32,
        lastLogIndex: 0,
      });
      assert.equal(toHex(bytes), '870106' + '1b001fffffffffffff' + 'f4' + 'f6' + '1b0000000100000000' + '00');
      const response = cbor.encode({
        type: 'ClientForwardResponse',
        code: '',
        message: 'é',
        leaderHint: 'ñ',
        result: new Uint8Array(0),
      });
      assert.equal(toHex(response), '86010c' + '60' + '62c3a9' + '62c3b1' + '40');
    });

    it('decodes what cbor-x itself encodes for the same arrays', () => {
      const encoder = new Encoder({ useRecords: false, tagUint8Array: false });
      const bytes = encoder.encode([1, 5, 2, 'n1', 4, 1, [[2, 5, 1, Buffer.from([1, 2])]], 3]);
      assert.deepStrictEqual(
        cbor.decode(bytes),
        append([{ term: 2, index: 5, type: 'command', command: new Uint8Array([1, 2]) }]),
      );
    });
  });

  describe('version', () => {
    it('refuses another version with CODEC_VERSION before reading anything else', () => {
      rejects(hex('83 02 0a 05'), 'CODEC_VERSION', /version 2/u);
      rejects(hex('83 00 0a 05'), 'CODEC_VERSION', /version 0/u);
      rejects(hex('82 18 63 a1'), 'CODEC_VERSION', /version 99/u);
      rejects(hex('83 1b 0000000100000000 0a'), 'CODEC_VERSION', /version/u);
    });

    it('refuses a message that does not start with a version', () => {
      rejects(hex(''), 'CODEC_MALFORMED', /empty/u);
      rejects(hex('05'), 'CODEC_MALFORMED', /array starting with its version/u);
      rejects(hex('80'), 'CODEC_MALFORMED', /array starting with its version/u);
      rejects(hex('83 61 31 0a 05'), 'CODEC_MALFORMED', /unsigned integer/u);
      rejects(hex('a1 61 76 01'), 'CODEC_MALFORMED', /array/u);
    });
  });

  describe('pre-decode scan', () => {
    const cases: readonly (readonly [string, string, RegExp])[] = [
      ['maps', '83 01 0a a1 61 61 01', /maps/u],
      ['tags', '83 01 0a c2 41 05', /tags/u],
      ['tag 64 typed arrays', '85 01 02 05 d8 40 41 01', /tags/u],
      ['floats', '83 01 0a fb 4014000000000000', /float/u],
      ['half floats', '83 01 0a f9 4500', /float/u],
      ['undefined', '83 01 0a f7', /simple value/u],
      ['indefinite arrays', '83 01 0a 9f ff', /indefinite/u],
      ['indefinite byte strings', '84 01 0b 61 61 5f 41 00 ff', /indefinite/u],
      ['reserved additional information', '83 01 0a 1c', /reserved/u],
      ['trailing bytes', '83 01 0a 05 00', /trailing/u],
      ['truncated heads', '83 01 0a 19 01', /truncated/u],
      ['an array longer than its bytes', '83 01 0a 99 0400 00', /declared length 1024 exceeds the 1 bytes left/u],
      ['a byte string of 2 GiB', '85 01 02 05 5a 80000000 00', /declared length/u],
      ['invalid UTF-8 text', '84 01 09 05 62 ff fe', /UTF-8/u],
      ['UTF-8 encoded surrogates', '84 01 09 05 63 eda080', /UTF-8/u],
    ];
    for (const [what, bytes, pattern] of cases) {
      it(`refuses ${what}`, () => rejects(hex(bytes), 'CODEC_MALFORMED', pattern));
    }

    it('refuses arrays longer than any list a message may hold with CODEC_LIMIT, before decoding them', () => {
      rejects(
        hex('83 01 0a 9a ffffffff'),
        'CODEC_LIMIT',
        /an array of 4294967295 items exceeds the longest list a message may hold \(10000\)/u,
      );
      rejects(hex('83 01 0a 9b ffffffffffffffff'), 'CODEC_LIMIT', /an array of Infinity items/u);
      const long = new Uint8Array(3 + 3 + 10_001).fill(0x00);
      long.set([0x88, 0x01, 0x05, 0x99, 0x27, 0x11]);
      rejects(long, 'CODEC_LIMIT', /an array of 10001 items/u);
    });

    it('refuses more data items than any message may hold, before cbor-x builds them', () => {
      // [1, 10, [[], [], … 10,000 ×], [[], …], …]: within every depth and list bound, but
      // millions of empty arrays in all.
      const inner = Buffer.concat([hex('99 2710'), new Uint8Array(10_000).fill(0x80)]);
      const bomb = Buffer.concat([hex('8b 01 0a'), ...Array.from({ length: 9 }, () => inner)]);
      rejects(bomb, 'CODEC_LIMIT', /more than 58256 data items/u);
    });

    it('refuses 1,000,000 nested arrays quickly and without a stack overflow', () => {
      const deep = new Uint8Array(1_000_003).fill(0x81);
      deep.set([0x83, 0x01, 0x0a]);
      rejects(deep, 'CODEC_MALFORMED', /nested deeper than 4/u);
    });

    it('refuses a __proto__ map key without touching Object.prototype', () => {
      const encoded = new Encoder({ useRecords: false }).encode(
        JSON.parse('[1, 10, {"__proto__": {"polluted": true}}]'),
      );
      rejects(encoded, 'CODEC_MALFORMED', /maps/u);
      assert.equal(prototypePolluted(), false);
    });
  });

  describe('fields', () => {
    const cases: readonly (readonly [string, string, RegExp])[] = [
      [
        'a negative term',
        '83 01 0a 20',
        /TimeoutNowResponse\.term: expected a non-negative safe integer, got the number -1/u,
      ],
      ['a term above 2^53 - 1', '83 01 0a 1b 0020000000000000', /TimeoutNowResponse\.term/u],
      ['a text term', '83 01 0a 61 35', /TimeoutNowResponse\.term/u],
      ['a missing field', '82 01 0a', /expected 3 fields, got 2/u],
      ['an extra field', '84 01 0a 05 05', /expected 3 fields, got 4/u],
      ['an unknown type code', '83 01 0d 05', /unknown message type code the number 13/u],
      ['type code 0', '83 01 00 05', /unknown message type code the number 0/u],
      ['an empty node id', '84 01 09 05 60', /TimeoutNowRequest\.leaderId: node id must not be empty/u],
      ['a 65-char node id', `84 01 09 05 78 41 ${'61'.repeat(65)}`, /leaderId: node id of 65 chars exceeds 64/u],
      ['a control character in a node id', '84 01 09 05 62 61 0a', /leaderId: node id contains a forbidden character/u],
      [
        'a bad entry type code',
        '88 01 05 02 62 6e 31 04 01 81 84 02 05 04 40 03',
        /entries\[0\]\.type: expected an entry type code/u,
      ],
      [
        'an entry of the wrong shape',
        '88 01 05 02 62 6e 31 04 01 81 83 02 05 01 03',
        /entries\[0\]: expected an entry of 4 fields/u,
      ],
      [
        'a text command',
        '88 01 05 02 62 6e 31 04 01 81 84 02 05 01 60 03',
        /entries\[0\]\.command: expected a byte string/u,
      ],
      ['a non-boolean flag', '84 01 02 05 01', /RequestVoteResponse\.voteGranted: expected a boolean/u],
    ];
    for (const [what, bytes, pattern] of cases) {
      it(`refuses ${what}, naming the field`, () => rejects(hex(bytes), 'CODEC_MALFORMED', pattern));
    }
  });

  describe('limits', () => {
    const small = new CborSerializer({
      entriesPerMessageMax: 2,
      entryBytesMax: 4,
      chunkBytesMax: 8,
      messageBytesMax: 1024,
    });
    const entry = (size: number): AppendEntriesRequest['entries'][number] => ({
      term: 1,
      index: 1,
      type: 'command',
      command: new Uint8Array(size),
    });

    it('refuses more entries than entriesPerMessageMax, on decode and on encode', () => {
      const three = cbor.encode(append([entry(1), entry(1), entry(1)]));
      rejects(three, 'CODEC_LIMIT', /entries: 3 items exceed entriesPerMessageMax \(2\)/u, small);
      assert.throws(() => small.encode(append([entry(1), entry(1), entry(1)])), { code: 'CODEC_LIMIT' });
    });

    it('refuses a command above entryBytesMax, naming the entry', () => {
      rejects(
        cbor.encode(append([entry(4), entry(5)])),
        'CODEC_LIMIT',
        /entries\[1\]\.command: 5 bytes exceed entryBytesMax \(4\)/u,
        small,
      );
    });

    it('refuses a snapshot chunk above chunkBytesMax', () => {
      const chunk: RpcMessage = {
        type: 'InstallSnapshotRequest',
        term: 1,
        leaderId: 'n1',
        lastIncludedIndex: 1,
        lastIncludedTerm: 1,
        offset: 0,
        data: new Uint8Array(9),
        done: false,
        totalBytes: 9,
        configuration: { voters: ['n1'], learners: [], oldVoters: null, members: [] },
      };
      rejects(cbor.encode(chunk), 'CODEC_LIMIT', /data: 9 bytes exceed chunkBytesMax \(8\)/u, small);
    });

    it('refuses input above messageBytesMax before parsing it', () => {
      rejects(new Uint8Array(1025), 'CODEC_LIMIT', /1025 bytes exceed messageBytesMax \(1024\)/u, small);
      const large = {
        type: 'ClientForwardResponse',
        code: '',
        message: 'x'.repeat(1100),
        leaderHint: null,
        result: new Uint8Array(0),
      } as const;
      assert.throws(() => small.encode(large), { code: 'CODEC_LIMIT' });
    });
  });

  describe('byte fields', () => {
    it('are plain Uint8Array views into the input, not copies', () => {
      const input = cbor.encode(append([{ term: 1, index: 1, type: 'command', command: new Uint8Array([7, 8, 9]) }]));
      for (const bytes of [new Uint8Array(input), Buffer.from(input)]) {
        const decoded = cbor.decodeAs('AppendEntriesRequest', bytes);
        const command = decoded.entries[0]?.command;
        assert.ok(command !== undefined);
        assert.equal(Object.getPrototypeOf(command), Uint8Array.prototype);
        assert.equal(command.buffer, bytes.buffer, 'shares the input memory');
        bytes[bytes.indexOf(9)] = 42;
        assert.deepStrictEqual([...command], [7, 8, 42], 'so callers must copy before reusing the input');
      }
    });

    it("check an AppendEntries' entries in place when encoding: no copy of the list, only known fields written", () => {
      const entries = [
        { term: 1, index: 5, type: 'command' as const, command: Buffer.from([1, 2]), extra: 'not on the wire' },
        { term: 1, index: 6, type: 'noop' as const, command: new Uint8Array(0) },
      ];
      const message = append(entries);
      const checked = checkMessage(message, DEFAULT_CODEC_LIMITS, OBJECT_IN_PLACE_DIALECT);
      assert.ok(checked.type === 'AppendEntriesRequest');
      assert.equal(checked.entries, message.entries, 'the list itself, not a copy');
      const plain = append(entries.map((e) => ({ term: e.term, index: e.index, type: e.type, command: e.command })));
      assert.equal(toHex(cbor.encode(message)), toHex(cbor.encode(plain)));
      // The JSON encoder copies every property it finds, so its check still copies the entries.
      const json = new JsonSerializer();
      assert.ok(!Buffer.from(json.encode(message)).toString('utf8').includes('extra'));
      assert.deepStrictEqual(json.decode(json.encode(message)), json.decode(json.encode(plain)));
    });

    it('refuses a bad entry checked in place, naming it', () => {
      const bad = [
        { term: 1, index: 5, type: 'noop' as const, command: new Uint8Array(0) },
        { term: 1, index: 6, type: 'noop' as const, command: [1, 2] as unknown as Uint8Array },
      ];
      assert.throws(
        () => cbor.encode(append(bad)),
        (error: unknown) =>
          error instanceof SerializationError &&
          error.code === 'CODEC_MALFORMED' &&
          error.message.includes('AppendEntriesRequest.entries[1].command'),
      );
      const over = [{ term: 1, index: 5, type: 'noop' as const, command: new Uint8Array(5) }];
      assert.throws(
        () => new CborSerializer({ entryBytesMax: 4 }).encode(append(over)),
        (error: unknown) =>
          error instanceof SerializationError &&
          error.code === 'CODEC_LIMIT' &&
          error.message.includes('AppendEntriesRequest.entries[0].command'),
      );
    });

    it('accept Buffers and offset views when encoding', () => {
      const backing = Buffer.from([0, 1, 2, 3, 4, 5]);
      const decoded = cbor.decodeAs(
        'AppendEntriesRequest',
        cbor.encode(append([{ term: 1, index: 1, type: 'config', command: backing.subarray(2, 5) }])),
      );
      assert.deepStrictEqual(decoded.entries[0]?.command, new Uint8Array([2, 3, 4]));
    });
  });
});
