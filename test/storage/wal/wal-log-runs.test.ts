// Proves how the write-ahead-log engine lays its log out in LMDB (storage/lmdb/lmdb-log-runs.ts):
// - the checkpoint stores consecutive entries in runs, several entries per record and none beyond
//   LOG_RUN_BYTES_MAX, and they load back exactly, 150,000 of them too;
// - a folder of the previous format (2: one entry per LMDB record), left by a crash with log
//   records still to replay, opens: it loads exactly, is upgraded in place (format 3, which the LMDB
//   engine refuses), and a truncation and a compaction that cross its old records and the new runs
//   leave exactly the log a model holds, after a reopen too.
import { strict as assert } from 'node:assert';
import type { LogEntry } from '../../../contracts/log.js';
import { LmdbPersistenceEngine } from '../../../storage/lmdb/lmdb-engine.js';
import { LOG_RUN_BYTES_MAX, decodeLogRecord } from '../../../storage/lmdb/lmdb-log-runs.js';
import { openHandles } from '../../../storage/lmdb/lmdb-open.js';
import type { LmdbHandles } from '../../../storage/lmdb/lmdb-open.js';
import { resolveLmdbOptions } from '../../../storage/lmdb/lmdb-options.js';
import { encodeEntry, encodeFormat, entryKey, parseEntryKey, parseFormat } from '../../../storage/lmdb/lmdb-records.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import {
  commandFor,
  crashCopy,
  lmdbTestOptions,
  makeTempDir,
  removeDir,
  snapshot,
  walTestOptions,
} from '../helpers.js';
import { appendLogEntries, saveSnapshot } from '../reference-fields.js';

function entriesOf(from: number, to: number, term: number, bytes: number): LogEntry[] {
  const list: LogEntry[] = [];
  for (let index = from; index <= to; index += 1)
    list.push({ index, term, type: 'command', command: commandFor(index, bytes) });
  return list;
}

/** Runs `change` on the LMDB environment of the closed folder `dir`. */
async function withStore<T>(dir: string, change: (handles: LmdbHandles) => T): Promise<T> {
  const handles = openHandles(resolveLmdbOptions(lmdbTestOptions(dir)));
  try {
    let result: T | undefined;
    await handles.env.childTransaction(() => {
      result = change(handles);
    });
    return result as T;
  } finally {
    await handles.env.close();
  }
}

/** The span of each record of the log database: [first index, entry count, value bytes]. */
function records(handles: LmdbHandles): [number, number, number][] {
  const spans: [number, number, number][] = [];
  for (const { key, value } of handles.log.getRange({})) {
    const index = parseEntryKey(key);
    spans.push([index, decodeLogRecord(index, value).length, value.byteLength]);
  }
  return spans;
}

/** Rewrites the log as the previous format stored it, one entry per record, and marks the folder format 2. */
function toFormat2(handles: LmdbHandles): void {
  const entries: LogEntry[] = [];
  for (const { key, value } of handles.log.getRange({})) entries.push(...decodeLogRecord(parseEntryKey(key), value));
  for (const entry of entries) handles.log.removeSync(entryKey(entry.index));
  for (const entry of entries) handles.log.putSync(entryKey(entry.index), encodeEntry(entry));
  handles.meta.putSync('format', encodeFormat(2));
}

