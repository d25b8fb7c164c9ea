// Proves the on-disk encodings: entries round-trip exactly (commands as plain Uint8Arrays) for
// any term, index, type and command; entry keys sort in index order; any single damaged byte of
// an entry record is detected (STORAGE_CORRUPT, never a different entry); the JSON records
// round-trip and refuse malformed input. Properties replay with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { EntryType, LogEntry } from '../../../contracts/log.js';
import {
  checkSnapshotData,
  decodeEntry,
  encodeEntry,
  encodeHardState,
  encodeSnapshotMeta,
  entryKey,
  parseEntryKey,
  parseFormat,
  parseHardState,
  parseSnapshotMeta,
  writeEntryKey,
} from '../../../storage/lmdb/lmdb-records.js';
import { crc32 } from '../../../storage/crc32.js';
import { CONFIGURATION } from '../helpers.js';
import { fcParams } from '../../fc-params.js';

const entryArbitrary: fc.Arbitrary<LogEntry> = fc
  .record({
    term: fc.maxSafeNat(),
    index: fc.maxSafeNat(),
    type: fc.constantFrom<EntryType>('command', 'noop', 'config'),
    command: fc.uint8Array({ maxLength: 300 }),
  })
  .map((e) => ({ ...e })); // fast-check records have no prototype; entries read back do

describe('LMDB records', () => {
  it('round-trips every entry exactly', () => {
    fc.assert(
      fc.property(entryArbitrary, (e) => {
        const decoded = decodeEntry(e.index, encodeEntry(e));
        assert.deepStrictEqual(decoded, e);
        assert.equal(Object.getPrototypeOf(decoded.command), Uint8Array.prototype);
      }),
      fcParams(500),
    );
  });

  it('checksums an entry record over bytes 0..3 and 8..end, the format written down', () => {
    fc.assert(
      fc.property(entryArbitrary, (e) => {
        const value = encodeEntry(e);
        const expected = crc32(Buffer.concat([value.subarray(0, 4), value.subarray(8)]));
        assert.equal(value.readUInt32BE(4), expected);
        assert.deepStrictEqual(
          value.subarray(0, 4),
          Buffer.from([1, { command: 1, noop: 2, config: 3 }[e.type], 0, 0]),
        );
      }),
      fcParams(300),
    );
  });

  it('writes an entry key into a given buffer as entryKey makes it', () => {
    const key = Buffer.alloc(8);
    fc.assert(
      fc.property(fc.maxSafeNat(), (index) => {
        assert.equal(writeEntryKey(key, index), key);
        assert.deepStrictEqual(key, entryKey(index));
      }),
      fcParams(300),
    );
    assert.throws(() => writeEntryKey(Buffer.alloc(7), 1), { code: 'RAFT_INVARIANT' });
  });

  it('sorts entry keys in index order', () => {
    fc.assert(
      fc.property(fc.maxSafeNat(), fc.maxSafeNat(), (a, b) => {
        assert.equal(Math.sign(Buffer.compare(entryKey(a), entryKey(b))), Math.sign(a - b));
        assert.equal(parseEntryKey(entryKey(a)), a);
      }),
      fcParams(500),
    );
  });

  it('detects any single damaged byte of an entry record', () => {
    fc.assert(
      fc.property(entryArbitrary, fc.nat(), fc.integer({ min: 1, max: 255 }), (e, position, mask) => {
        const value = encodeEntry(e);
        const at = position % value.length;
        value[at] = (value[at] ?? 0) ^ mask;
        assert.throws(() => decodeEntry(e.index, value), { code: 'STORAGE_CORRUPT' });
      }),
      fcParams(500),
    );
  });

  it('refuses a record under the wrong key, a short record and a wrong key length', () => {
    assert.throws(
      () => decodeEntry(4, encodeEntry({ term: 1, index: 5, type: 'noop', command: new Uint8Array() })),
      /key 4 has index 5/,
    );
    assert.throws(() => decodeEntry(1, new Uint8Array(10)), { code: 'STORAGE_CORRUPT' });
    assert.throws(() => parseEntryKey(new Uint8Array(7)), { code: 'STORAGE_CORRUPT' });
    assert.throws(() => entryKey(-1), { code: 'RAFT_INVARIANT' });
  });

  it('round-trips hard state and snapshot metadata and checks the image', () => {
    assert.deepStrictEqual(parseHardState(encodeHardState({ currentTerm: 9, votedFor: 'n2' })), {
      currentTerm: 9,
      votedFor: 'n2',
    });
    assert.deepStrictEqual(parseHardState(encodeHardState({ currentTerm: 0, votedFor: null })), {
      currentTerm: 0,
      votedFor: null,
    });
    const data = new Uint8Array([1, 2, 3]);
    const meta = parseSnapshotMeta(
      encodeSnapshotMeta(
        { lastIncludedIndex: 7, lastIncludedTerm: 2, configuration: CONFIGURATION },
        { dataBytes: 3, dataCrc32: crc32(data), dataSlot: 1 },
        4096,
      ),
    );
    assert.equal(meta.dataRecordBytes, 4096);
    assert.equal(meta.dataSlot, 1);
    assert.deepStrictEqual(meta.configuration, CONFIGURATION);
    assert.equal(meta.lastIncludedIndex, 7);
    assert.deepStrictEqual(checkSnapshotData(meta, Buffer.from([1, 2, 3])), data);
    assert.throws(() => checkSnapshotData(meta, new Uint8Array([1, 2, 4])), /fails its checksum/);
    assert.throws(() => checkSnapshotData(meta, new Uint8Array([1, 2])), /is 2 bytes/);
  });

  it('refuses malformed JSON records with STORAGE_CORRUPT', () => {
    const bad = [
      '',
      'null',
      '[]',
      '{"currentTerm":1.5,"votedFor":null}',
      '{"currentTerm":1,"votedFor":""}',
      '{"currentTerm":1}',
    ];
    for (const text of bad) assert.throws(() => parseHardState(Buffer.from(text)), { code: 'STORAGE_CORRUPT' }, text);
    assert.throws(() => parseSnapshotMeta(Buffer.from('{"lastIncludedIndex":1}')), { code: 'STORAGE_CORRUPT' });
    assert.throws(() => parseFormat(Buffer.from('{"format":"coraft-lmdb","version":0}')), { code: 'STORAGE_CORRUPT' });
    assert.equal(parseFormat(Buffer.from('{"format":"coraft-lmdb","version":3}')), 3);
  });
});
