// Proves that reading the log without a copy per record (storage/lmdb/lmdb-log-read.ts) hands each
// visitor exactly the bytes stored under its key, in index order: lmdb-js's getBinaryFast returns
// its whole read buffer (16 MiB) with only `length` set to the value's size, so a reader that
// trusted byteLength would see 16 MiB values; and that the commands load() returns are copies that
// later reads of that buffer leave intact. Real LMDB in a temporary folder.
import { strict as assert } from 'node:assert';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { forEachLogRecord } from '../../../storage/lmdb/lmdb-log-read.js';
import { entryKey } from '../../../storage/lmdb/lmdb-records.js';
import { entry, lmdbTestOptions, makeTempDir, removeDir } from '../helpers.js';
import { appendLogEntries } from '../reference-fields.js';

/** Sizes that grow and shrink, so a view of the read buffer past a value's end would show an earlier value's bytes. */
const SIZES = [300, 16, 5000, 1, 70_000, 24, 4096];

function valueOf(index: number, bytes: number): Uint8Array {
  const value = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 1) value[i] = (index * 31 + i) & 0xff;
  return value;
}

describe('reading the LMDB log without a copy per record', () => {
  let dir: string;
  let env: RootDatabase<Uint8Array, string>;
  let log: Database<Uint8Array, Uint8Array>;

  beforeEach(() => {
    dir = makeTempDir();
    env = open<Uint8Array, string>({ path: dir, maxDbs: 2, encoding: 'binary', eventTurnBatching: false });
    log = env.openDB<Uint8Array, Uint8Array>({ name: 'log', encoding: 'binary', keyEncoding: 'binary' });
  });

  afterEach(async () => {
    await env.close();
    removeDir(dir);
  });

  it('visits every record in index order with exactly its bytes', async () => {
    await env.transaction(() => {
      for (const [i, bytes] of SIZES.entries()) log.putSync(entryKey(i + 1), valueOf(i + 1, bytes));
    });
    const seen: { index: number; value: Uint8Array }[] = [];
    forEachLogRecord(log, {}, (index, value) => seen.push({ index, value: value.slice() }), dir);
    assert.deepStrictEqual(
      seen.map((s) => s.index),
      SIZES.map((_b, i) => i + 1),
    );
    for (const [i, bytes] of SIZES.entries()) {
      assert.equal(seen[i]?.value.byteLength, bytes, `record ${i + 1}'s length`);
      assert.deepStrictEqual(seen[i]?.value, valueOf(i + 1, bytes));
    }
  });

  it('visits only the records of a range', async () => {
    await env.transaction(() => {
      for (let index = 1; index <= 6; index += 1) log.putSync(entryKey(index), valueOf(index, 10 * index));
    });
    const seen: number[] = [];
    forEachLogRecord(
      log,
      { start: entryKey(2), end: entryKey(5) },
      (index, value) => {
        assert.equal(value.byteLength, 10 * index);
        seen.push(index);
      },
      dir,
    );
    assert.deepStrictEqual(seen, [2, 3, 4]);
  });
});

describe('LMDB engine load after reads through the shared buffer', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir();
  });

  afterEach(() => {
    removeDir(dir);
  });

  it('returns commands that later reads leave intact, each of its own length', async () => {
    let engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    const written = SIZES.map((bytes, i) => entry(i + 1, 1, 'command', bytes));
    await appendLogEntries(engine, written);
    await engine.close();
    engine = await LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    try {
      const first = await engine.load();
      await engine.load();
      assert.deepStrictEqual(first.entries, written);
    } finally {
      await engine.close();
    }
  });
});
