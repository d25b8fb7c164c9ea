// Property 10 for the write-ahead-log engine: see model-property.ts (arbitrary writes and
// reopens leave it in the same observable state as the memory engine), with checkpoints every
// 2 KiB and LMDB transactions of 1 KiB (most reads cross LMDB and the tail) on the main thread
// and (fewer runs: a worker starts in about half a second under tsx) in the checkpoint worker,
// and with checkpoints only at open and close (reads from the tail, replay on every reopen).
// Replay with FC_SEED=... FC_PATH=....
import { WalPersistenceEngine } from '../../../storage/wal/wal-engine.js';
import { walTestOptions } from '../helpers.js';
import { modelProperty } from '../model-property.js';

modelProperty('WAL (frequent checkpoints, main thread)', (dir) => WalPersistenceEngine.open(walTestOptions(dir)), 60);
modelProperty(
  'WAL (frequent checkpoints, worker)',
  (dir) => WalPersistenceEngine.open(walTestOptions(dir, { walCheckpointWorker: true })),
  8,
);
modelProperty(
  'WAL (checkpoint at close)',
  (dir) =>
    WalPersistenceEngine.open(
      walTestOptions(dir, { walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 }),
    ),
  60,
);
