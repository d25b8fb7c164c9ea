// Proves that a WAL batch record written from its pieces (storage/wal/wal-frame.ts
// encodeBatchRecordParts) is byte for byte the record format: for any batch (truncation,
// compaction, hard state with or without a vote, entries of every type with commands below, at
// and above RECORD_PIECE_BYTES_MIN, as Buffers or as plain views at odd offsets), the pieces
// joined equal a reference encoder written from the format in the file comment (the one-buffer
// encoder this replaced), their lengths add up to `bytes`, every command of
// RECORD_PIECE_BYTES_MIN or more is a piece of its own, the entry's own object (not a copy),
// and the record decodes back to the batch. A frame of more than 1,000 pieces comes as one
// buffer, with the same bytes. Frames and LMDB entry records of large commands, whose CRC-32 is
// kept from the first record written (storage/crc32.ts crc32Through), checksum as from their bytes.
// Replays with FC_SEED/FC_PATH.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import type { EntryType, LogEntry } from '../../../contracts/log.js';
import type { PersistBatch } from '../../../contracts/persistence.js';
import {
  RECORD_PIECE_BYTES_MIN,
  decodeBatchRecords,
  encodeBatchRecordParts,
  encodeFrame,
  encodeFrameParts,
} from '../../../storage/wal/wal-frame.js';
import { COMMAND_CRC_KEPT_BYTES_MIN, crc32 } from '../../../storage/crc32.js';
import { encodeEntry } from '../../../storage/lmdb/lmdb-records.js';
import { fcParams } from '../../fc-params.js';

const TYPE_CODES: Readonly<Record<EntryType, number>> = { command: 1, noop: 2, config: 3 };

function u64(value: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32BE(Math.floor(value / 2 ** 32), 0);
  out.writeUInt32BE(value >>> 0, 4);
  return out;
}

/** The record format of wal-frame.ts's file comment, written field by field. */
function referenceRecord(batch: PersistBatch): Buffer {
  const out: Buffer[] = [];
  let flags = 0;
  if (batch.truncateFrom !== null) {
    flags |= 1;
    out.push(u64(batch.truncateFrom));
  }
  if (batch.compactBefore !== null) {
    flags |= 2;
    out.push(u64(batch.compactBefore));
  }
  if (batch.hardState !== null) {
    flags |= 4;
    const vote = batch.hardState.votedFor === null ? Buffer.alloc(0) : Buffer.from(batch.hardState.votedFor);
    out.push(u64(batch.hardState.currentTerm), Buffer.from([vote.length]), vote);
  }
  const count = Buffer.alloc(4);
  count.writeUInt32BE(batch.entries.length, 0);
  out.push(count);
  for (const entry of batch.entries) {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(entry.command.byteLength, 0);
    out.push(
      Buffer.from([TYPE_CODES[entry.type]]),
      u64(entry.term),
      u64(entry.index),
      length,
      Buffer.from(entry.command),
    );
  }
  return Buffer.concat([Buffer.from([flags]), ...out]);
}

const commandArb = fc
  .record({
    bytes: fc.oneof(
      fc.nat({ max: 50 }),
      fc.constantFrom(RECORD_PIECE_BYTES_MIN - 1, RECORD_PIECE_BYTES_MIN),
      fc.integer({ min: RECORD_PIECE_BYTES_MIN, max: 9000 }),
    ),
    fill: fc.nat({ max: 255 }),
    offset: fc.nat({ max: 5 }),
    plain: fc.boolean(),
  })
  .map(({ bytes, fill, offset, plain }) => {
    const backing = new Uint8Array(bytes + offset + 2).fill(fill);
    const view = backing.subarray(offset, offset + bytes);
    return plain ? view : Buffer.from(view.buffer, view.byteOffset, view.byteLength);
  });

const batchArb = fc
  .record({
    first: fc.integer({ min: 1, max: 2 ** 40 }),
    commands: fc.array(commandArb, { maxLength: 6 }),
    types: fc.array(fc.constantFrom<EntryType>('command', 'noop', 'config'), { minLength: 6, maxLength: 6 }),
    term: fc.integer({ min: 1, max: 2 ** 33 }),
    truncateFrom: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: null }),
    compactBefore: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: null }),
    hardState: fc.option(
      fc.record({
        currentTerm: fc.integer({ min: 0, max: 2 ** 40 }),
        votedFor: fc.option(fc.constantFrom('n1', 'node-ü7'), { nil: null }),
      }),
      { nil: null },
    ),
  })
  .map((d): PersistBatch => ({
    snapshot: null,
    truncateFrom: d.truncateFrom,
    compactBefore: d.compactBefore,
    hardState: d.hardState,
    entries: d.commands.map((command, i): LogEntry => ({
      term: d.term,
      index: d.first + i,
      type: d.types[i] ?? 'command',
      command,
    })),
  }));

