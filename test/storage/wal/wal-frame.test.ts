// Proves encodeFrameParts (storage/wal/wal-frame.ts), the pieces the log writes a frame from in
// one gathered write: concatenated, they are byte for byte the frame encodeFrame builds (header,
// checksum over the records, zero padding to 8 bytes), for frames of 1 to 70 records (past 64 the
// records come copied into one buffer), and readFrame reads them back.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { encodeFrame, encodeFrameParts, readFrame } from '../../../storage/wal/wal-frame.js';
import { fcParams } from '../../fc-params.js';

describe('WAL frame parts', () => {
  it('concatenate to the frame encodeFrame builds, which reads back', () => {
    const recordsArb = fc.array(
      fc.uint8Array({ minLength: 1, maxLength: 40 }).map((bytes) => Buffer.from(bytes)),
      { minLength: 1, maxLength: 70 },
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 40 }), recordsArb, (firstSeq, records) => {
        const { parts, bytes } = encodeFrameParts(
          firstSeq,
          records.map((record) => ({ pieces: [record], bytes: record.length })),
        );
        const joined = Buffer.concat(parts);
        assert.equal(joined.length, bytes);
        assert.deepEqual(joined, encodeFrame(firstSeq, records));
        if (records.length <= 64) assert.equal(parts[1], records[0]);
        const read = readFrame(joined, 0);
        assert.ok(read.kind === 'frame', JSON.stringify(read));
        assert.equal(read.firstSeq, firstSeq);
        assert.equal(read.count, records.length);
        assert.equal(read.nextOffset, bytes);
      }),
      fcParams(200, 'wal frame parts'),
    );
  });
});
