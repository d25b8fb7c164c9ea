/**
 * Seeding a new cluster with a backup (deploy/README.md, "Backup and restore"). Each member of
 * the new cluster starts from the same persisted snapshot at the backup's index, so the new
 * cluster holds every key, value and revision of the backup, and its own writes continue
 * above the backup's store revision.
 *
 * What travels and what does not:
 * - The KV state travels as stored: keys, values, revisions, the store revision, the watch
 *   history window, client sessions and request ids (a client that retries a write across the
 *   restore gets its recorded answer, not a second application) and the log clock; leases too,
 *   once the KV image holds them. It is decoded and checked by the state machine itself
 *   (agent/kv/snapshot.ts) and encoded again by it.
 * - The trust state (the replicated keystore: wrapped link keys, revocations, a rotated admin
 *   key, admin nonces) is checked but not carried over: every item of it is bound to the old
 *   cluster (ciphertexts that only its members' node secrets open, its admin key, commands
 *   signed for its id, its members). The new cluster starts from the genesis of its own fresh
 *   keys. The old trust image stays in the backup file only.
 */
import type { KeyObject } from 'node:crypto';
import { allMembers } from '../core/configuration.js';
import { ConfigError, PersistenceError, SerializationError } from '../../contracts/errors.js';
import type { ClusterConfiguration, Snapshot } from '../../contracts/log.js';
import { KvStateMachine, type KvOptions } from '../kv/index.js';
import { encodeNodeState } from '../trust/trust-codec.js';
import { TrustState } from '../trust/trust-state.js';
import { TrustedStateMachine } from '../trust/trusted-state-machine.js';
import { prepareDataDir } from '../runtime/data-dir.js';
import { checkDataOwner, claimDataOwner, type OwnerSettings } from '../runtime/data-owner.js';
import { openStorage, type StorageSettings } from '../runtime/open-storage.js';
import type { BackupContents } from './backup-reader.js';

/** The new cluster a backup is restored into. */
export interface RestoreTarget {
  /** The new cluster's id; it must differ from the backup's. */
  readonly cluster: string;
  /** The new cluster's genesis admin public key. */
  readonly adminPublicKey: KeyObject | null;
  /** The new cluster's members. */
  readonly configuration: ClusterConfiguration;
  /** The KV limits of the new cluster's members (agent.json `kv`). */
  readonly kvOptions?: Partial<KvOptions>;
}

/**
 * The snapshot every member of the new cluster starts from: the backup's KV state at its index,
 * under a trust state at the new cluster's genesis. Throws ConfigError when the target keeps the
 * old cluster id, PersistenceError STORAGE_CORRUPT when the images do not decode or disagree
 * with the header.
 */
export function restoredSnapshot(backup: BackupContents, target: RestoreTarget): Snapshot {
  const { header } = backup;
  if (target.cluster === header.cluster)
    throw new ConfigError([
      `cluster: the backup is of cluster ${JSON.stringify(header.cluster)}; a restored cluster gets a new cluster id`,
    ]);
  const context = { cluster: target.cluster, genesisAdminKey: target.adminPublicKey };
  const stateMachine = new TrustedStateMachine(new KvStateMachine(target.kvOptions ?? {}), context);
  const meta = { lastIncludedIndex: header.index, lastIncludedTerm: header.term, configuration: target.configuration };
  try {
    stateMachine.restore(meta, encodeNodeState(backup.kv, backup.trust));
  } catch (error) {
    if (!(error instanceof SerializationError)) throw error;
    throw new PersistenceError('STORAGE_CORRUPT', `the backup's state does not decode: ${error.message}`, {
      cause: error,
    });
  }
  if (stateMachine.kv.revision !== header.revision || stateMachine.kv.stats().keyCount !== header.keyCount)
    throw new PersistenceError('STORAGE_CORRUPT', "the backup's state disagrees with its header");
  // None of the old cluster's credentials travel: the trust state starts at the new genesis.
  stateMachine.trust.load(new TrustState(context, allMembers(target.configuration)).image());
  stateMachine.trust.advanceClock(stateMachine.kv.clockMs);
  return { ...meta, data: stateMachine.snapshot() };
}

/**
 * Writes `snapshot` as the whole persisted state of a member whose data folder holds nothing
 * yet (refused otherwise: restoring never overwrites a node's state), with its term as the
 * current term and no vote. The folder is recorded as this member's, of the new cluster
 * (runtime/data-owner.ts); a folder recorded as another node's or another cluster's is refused.
 */
export async function seedDataDir(settings: StorageSettings & OwnerSettings, snapshot: Snapshot): Promise<void> {
  if (settings.storage === 'memory') throw new ConfigError(['storage: a memory node keeps nothing to restore into']);
  prepareDataDir(settings.dataDir);
  checkDataOwner(settings);
  const storage = await openStorage(settings);
  try {
    const persisted = await storage.load();
    if (persisted.snapshot !== null || persisted.entries.length > 0 || persisted.hardState.currentTerm > 0)
      throw new ConfigError([
        `dataDir: ${settings.dataDir} holds a node's state already; restore only into an empty data folder`,
      ]);
    claimDataOwner(settings);
    await storage.persist({
      snapshot,
      truncateFrom: null,
      entries: [],
      compactBefore: null,
      hardState: { currentTerm: snapshot.lastIncludedTerm, votedFor: null },
    });
  } finally {
    await storage.close();
  }
}
