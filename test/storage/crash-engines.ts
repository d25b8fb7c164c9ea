// The engines the crash tests kill, opened on a directory the same way by the parent
// (crash-property.ts) and the child (crash-child.ts). `wal` uses the test options of
// helpers.ts (checkpoints every 2 KiB in 1 KiB transactions, 1 MiB segments, auto sync mode),
// so that kills land in the middle of appends, checkpoints, segment creation and deletion;
// `wal-background` syncs on the thread pool and checkpoints every 256 KiB in the checkpoint
// worker (walCheckpointWorker), so that most kills land while hundreds of records wait in the
// log and recovery replays them, and some while the worker commits. `wal-defaults` opens the
// engine as the agent does (agent/runtime/open-storage.ts: the path, createDirectory and the
// agent's default mapSizeMaxBytes, every WAL option at its default: 16 MiB segments, 4 MiB
// frames, checkpoints every 3 MiB), so that frames larger than a new segment's first 64 KiB step
// of zeros are written, as in production; the test options cap a frame at exactly that step.
import type { PersistenceEngine } from '../../contracts/persistence.js';
import { LmdbPersistenceEngine } from '../../storage/lmdb/lmdb-engine.js';
import { WalPersistenceEngine } from '../../storage/wal/wal-engine.js';
import { lmdbTestOptions, walTestOptions } from './helpers.js';

/** The engines crash-child.ts can run. */
export type CrashEngineName = 'lmdb' | 'wal' | 'wal-background' | 'wal-defaults';

/** The agent's default storageOptions.mapSizeMaxBytes (agent/config/agent-config.ts). */
const AGENT_MAP_SIZE_MAX_BYTES = 1024 * 1024 * 1024;

/** Narrows a command-line argument to a {@link CrashEngineName}. */
export function isCrashEngineName(name: string | undefined): name is CrashEngineName {
  return name === 'lmdb' || name === 'wal' || name === 'wal-background' || name === 'wal-defaults';
}

/** Opens `name` on `dir` with the options every crash test uses. */
export function openCrashEngine(name: CrashEngineName, dir: string): Promise<PersistenceEngine> {
  switch (name) {
    case 'lmdb':
      return LmdbPersistenceEngine.open(lmdbTestOptions(dir));
    case 'wal':
      return WalPersistenceEngine.open(walTestOptions(dir));
    case 'wal-background':
      return WalPersistenceEngine.open(
        walTestOptions(dir, {
          walSyncMode: 'background',
          walCheckpointWorker: true,
          walCheckpointBytes: 256 * 1024,
          walPendingBytesMax: 1024 * 1024,
          walCheckpointTxnBytesMax: 64 * 1024,
        }),
      );
    case 'wal-defaults':
      return WalPersistenceEngine.open({ path: dir, createDirectory: true, mapSizeMaxBytes: AGENT_MAP_SIZE_MAX_BYTES });
  }
}
