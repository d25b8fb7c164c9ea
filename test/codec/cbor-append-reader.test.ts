// Proves the direct AppendEntries reader (codec/cbor-append-reader.ts) against cbor-x, which the
// generic decoding path uses. Properties: (1) every AppendEntriesRequest the CBOR serializer
// encodes with a printable ASCII leader id is read directly, equal to the original, commands
// plain Uint8Array views of the input; (2) for any input the pre-decode scan admits (valid
// encodings, and encodings with a byte changed, cut short or extended), whenever the reader
// returns a message, cbor-x decodes the same bytes to the same fields, and the serializer's
// decode returns that message, so the reader never accepts what the generic path would refuse
// nor reads it differently. Also: it hands other messages, a longer head than needed, a
// non-ASCII leader id and a command above entryBytesMax to the generic path. Replays with
// FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { Decoder } from 'cbor-x';
import type { AppendEntriesRequest } from '../../contracts/messages.js';
import { CborSerializer } from '../../codec/index.js';
import { readAppendEntriesDirect } from '../../codec/cbor-append-reader.js';
import { CBOR_NESTING_DEPTH_MAX } from '../../codec/cbor-serializer.js';
import { scanCbor } from '../../codec/cbor-scan.js';
import { dataItemsMax, listItemsMax } from '../../codec/limits.js';
import { ENTRY_TYPE_CODE } from '../../codec/layout.js';
import { codecLimitsFor, messageArbitraries, rpcMessageArbitrary } from './arbitraries.js';
import { fcParams } from '../fc-params.js';

const limits = codecLimitsFor();
const cbor = new CborSerializer(limits);
const appendArbitrary = messageArbitraries().AppendEntriesRequest;
// The generic path's decoder options (cbor-serializer.ts); int64AsNumber is missing from cbor-x's types.
const decoderOptions = { mapsAsObjects: true, useRecords: false, copyBuffers: false, int64AsNumber: true };
const cborX = new Decoder(decoderOptions);
const asciiId = fc.stringMatching(/^[\x20-\x7e]{1,64}$/u);

/** True when the pre-decode scan admits `bytes` (the reader only ever runs after it). */
function admitted(bytes: Uint8Array): boolean {
  try {
    scanCbor(bytes, CBOR_NESTING_DEPTH_MAX, listItemsMax(limits), dataItemsMax(limits));
    return true;
  } catch {
    return false;
  }
}

/** What cbor-x makes of `bytes` in the positional form of an AppendEntriesRequest `m`. */
function asCborX(m: AppendEntriesRequest): unknown[] {
  const entries = m.entries.map((e) => [e.term, e.index, ENTRY_TYPE_CODE[e.type], e.command]);
  return [1, 5, m.term, m.leaderId, m.prevLogIndex, m.prevLogTerm, entries, m.leaderCommit];
}

function sameAsGeneric(bytes: Uint8Array): void {
  const direct = readAppendEntriesDirect(bytes, limits);
  if (direct === null) return;
  const generic: unknown = cborX.decode(Uint8Array.from(bytes));
  assert.deepStrictEqual(asCborX(direct), generic);
  assert.deepStrictEqual(cbor.decode(bytes), direct);
}

