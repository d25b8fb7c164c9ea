/**
 * Opens the persistence engine that the configuration's `storage` names, on its data folder:
 * `wal` the write-ahead-log engine (storage/wal/), `lmdb-direct` the LMDB engine
 * (storage/lmdb/), `memory` the in-memory one. The configuration has already resolved the
 * alias `lmdb` to `wal` (agent-config.ts), so an agent.json written before `wal` existed opens
 * the engine it always opened.
 *
 * The engine accepts snapshots up to the largest node state the key-value limits allow
 * ({@link snapshotBytesMaxFor}), so a store its limits let grow is always snapshotted; the LMDB
 * map must hold two of them (a snapshot is replaced copy-on-write), which is checked here with
 * the settings to change named.
 */
import type { PersistenceEngine } from '../../contracts/persistence.js';
import { ConfigError, PersistenceError } from '../../contracts/errors.js';
import type { AgentConfig } from '../config/agent-config.js';
import { resolveKvOptions } from '../kv/options.js';
import { nodeStateBytesMax } from '../trust/snapshot-limit.js';
import { LmdbPersistenceEngine } from '../../storage/lmdb/lmdb-engine.js';
import { MemoryPersistenceEngine } from '../../storage/memory.js';
import { WalPersistenceEngine } from '../../storage/wal/wal-engine.js';
import { readFolder, type FolderReading } from '../../storage/wal/wal-read-only.js';
import { WAL_FORMAT_VERSION } from '../../storage/wal/wal-store.js';
import type { TornTail } from '../../storage/wal/wal-frame.js';
import { resolveLmdbOptions, type LmdbPersistenceOptions } from '../../storage/lmdb/lmdb-options.js';
import { FORMAT_VERSION } from '../../storage/lmdb/lmdb-records.js';
import type { DiagnosticLogger, LogFields } from '../../contracts/logger.js';
import type { Metrics } from '../../contracts/metrics.js';
import { prepareDataDir } from './data-dir.js';
import { checkDataOwner, claimDataOwner } from './data-owner.js';
import { checkNotLeftOut } from './recovery-epoch.js';

/** The settings {@link openStorage} reads. */
export type StorageSettings = Pick<AgentConfig, 'storage' | 'dataDir' | 'mapSizeMaxBytes' | 'kv'>;

const MIB = 1024 * 1024;

/**
 * The largest snapshot a node with the key-value limits `kv` (agent.json's `kv`) can take, rounded
 * up to a whole MiB: its storage engine's snapshotBytesMax, and the largest snapshot it accepts
 * from a leader. Throws ConfigError when `kv` is not valid.
 */
export function snapshotBytesMaxFor(kv: AgentConfig['kv']): number {
  return Math.ceil(nodeStateBytesMax(resolveKvOptions(kv)) / MIB) * MIB;
}

/**
 * The warning logged once when the `wal` engine upgrades a data folder's format (`from` to `to`) at
 * open: the step is one way, an earlier build refuses the folder from now on (STORAGE_VERSION),
 * so the operator learns at the moment it happens what going back needs (deploy/README.md,
 * "Upgrading stores").
 */
export function formatUpgradeRecord(from: number, to: number, path: string): { message: string; fields: LogFields } {
  const was = from === 1 ? "the lmdb-direct engine's format 1" : `format ${from}`;
  return {
    message: `data folder: upgraded from ${was} to format ${to}; an earlier build of coraft refuses it from now on`,
    fields: {
      path,
      from,
      to,
      back:
        `to run an earlier build (or the lmdb-direct engine) on this member again, restore its data folder from a ` +
        `copy taken before this start, or remove the member, empty ${path} and add it back (it gets the leader's ` +
        'snapshot); a `coraft backup` of the cluster taken before restores a new cluster only (deploy/README.md, ' +
        '"Upgrading stores")',
    },
  };
}

/**
 * Opens `settings.storage` on `settings.dataDir` (created, mode 0700, when missing). Rejects as
 * the engine's `open` does: PersistenceError STORAGE_IO, STORAGE_LOCKED, STORAGE_VERSION (for
 * instance `lmdb-direct` on a folder the `wal` engine wrote) or STORAGE_CORRUPT; ConfigError when
 * the LMDB map cannot hold two snapshots of the largest state the key-value limits allow. The
 * `wal` engine's upgrade of the folder's format is logged to `logger` (formatUpgradeRecord).
 */
export function openStorage(
  settings: StorageSettings,
  metrics?: Metrics,
  logger?: DiagnosticLogger,
): Promise<PersistenceEngine> {
  if (settings.storage === 'memory') return Promise.resolve(new MemoryPersistenceEngine());
  let options: LmdbPersistenceOptions;
  try {
    options = engineOptions(settings);
  } catch (error) {
    return Promise.reject(error instanceof Error ? error : new Error(String(error)));
  }
  // wal upgrades a folder of the LMDB engine (format 1 to 2) on first open.
  const deps = metrics === undefined ? {} : { metrics };
  if (settings.storage !== 'wal') return LmdbPersistenceEngine.open(options, deps);
  const onFormatUpgrade = (from: number, to: number, path: string): void => {
    const { message, fields } = formatUpgradeRecord(from, to, path);
    logger?.warning(message, fields);
  };
  const onTornTail = (torn: TornTail): void =>
    logger?.warning('data folder: dropped the torn last frame of the log', { ...torn, why: TORN_TAIL_WHY });
  return WalPersistenceEngine.open(options, { ...deps, onFormatUpgrade, onTornTail });
}

