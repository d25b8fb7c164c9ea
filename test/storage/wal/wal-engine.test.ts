// Proves the write-ahead-log engine meets the PersistenceEngine contract (the shared suite of
// persistence-contract.ts, reopen = close and open the same directory) twice: with checkpoints
// every 2 KiB and 1 MiB segments (reads cross LMDB and the in-memory tail, segments rotate and
// are deleted), and with checkpoints only at open and close (every read comes from the tail).
import { walHarness } from '../helpers.js';
import { persistenceContract } from '../persistence-contract.js';

persistenceContract('wal, frequent checkpoints', walHarness());
persistenceContract('wal, checkpoint at close only', walHarness({ walCheckpointBytes: 512 * 1024 * 1024, walPendingBytesMax: 1024 * 1024 * 1024 }));
