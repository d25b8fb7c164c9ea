// Proves what the write-ahead log costs the disk (issue 17): a new engine writes little to open
// (a 64 KiB first step of its segment, not a whole 16 MiB segment) and nothing while idle; a
// segment grows in zero-filled steps ahead of the appends, never past walSegmentBytes, also for
// a frame larger than a step, and what was written survives a reopen; and a synced append of a
// small entry costs the process about a page of writes, not the size of the page-cache folio
// that the zero-filling created. Bytes are read from /proc/self/io (write_bytes: what this
// process dirtied for the block layer), so those tests run on Linux only. The last property
// fails on kernels with large page-cache folios for ext4 (Linux 6.16+) when zeros are written
// in large chunks; on other kernels it holds either way. A fill gives the event loop a turn after
// every ZERO_WRITES_PER_TURN pages.
import { strict as assert } from 'node:assert';
import { existsSync, fstatSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import {
  GROW_BYTES_MAX,
  GROW_BYTES_MIN,
  ZERO_WRITES_PER_TURN,
  ZERO_WRITE_BYTES,
  grownCapacity,
  zeroFill,
} from '../../../storage/wal/wal-prealloc.js';
import { entries, entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntries, appendLogEntry } from '../reference-fields.js';
import { scaledMs } from '../../timing.js';

const PROC_IO = '/proc/self/io';
const KIB = 1024;
const MIB = 1024 * KIB;
/** No checkpoint before close: every byte written is the log's. */
const NO_CHECKPOINT = { walCheckpointBytes: 512 * MIB, walPendingBytesMax: 1024 * MIB };

function writtenBytes(): number {
  const match = /write_bytes: (\d+)/.exec(readFileSync(PROC_IO, 'utf8'));
  assert.ok(match?.[1] !== undefined, `${PROC_IO} has write_bytes`);
  return Number(match[1]);
}

function segmentSizes(dir: string): number[] {
  return readdirSync(dir)
    .filter((name) => /^wal-[0-9a-f]{16}\.log$/.test(name))
    .sort()
    .map((name) => statSync(join(dir, name)).size);
}

describe('WAL segment preallocation', function () {
  this.timeout(scaledMs(60_000));
  let dir: string;

  beforeEach(function () {
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('grows in doubling steps of whole pages up to GROW_BYTES_MAX, and as far as a frame needs', () => {
    assert.equal(grownCapacity(GROW_BYTES_MIN, 40 * KIB, 0, 16 * MIB), 2 * GROW_BYTES_MIN);
    assert.equal(grownCapacity(512 * KIB, 300 * KIB, 0, 16 * MIB), 1024 * KIB);
    assert.equal(grownCapacity(4 * MIB, 3 * MIB, 0, 16 * MIB), 4 * MIB + GROW_BYTES_MAX);
    // A frame larger than the step: room for all of it, rounded up to a page.
    assert.equal(grownCapacity(GROW_BYTES_MIN, 60 * KIB, 300 * KIB + 5, 16 * MIB), 360 * KIB + 4 * KIB);
    // Never past the segment's size, even when that is not a whole page.
    assert.equal(grownCapacity(16 * MIB - 4 * KIB, 16 * MIB - 8 * KIB, 0, 16 * MIB - 100), 16 * MIB - 100);
  });

  it('creates a small segment, grows it ahead of the appends up to walSegmentBytes, and reopens', async () => {
    const options = walTestOptions(dir, { ...NO_CHECKPOINT, walSegmentBytes: MIB, walFrameBytesMax: 512 * KIB });
    let engine = await WalPersistenceEngine.open(options);
    const written = [...entries(1, 10, 1)];
    try {
      assert.deepEqual(segmentSizes(dir), [GROW_BYTES_MIN]);
      await appendLogEntries(engine, entries(1, 10, 1));
      // One frame of 300 KiB, more than the next step, then enough to fill two segments.
      const big = entry(11, 1, 'command', 300 * KIB);
      await appendLogEntry(engine, big);
      written.push(big);
      for (let index = 12; index < 40; index += 1) {
        const next = entry(index, 1, 'command', 60 * KIB);
        await appendLogEntry(engine, next);
        written.push(next);
        for (const size of segmentSizes(dir)) assert.ok(size <= MIB, `a segment of ${size} bytes`);
      }
      const sizes = segmentSizes(dir);
      assert.ok(sizes.length >= 2, `the log spans ${sizes.length} segments`);
      assert.equal(sizes[0], MIB);
    } finally {
      await engine.close();
    }
    engine = await WalPersistenceEngine.open(options);
    try {
      assert.deepStrictEqual((await engine.load()).entries, written);
      await appendLogEntry(engine, entry(40, 2));
      assert.deepStrictEqual((await engine.load()).entries.at(-1), entry(40, 2));
    } finally {
      await engine.close();
    }
  });

  it('writes at most 256 KiB to open a new data folder, and nothing while idle', async function () {
    if (!existsSync(PROC_IO)) this.skip();
    const before = writtenBytes();
    const engine = await WalPersistenceEngine.open(walTestOptions(dir, { walSegmentBytes: 16 * MIB }));
    try {
      const opened = writtenBytes() - before;
      assert.ok(opened <= 256 * KIB, `opening wrote ${opened} bytes`);
      await appendLogEntries(engine, entries(1, 50, 1));
      // Let the background work the writes started (growth, checkpoint) finish, then stay idle.
      await new Promise((resolve) => setTimeout(resolve, 300));
      const idleFrom = writtenBytes();
      await new Promise((resolve) => setTimeout(resolve, 700));
      assert.equal(writtenBytes() - idleFrom, 0, 'bytes written while idle');
    } finally {
      await engine.close();
    }
  });

  it('costs about a page of writes per small synced append, not a page-cache folio', async function () {
    if (!existsSync(PROC_IO)) this.skip();
    const engine = await WalPersistenceEngine.open(walTestOptions(dir, { ...NO_CHECKPOINT, walSyncMode: 'inline' }));
    const count = 200;
    const valueBytes = 300;
    try {
      await appendLogEntry(engine, entry(1, 1, 'command', valueBytes));
      const before = writtenBytes();
      for (let index = 2; index <= count + 1; index += 1)
        await appendLogEntry(engine, entry(index, 1, 'command', valueBytes));
      const perAppend = (writtenBytes() - before) / count;
      // A page or two per append (a frame may straddle pages), plus the zeros of the growth.
      assert.ok(perAppend <= 10 * KIB, `${Math.round(perAppend)} bytes written per append of ${valueBytes} bytes`);
    } finally {
      await engine.close();
    }
  });

  // Tail latency: a 1 MiB step written in one go held the event loop for its whole length.
  it('gives the event loop a turn after every ZERO_WRITES_PER_TURN pages of zeros', async () => {
    const handle = await open(join(dir, 'fill'), 'w');
    try {
      const sizes: number[] = [];
      let filled = false;
      const watch = (): void => {
        if (filled) return;
        sizes.push(fstatSync(handle.fd).size);
        setImmediate(watch);
      };
      setImmediate(watch);
      await zeroFill(handle.fd, 0, MIB);
      filled = true;
      assert.ok(sizes.length > 0, 'no turn ran during the fill');
      const first = sizes[0] ?? MIB;
      assert.ok(first > 0 && first <= ZERO_WRITES_PER_TURN * ZERO_WRITE_BYTES, `${first} bytes before the first turn`);
      for (let i = 1; i < sizes.length; i += 1)
        assert.ok((sizes[i] ?? 0) - (sizes[i - 1] ?? 0) <= ZERO_WRITES_PER_TURN * ZERO_WRITE_BYTES, `turn ${i}`);
      const bytes = readFileSync(join(dir, 'fill'));
      assert.equal(bytes.length, MIB);
      assert.ok(bytes.every((b) => b === 0));
    } finally {
      await handle.close();
    }
  });
});
