// Proves the windowed reader of log segments (storage/wal/wal-segment-file.ts) that recovery
// reads segments through. Property: after any sequence of reads, forward or backward, of any
// ranges of a file, with windows smaller and larger than the file and than the ranges, every
// view holds exactly the file's bytes of its range. And a range outside the file is refused.
import { strict as assert } from 'node:assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as fc from 'fast-check';
import { SegmentFile } from '../../../storage/wal/wal-segment-file.js';
import { fcParams } from '../../fc-params.js';
import { makeTempDir, removeDir } from '../helpers.js';

describe('WAL segment file reader', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => {
    removeDir(dir);
  });

  it('gives the bytes of the file for every range read, in any order (property)', () => {
    const read = fc.record({ a: fc.nat(), b: fc.nat(), backward: fc.boolean() });
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.integer({ min: 1, max: 4000 }),
        fc.array(read, { maxLength: 30 }),
        (content, windowBytes, reads) => {
          const path = join(dir, 'segment');
          writeFileSync(path, content);
          const file = SegmentFile.open(path, windowBytes);
          try {
            assert.equal(file.size, content.length);
            for (const { a, b, backward } of reads) {
              const from = a % (content.length + 1);
              const to = from + (b % (content.length - from + 1));
              assert.deepEqual(new Uint8Array(file.view(from, to, backward)), content.subarray(from, to));
            }
          } finally {
            file.close();
          }
        },
      ),
      fcParams(300, 'wal segment file views'),
    );
  });

  it('refuses a range outside the file', () => {
    const path = join(dir, 'segment');
    writeFileSync(path, Buffer.alloc(100, 1));
    const file = SegmentFile.open(path, 16);
    try {
      assert.throws(() => file.view(90, 101), { code: 'STORAGE_IO' });
      assert.throws(() => file.view(-1, 5), { code: 'STORAGE_IO' });
      assert.throws(() => file.view(10, 5), { code: 'STORAGE_IO' });
    } finally {
      file.close();
    }
  });
});
