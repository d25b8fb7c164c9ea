// Property 10 for the write-ahead-log engine: see model-property.ts (arbitrary writes and
// reopens leave it in the same observable state as the memory engine), with checkpoints every
// 2 KiB and LMDB transactions of 1 KiB (most reads cross LMDB and the tail) on the main thread
// and (fewer runs: a worker starts in about half a second under tsx) in the checkpoint worker,
// and with checkpoints only at open and close (reads from the tail, replay on every reopen).
// Every open also reads the log's shape from its shape records, never by a scan: every write kept
// them (storage/lmdb/lmdb-log-shape.ts; a scan at open is counted as storage_log_scans_total).
// Replay with FC_SEED=... FC_PATH=....
import type { Metrics } from '../../../contracts/metrics.js';
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import type { WalPersistenceOptions } from '../../../storage/wal/wal-engine.js';
import { walTestOptions } from '../helpers.js';
import { modelProperty } from '../model-property.js';

/** Opens the engine on `options`; fails when the open scanned the log instead of reading its shape records. */
async function openReadingShapes(options: WalPersistenceOptions): Promise<WalPersistenceEngine> {
  let scans = 0;
  const metrics: Metrics = {
    increment: (name) => {
      if (name === 'storage_log_scans_total') scans += 1;
    },
    setGauge: () => undefined,
    observe: () => undefined,
    observeDurationMs: () => undefined,
    flush: () => Promise.resolve(),
  };
  const engine = await WalPersistenceEngine.open(options, { metrics });
  if (scans > 0) {
    await engine.close();
    throw new Error(`${options.path}: the open scanned the log; its shape records did not check out`);
  }
  return engine;
}

modelProperty('WAL (frequent checkpoints, main thread)', (dir) => openReadingShapes(walTestOptions(dir)), 60);
modelProperty(
  'WAL (frequent checkpoints, worker)',
  (dir) => openReadingShapes(walTestOptions(dir, { walCheckpointWorker: true })),
  8,
);
modelProperty(
  'WAL (checkpoint at close)',
  (dir) =>
    openReadingShapes(
      walTestOptions(dir, { walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 }),
    ),
  60,
);
