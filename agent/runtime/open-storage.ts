/**
 * Opens the persistence engine that the configuration's `storage` names, on its data folder:
 * `wal` the write-ahead-log engine (storage/wal/), `lmdb-direct` the LMDB engine
 * (storage/lmdb/), `memory` the in-memory one. The configuration has already resolved the
 * alias `lmdb` to `wal` (agent-config.ts), so an agent.json written before `wal` existed opens
 * the engine it always opened.
 */
import type { PersistenceEngine } from '../../contracts/persistence.js';
import type { AgentConfig } from '../config/agent-config.js';
import { LmdbPersistenceEngine } from '../../storage/lmdb/lmdb-engine.js';
import { MemoryPersistenceEngine } from '../../storage/memory.js';
import { WalPersistenceEngine } from '../../storage/wal/wal-engine.js';

/** The settings {@link openStorage} reads. */
export type StorageSettings = Pick<AgentConfig, 'storage' | 'dataDir' | 'mapSizeMaxBytes'>;

/**
 * Opens `settings.storage` on `settings.dataDir` (created, mode 0700, when missing). Rejects as
 * the engine's `open` does: PersistenceError STORAGE_IO, STORAGE_LOCKED, STORAGE_VERSION (for
 * instance `lmdb-direct` on a folder the `wal` engine wrote) or STORAGE_CORRUPT.
 */
export function openStorage(settings: StorageSettings): Promise<PersistenceEngine> {
  const options = { path: settings.dataDir, createDirectory: true, mapSizeMaxBytes: settings.mapSizeMaxBytes };
  switch (settings.storage) {
    case 'memory':
      return Promise.resolve(new MemoryPersistenceEngine());
    case 'wal':
      // It upgrades a folder of the LMDB engine (format 1 to 2) on first open.
      return WalPersistenceEngine.open(options);
    case 'lmdb-direct':
      return LmdbPersistenceEngine.open(options);
  }
}
