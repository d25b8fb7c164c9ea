// Proves that an append step whose entry records are encoded at their put (the write-ahead log's
// checkpoint, storage/lmdb/lmdb-write-plan.ts: EncodeOptions.entriesAtPut) stores under every key
// exactly the record encodeEntry gives, though all the records of a transaction are encoded into
// one scratch buffer: lmdb-js must copy each value before putSync returns, for records that grow
// and shrink, and for records past the scratch's bound. Also that the step holds the entries, not
// encoded records, and refuses entries out of order. Real LMDB in a temporary folder.
import { strict as assert } from 'node:assert';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import type { LogEntry } from '../../../contracts/log.js';
import { encodeEntry, entryKey } from '../../../storage/lmdb/lmdb-records.js';
import { PUT_SCRATCH_BYTES_MAX, applyStep, encodeSteps } from '../../../storage/lmdb/lmdb-write-plan.js';
import { makeTempDir, removeDir } from '../helpers.js';

/** Sizes that grow and shrink around the scratch's growth and past its bound. */
const SIZES = [300, 16, 5000, 1, PUT_SCRATCH_BYTES_MAX + 10, 24, 4096, 0, 70_000, 9];

function entryOf(index: number, bytes: number): LogEntry {
  const command = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 1) command[i] = (index * 31 + i) & 0xff;
  return { index, term: 1 + (index % 3), type: 'command', command };
}

describe('LMDB write plan: entry records encoded at their put', () => {
  let dir: string;
  let env: RootDatabase<Uint8Array, string>;
  let log: Database<Uint8Array, Uint8Array>;
  let meta: Database<Uint8Array, string>;

  beforeEach(() => {
    dir = makeTempDir();
    env = open<Uint8Array, string>({ path: dir, maxDbs: 2, encoding: 'binary', eventTurnBatching: false });
    log = env.openDB<Uint8Array, Uint8Array>({ name: 'log', encoding: 'binary', keyEncoding: 'binary' });
    meta = env.openDB<Uint8Array, string>({ name: 'meta', encoding: 'binary' });
  });

  afterEach(async () => {
    await env.close();
    removeDir(dir);
  });

  it('stores every record as encodeEntry would, in one transaction', async () => {
    const entries = SIZES.map((bytes, i) => entryOf(i + 1, bytes));
    const steps = encodeSteps([{ kind: 'append', entries }], null, { entriesAtPut: true });
    assert.deepStrictEqual(steps, [{ kind: 'append-at-put', entries }], 'the step holds the entries, not records');
    await env.childTransaction(() => {
      for (const step of steps) applyStep(step, { log, meta, shapes: null, path: dir });
    });
    for (const entry of entries) {
      const stored = log.getBinary(entryKey(entry.index));
      assert.ok(stored !== undefined, `record ${entry.index} is stored`);
      assert.deepStrictEqual(Buffer.from(stored), encodeEntry(entry), `record ${entry.index}`);
    }
  });

  it('refuses entries out of order, and the transaction stores none of them', async () => {
    const entries = [entryOf(1, 10), entryOf(3, 10)];
    const steps = encodeSteps([{ kind: 'append', entries }], null, { entriesAtPut: true });
    await assert.rejects(
      env.childTransaction(() => {
        for (const step of steps) applyStep(step, { log, meta, shapes: null, path: dir });
      }),
      /append step entry 1 is not at index 2/,
    );
    assert.equal(log.getBinary(entryKey(1)), undefined);
  });
});