describe('WAL batch records written from pieces', () => {
  it('join to the record format, hold each large command in place, and decode back', () => {
    fc.assert(
      fc.property(batchArb, (batch) => {
        const record = encodeBatchRecordParts(batch);
        const joined = Buffer.concat(record.pieces);
        assert.equal(joined.length, record.bytes);
        assert.deepEqual(joined, referenceRecord(batch));
        for (const entry of batch.entries) {
          if (entry.command.byteLength < RECORD_PIECE_BYTES_MIN) continue;
          // The command object itself, not a view of it: its CRC-32 is kept by the object (crc32Through).
          assert.ok(record.pieces.includes(entry.command), `the command of entry ${entry.index} is a piece itself`);
        }
        const commands = new Set(batch.entries.map((entry) => entry.command));
        record.pieces.forEach((piece, i) =>
          assert.equal(commands.has(piece), i % 2 === 1, `piece ${i}: commands at odd indices only`),
        );
        const [decoded] = decodeBatchRecords(joined, 1, 'test');
        assert.deepEqual(
          decoded?.entries.map((e) => [e.term, e.index, e.type, Buffer.from(e.command).toString('hex')]),
          batch.entries.map((e) => [e.term, e.index, e.type, Buffer.from(e.command).toString('hex')]),
        );
        assert.deepEqual(decoded?.hardState ?? null, batch.hardState === null ? null : { ...batch.hardState });
      }),
      fcParams(300, 'wal record parts'),
    );
  });

  it('checksums large commands through their kept CRC-32, frames and LMDB records alike (property)', () => {
    const large = fc
      .record({
        bytes: fc.integer({ min: COMMAND_CRC_KEPT_BYTES_MIN - 1, max: 70_000 }),
        seed: fc.nat({ max: 255 }),
        plain: fc.boolean(),
      })
      .map(({ bytes, seed, plain }) => {
        const view = Uint8Array.from({ length: bytes }, (_, i) => (i * 13 + seed) & 0xff);
        return plain ? view : Buffer.from(view.buffer);
      });
    fc.assert(
      fc.property(fc.array(large, { minLength: 1, maxLength: 3 }), (commands) => {
        const entries = commands.map((command, i): LogEntry => ({ term: 3, index: 10 + i, type: 'command', command }));
        const batch: PersistBatch = {
          snapshot: null,
          truncateFrom: null,
          compactBefore: null,
          hardState: null,
          entries,
        };
        // The second pass finds every command's CRC-32 kept from the first.
        for (let pass = 0; pass < 2; pass += 1) {
          const record = encodeBatchRecordParts(batch);
          const frame = encodeFrameParts(7, [record]);
          assert.deepEqual(Buffer.concat(frame.parts), encodeFrame(7, [Buffer.concat(record.pieces)]), `pass ${pass}`);
          for (const entry of entries) {
            const value = encodeEntry(entry);
            assert.equal(value.readUInt32BE(4), crc32(Buffer.concat([value.subarray(0, 4), value.subarray(8)])));
          }
        }
      }),
      fcParams(40, 'kept command crc'),
    );
  });

  it('copies a frame of more than 1,000 pieces into one buffer, the same bytes', () => {
    const command = Buffer.alloc(RECORD_PIECE_BYTES_MIN, 9);
    const records = Array.from({ length: 600 }, (_, i) =>
      encodeBatchRecordParts({
        snapshot: null,
        truncateFrom: null,
        compactBefore: null,
        hardState: null,
        entries: [{ term: 1, index: i + 1, type: 'command', command }],
      }),
    );
    const { parts, bytes } = encodeFrameParts(5, records);
    assert.equal(parts.length, 1, 'one buffer');
    assert.equal(bytes, parts[0]?.length);
    assert.deepEqual(
      parts[0],
      encodeFrame(
        5,
        records.map((r) => Buffer.concat(r.pieces)),
      ),
    );
    const fewer = encodeFrameParts(5, records.slice(0, 300));
    assert.ok(fewer.parts.length > 600, 'written in place');
    const fewerFrame = encodeFrame(
      5,
      records.slice(0, 300).map((r) => Buffer.concat(r.pieces)),
    );
    assert.deepEqual(Buffer.concat(fewer.parts), fewerFrame);
  });
});