describe('WAL engine: the log in LMDB runs', function () {
  this.timeout(60_000);
  let dir: string;
  let copy: string;

  beforeEach(() => {
    dir = makeTempDir('coraft-wal-runs-');
    copy = makeTempDir('coraft-wal-runs-copy-');
  });

  afterEach(() => {
    removeDir(dir);
    removeDir(copy);
  });

  it('stores checkpointed entries in runs of several entries, none beyond LOG_RUN_BYTES_MAX', async () => {
    const options = walTestOptions(dir, { walCheckpointTxnBytesMax: 1024 * 1024, walPendingBytesMax: 1024 * 1024 });
    const engine = await WalPersistenceEngine.open(options);
    const written = entriesOf(1, 200, 1, 4096);
    for (let i = 0; i < written.length; i += 10) await appendLogEntries(engine, written.slice(i, i + 10));
    await engine.close();
    const spans = await withStore(dir, records);
    assert.equal(
      spans.reduce((sum, [, count]) => sum + count, 0),
      200,
    );
    assert.ok(spans.length <= 20, `200 entries of 4 KiB in ${spans.length} records`);
    for (const [first, , bytes] of spans) assert.ok(bytes <= LOG_RUN_BYTES_MAX, `run at ${first} is ${bytes} bytes`);
    const reopened = await WalPersistenceEngine.open(options);
    try {
      assert.deepStrictEqual((await reopened.load()).entries, written);
    } finally {
      await reopened.close();
    }
  });

  it('loads a log of 150,000 entries from LMDB (more than a call takes as spread arguments)', async () => {
    const options = walTestOptions(dir, {
      walCheckpointBytes: 1024 * 1024,
      walPendingBytesMax: 4 * 1024 * 1024,
      walCheckpointTxnBytesMax: 1024 * 1024,
    });
    let engine = await WalPersistenceEngine.open(options);
    const count = 150_000;
    for (let from = 1; from <= count; from += 2000) await appendLogEntries(engine, entriesOf(from, from + 1999, 1, 0));
    await engine.close();
    engine = await WalPersistenceEngine.open(options);
    try {
      const loaded = (await engine.load()).entries;
      assert.equal(loaded.length, count);
      assert.equal(loaded[count - 1]?.index, count);
    } finally {
      await engine.close();
    }
  });

  it('opens a crashed format-2 folder (an entry per record), upgrades it, cuts across both layouts', async () => {
    const first = await WalPersistenceEngine.open(walTestOptions(dir));
    await appendLogEntries(first, entriesOf(1, 30, 1, 300));
    await first.close();
    await withStore(dir, toFormat2);
    // Records 31..60 stay in the log only (no checkpoint), and the folder is copied as a crash leaves it.
    const options = { walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 };
    const second = await WalPersistenceEngine.open(walTestOptions(dir, options));
    await appendLogEntries(second, entriesOf(31, 45, 1, 300));
    await appendLogEntries(second, entriesOf(46, 60, 2, 300));
    crashCopy(dir, copy);
    await second.close();
    await withStore(copy, (handles) => {
      toFormat2(handles);
      assert.equal(records(handles).length, 30, 'the copy holds entries 1..30 one per record');
    });

    let engine = await WalPersistenceEngine.open(walTestOptions(copy));
    let model = [...entriesOf(1, 45, 1, 300), ...entriesOf(46, 60, 2, 300)];
    try {
      assert.deepStrictEqual((await engine.load()).entries, model);
      // Entry 20 is in an old record, entry 25 too; 50 in a run the replay made.
      await saveSnapshot(engine, snapshot(19, 1));
      await engine.persist({
        snapshot: null,
        truncateFrom: 25,
        entries: entriesOf(25, 70, 3, 700),
        compactBefore: 20,
        hardState: { currentTerm: 3, votedFor: 'n2' },
      });
      model = [...entriesOf(20, 24, 1, 300), ...entriesOf(25, 70, 3, 700)];
      assert.deepStrictEqual((await engine.load()).entries, model);
      await engine.close();
      engine = await WalPersistenceEngine.open(walTestOptions(copy));
      assert.deepStrictEqual((await engine.load()).entries, model);
      await saveSnapshot(engine, snapshot(40, 3));
      await engine.persist({ snapshot: null, truncateFrom: 50, entries: [], compactBefore: 33, hardState: null });
      model = model.filter((entry) => entry.index >= 33 && entry.index < 50);
      await engine.close();
      engine = await WalPersistenceEngine.open(walTestOptions(copy));
      assert.deepStrictEqual((await engine.load()).entries, model);
    } finally {
      await engine.close();
    }
    const spans = await withStore(copy, (handles) => {
      const format = handles.meta.get('format');
      assert.equal(parseFormat(format), 3);
      return records(handles);
    });
    assert.deepStrictEqual(spans[0]?.slice(0, 2), [33, spans[0]?.[1]]);
    assert.ok(spans.length < model.length, `${model.length} entries in ${spans.length} records`);
    await assert.rejects(LmdbPersistenceEngine.open(lmdbTestOptions(copy)), {
      code: 'STORAGE_VERSION',
      message: /format version 3; this build reads up to 1/,
    });
  });
});