describe('readAppendEntriesDirect', () => {
  it('reads every AppendEntries with an ASCII leader id, equal to the original, commands as views', () => {
    fc.assert(
      fc.property(appendArbitrary, asciiId, (message, leaderId) => {
        const original = { ...message, leaderId };
        const bytes = cbor.encode(original);
        const direct = readAppendEntriesDirect(bytes, limits);
        assert.ok(direct !== null, 'read directly');
        assert.deepStrictEqual(direct, original);
        for (const entry of direct.entries) {
          assert.equal(Object.getPrototypeOf(entry.command), Uint8Array.prototype);
          assert.equal(entry.command.buffer, bytes.buffer);
        }
      }),
      fcParams(500),
    );
  });

  it('accepts only what the generic path reads the same way, under any change to the bytes', () => {
    const edit = fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
      fc.record({ kind: fc.constant('cut' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('none' as const) }),
    );
    fc.assert(
      fc.property(fc.oneof(appendArbitrary, rpcMessageArbitrary()), asciiId, edit, (message, leaderId, change) => {
        const m = message.type === 'AppendEntriesRequest' ? { ...message, leaderId } : message;
        let bytes = Uint8Array.from(cbor.encode(m));
        if (change.kind === 'flip' && bytes.length > 0) {
          const at = change.at % bytes.length;
          bytes[at] = (bytes[at] ?? 0) ^ change.mask;
        } else if (change.kind === 'cut') {
          bytes = bytes.subarray(0, change.at % (bytes.length + 1));
        } else if (change.kind === 'append') {
          bytes = Uint8Array.from([...bytes, ...change.extra]);
        }
        if (admitted(bytes)) sameAsGeneric(bytes);
        if (m.type !== 'AppendEntriesRequest') assert.equal(readAppendEntriesDirect(bytes, limits), null);
      }),
      fcParams(2000),
    );
  });

  it('leaves a longer head, a non-ASCII or control character, an unsafe integer, a large command to cbor-x', () => {
    const base = { type: 'AppendEntriesRequest', term: 2, leaderId: 'n1', prevLogIndex: 4, prevLogTerm: 1 } as const;
    const heartbeat: AppendEntriesRequest = { ...base, entries: [], leaderCommit: 3 };
    const bytes = cbor.encode(heartbeat);
    assert.deepStrictEqual(readAppendEntriesDirect(bytes, limits), heartbeat);
    // term 2 as a one-byte argument (0x18 0x02): valid CBOR, not the preferred form.
    const longHead = Uint8Array.from([...bytes.subarray(0, 3), 0x18, 0x02, ...bytes.subarray(4)]);
    assert.equal(readAppendEntriesDirect(longHead, limits), null);
    assert.deepStrictEqual(cbor.decode(longHead), heartbeat);
    // A control character in the leader id (0x01 for 'n'), and a term of 2^53: refused by the generic path.
    const control = Uint8Array.from(bytes);
    control[control.indexOf(0x6e)] = 0x01;
    assert.equal(readAppendEntriesDirect(control, limits), null);
    assert.throws(() => cbor.decode(control), { code: 'CODEC_MALFORMED' });
    const unsafe = Uint8Array.from([...bytes.subarray(0, 3), 0x1b, 0, 0x20, 0, 0, 0, 0, 0, 0, ...bytes.subarray(4)]);
    assert.equal(readAppendEntriesDirect(unsafe, limits), null);
    assert.throws(() => cbor.decode(unsafe), { code: 'CODEC_MALFORMED' });
    const largest = Uint8Array.from([
      ...bytes.subarray(0, 3),
      0x1b,
      0,
      0x1f,
      ...Array<number>(6).fill(0xff),
      ...bytes.subarray(4),
    ]);
    assert.equal(readAppendEntriesDirect(largest, limits)?.term, Number.MAX_SAFE_INTEGER);
    const accented = { ...heartbeat, leaderId: 'nœud' };
    assert.equal(readAppendEntriesDirect(cbor.encode(accented), limits), null);
    assert.deepStrictEqual(cbor.decode(cbor.encode(accented)), accented);
    const big = {
      ...heartbeat,
      entries: [{ term: 2, index: 5, type: 'command' as const, command: new Uint8Array(9) }],
    };
    const encoded = new CborSerializer().encode(big);
    assert.equal(readAppendEntriesDirect(encoded, { ...limits, entryBytesMax: 8 }), null);
    assert.throws(() => new CborSerializer({ ...limits, entryBytesMax: 8 }).decode(encoded), { code: 'CODEC_LIMIT' });
  });
});
