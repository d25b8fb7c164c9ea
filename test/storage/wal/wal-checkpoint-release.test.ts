// Proves that the write-ahead log's checkpoint lets an entry go once it is in LMDB (issue 17): the
// records waiting for a checkpoint are kept in an array that is cut only every 4,096 records, and
// each checkpointed record left there kept its entries (and, for the worker, its bytes), as did the
// in-memory tail: 22-25 MiB of peak RssAnon per member under 64 clients x 4 KiB. Entries written
// one at a time, checkpointed in 16 KiB transactions while some still wait (the arrays not cut),
// watched through WeakRefs after a collection: without the release the checkpointed entries stay
// reachable and the test fails.
import { strict as assert } from 'node:assert';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { Checkpointer } from '../../../storage/wal/wal-checkpoint.js';
import { entry, makeTempDir, removeDir, walTestOptions } from '../helpers.js';
import { appendLogEntry } from '../reference-fields.js';
import { collectGarbage } from '../../collect-garbage.js';

describe('wal checkpoint: entries in LMDB are let go', () => {
  let dir: string;
  beforeEach(() => {
    dir = makeTempDir();
  });
  afterEach(() => removeDir(dir));

  for (const worker of [false, true]) {
    it(`keeps no checkpointed entry while later ones wait (${worker ? 'worker' : 'main thread'})`, async () => {
      const fullBytes = 16 * 1024;
      const options = walTestOptions(dir, {
        walCheckpointBytes: fullBytes,
        walCheckpointTxnBytesMax: fullBytes,
        walPendingBytesMax: 8 * fullBytes,
        walCheckpointWorker: worker,
      });
      const engine = await WalPersistenceEngine.open(options);
      try {
        const checkpointer: unknown = Reflect.get(engine, 'checkpointer');
        assert.ok(checkpointer instanceof Checkpointer);
        const watched: WeakRef<Uint8Array>[] = [];
        for (let index = 1; index <= 200; index += 1) {
          const written = entry(index, 1, 'command', 1024);
          watched.push(new WeakRef(written.command));
          await appendLogEntry(engine, written);
        }
        const busy = (): boolean =>
          Reflect.get(checkpointer, 'running') !== null || Reflect.get(checkpointer, 'startLater') !== null;
        for (let polls = 0; busy() && polls < 10_000; polls += 1)
          await new Promise((resolve) => setTimeout(resolve, 1));
        const waiting = checkpointer.pendingBytes();
        assert.ok(waiting > 0 && waiting < 200 * 1024, `${waiting} bytes wait: some, not all`);
        await collectGarbage();
        // Records are about 1 KiB each, plus framing: those of the entries still waiting are the last ones.
        const checkpointed = watched.slice(0, 200 - Math.ceil(waiting / 1024) - 2);
        assert.ok(checkpointed.length > 150, `${checkpointed.length} entries checkpointed`);
        const held = checkpointed.filter((ref) => ref.deref() !== undefined).length;
        assert.equal(held, 0, `${held} of ${checkpointed.length} checkpointed entries are still held`);
      } finally {
        await engine.close();
      }
    });
  }
});