/** What a torn last frame of the log means, logged with it (storage/wal/wal-recover.ts). */
export const TORN_TAIL_WHY =
  'the trace of a write cut short by a crash or a power loss, never acknowledged; after a clean stop it is ' +
  'damage to the disk instead, and the entries in it are lost on this member: it gets them back from the ' +
  'leader if the cluster committed them (a cluster of one member has lost them)';

/**
 * What to do about a data folder the storage refused as damaged (STORAGE_CORRUPT), added to its
 * message (deploy/README.md, "A damaged data folder").
 */
export function damagedFolderAdvice(dataDir: string): string {
  return (
    `the data folder ${dataDir} is damaged; do not edit or delete its files. Keep a copy of it (cp -a), then ` +
    'remove this member (coraft members remove), empty the folder and add the member back (coraft members add): ' +
    "it gets the leader's snapshot; a cluster of one member restores from a backup (coraft restore). " +
    'deploy/README.md, "A damaged data folder"'
  );
}

/** The engine's options for `settings`; ConfigError when the LMDB map cannot hold two of the largest snapshots. */
function engineOptions(settings: StorageSettings): LmdbPersistenceOptions {
  const snapshotBytesMax = snapshotBytesMaxFor(settings.kv);
  const mapSizeMin = 2 * snapshotBytesMax + MIB;
  if (settings.mapSizeMaxBytes < mapSizeMin) {
    throw new ConfigError([
      `storageOptions.mapSizeMaxBytes: expected at least ${mapSizeMin} (two snapshots of the largest state the ` +
        `kv limits allow, ${snapshotBytesMax} bytes, and 1 MiB), got ${settings.mapSizeMaxBytes}; raise it or ` +
        'lower the kv limits (kv.dataBytesMax, kv.historyBytesMax, kv.sessionBytesMax)',
    ]);
  }
  return { path: settings.dataDir, createDirectory: true, mapSizeMaxBytes: settings.mapSizeMaxBytes, snapshotBytesMax };
}

/**
 * Reads the data folder of `settings` (not `memory`) as {@link openStorage} would open it, writing
 * nothing (storage/wal/wal-read-only.ts): what the engine would load, and what its open would
 * write first (a format upgrade, a torn log frame zeroed). Refuses as openStorage does.
 */
export function readStorage(settings: StorageSettings): Promise<FolderReading & { readonly formatVersion: number }> {
  const wal = settings.storage === 'wal';
  const formatVersion = wal ? WAL_FORMAT_VERSION : FORMAT_VERSION;
  return Promise.resolve()
    .then(() => readFolder(resolveLmdbOptions(engineOptions(settings)), formatVersion, wal))
    .then((reading) => ({ ...reading, formatVersion }));
}

/**
 * Opens the agent's storage on its data folder: the folder made private (0700, this user's;
 * runtime/data-dir.ts) before the engine creates anything in it, its owner record checked
 * against `config` before the engine opens, and written (the folder adopted, logged at info)
 * once the engine holds the folder's lock (runtime/data-owner.ts). Rejects with ConfigError on
 * another node's or another cluster's folder, PersistenceError STORAGE_CORRUPT on a damaged
 * record, LeftOutError on a folder a recovery left out (recovery-epoch.ts), and as
 * {@link openStorage}. A memory node has no folder.
 */
export async function openNodeStorage(
  config: AgentConfig,
  logger: DiagnosticLogger,
  metrics?: Metrics,
): Promise<PersistenceEngine> {
  if (config.storage === 'memory') return openStorage(config);
  for (const path of prepareDataDir(config.dataDir))
    logger.warning('data folder: removed group and other permissions', { path });
  checkDataOwner(config);
  checkNotLeftOut(config.dataDir);
  let storage: PersistenceEngine;
  try {
    storage = await openStorage(config, metrics, logger);
  } catch (error) {
    if (!(error instanceof PersistenceError) || error.code !== 'STORAGE_CORRUPT') throw error;
    throw new PersistenceError('STORAGE_CORRUPT', `${error.message}: ${damagedFolderAdvice(config.dataDir)}`, {
      cause: error,
    });
  }
  try {
    if (claimDataOwner(config))
      logger.info("data folder: had no owner record; recorded it as this node's", {
        path: config.dataDir,
        node: config.nodeId,
        cluster: config.cluster,
      });
  } catch (error) {
    await storage.close();
    throw error;
  }
  return storage;
}
