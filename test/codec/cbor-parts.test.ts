// Proves that the CBOR serializer's encoding of an AppendEntries as parts (encodeParts,
// codec/cbor-writer.ts cborWriteParts) is the same message as its whole encoding, with the large
// commands sent where they are. Property: for any AppendEntries whose commands are drawn around
// CBOR_PART_BYTES_MIN (below, at and above it, empty, and views into larger buffers), with any
// term, index and commit values, the pieces joined are exactly encode()'s bytes, every command of
// CBOR_PART_BYTES_MIN bytes or more is one of the pieces as the very object the entry holds (never
// a copy), and no other piece is a command. Also: null for messages without such a command and
// for other message types; a command over the codec's limit is refused as encode refuses it; the
// pieces decode to the request. Replays with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { LogEntry } from '../../contracts/log.js';
import type { AppendEntriesRequest } from '../../contracts/messages.js';
import { SerializationError } from '../../contracts/errors.js';
import { CborSerializer } from '../../codec/index.js';
import { CBOR_PART_BYTES_MIN } from '../../codec/cbor-writer.js';
import { fcParams } from '../fc-params.js';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');

function request(entries: readonly LogEntry[], leaderCommit = 3, prevLogIndex = 4): AppendEntriesRequest {
  return { type: 'AppendEntriesRequest', term: 2, leaderId: 'n1', prevLogIndex, prevLogTerm: 1, entries, leaderCommit };
}

const commandBytes = fc.oneof(
  fc.nat({ max: 40 }),
  fc.constantFrom(CBOR_PART_BYTES_MIN - 1, CBOR_PART_BYTES_MIN, CBOR_PART_BYTES_MIN + 1),
  fc.integer({ min: CBOR_PART_BYTES_MIN, max: 70_000 }),
);

const entryArb = fc.record({
  term: fc.oneof(fc.nat({ max: 30 }), fc.constant(2 ** 32 + 5)),
  type: fc.constantFrom('command', 'noop', 'config'),
  bytes: commandBytes,
  fill: fc.nat({ max: 255 }),
  // The command as a view into a larger buffer, at an odd offset.
  offset: fc.nat({ max: 7 }),
});

describe('CborSerializer: AppendEntries encoded as parts', () => {
  it('gives pieces that join to the whole encoding, the large commands among them as they are', () => {
    fc.assert(
      fc.property(
        fc.array(entryArb, { minLength: 1, maxLength: 6 }),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 2 ** 40 }),
        (drawn, commit, prev) => {
          const entries: LogEntry[] = drawn.map((d, i) => {
            const backing = new Uint8Array(d.bytes + d.offset + 3).fill(d.fill);
            return {
              term: d.term,
              index: prev + 1 + i,
              type: d.type,
              command: backing.subarray(d.offset, d.offset + d.bytes),
            };
          });
          const r = request(entries, commit, prev);
          const cbor = new CborSerializer();
          const parts = cbor.encodeParts(r);
          const large = entries.filter((e) => e.command.byteLength >= CBOR_PART_BYTES_MIN).map((e) => e.command);
          if (large.length === 0) {
            assert.equal(parts, null);
            return;
          }
          assert.ok(parts !== null);
          assert.equal(hex(Buffer.concat(parts)), hex(new CborSerializer().encode(r)));
          const commandsAmongParts = parts.filter((p) => entries.some((e) => e.command === p));
          assert.deepEqual(commandsAmongParts, large, 'each large command is a piece, in order, as the object itself');
          assert.deepEqual(cbor.decode(Buffer.concat(parts)), cbor.decode(cbor.encode(r)));
        },
      ),
      fcParams(300, 'cbor-parts'),
    );
  });

  it('is null for other messages and for entries without a large command', () => {
    const cbor = new CborSerializer();
    const small: LogEntry = { term: 1, index: 5, type: 'command', command: new Uint8Array(CBOR_PART_BYTES_MIN - 1) };
    assert.equal(cbor.encodeParts(request([small])), null);
    assert.equal(cbor.encodeParts(request([])), null);
    const answer = {
      type: 'AppendEntriesResponse',
      term: 1,
      success: true,
      conflictIndex: null,
      conflictTerm: null,
      lastLogIndex: 4,
    } as const;
    assert.equal(cbor.encodeParts(answer), null);
  });

  it('refuses a command over the codec limit as encode does', () => {
    const cbor = new CborSerializer({ entryBytesMax: 2048 });
    const big: LogEntry = { term: 1, index: 5, type: 'command', command: new Uint8Array(4096) };
    const codeOf = (f: () => unknown): string => {
      try {
        f();
      } catch (error: unknown) {
        assert.ok(error instanceof SerializationError);
        return error.code;
      }
      return 'none';
    };
    assert.equal(
      codeOf(() => cbor.encodeParts(request([big]))),
      codeOf(() => cbor.encode(request([big]))),
    );
    assert.notEqual(
      codeOf(() => cbor.encodeParts(request([big]))),
      'none',
    );
  });
});
