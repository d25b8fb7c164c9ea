/**
 * Recovery after losing quorum for good (`coraft recover --force-new-cluster`, issue 19), as
 * etcd's --force-new-cluster does it: on a stopped member, keep every entry it knows committed,
 * drop the entries after them (they may never have committed, and no quorum is left to say),
 * and append one configuration entry that makes this member the only voter, under a term above
 * every term it has seen (the first of the next recovery epoch, recovery-epoch.ts: a member left
 * out that comes back with its old data stops when it hears from the recovered cluster), with its
 * vote for itself. When it starts, it is a one-member cluster:
 * it elects itself, commits the configuration entry with its first entry of the new term, and
 * applying the entry revokes every other member and deletes their link keys from the replicated
 * trust state (trust-state.ts), as any removal does. Members are then added back as usual.
 *
 * What it knows committed: the highest of its snapshot's index and the commit marker
 * (commit-marker.ts, the last index the agent applied), never beyond its last entry. With
 * `keepUncommitted` it keeps its whole log instead: an entry the old leader committed (and
 * acknowledged) just before it died may be in this member's log without this member having
 * heard it was committed; keeping the tail keeps such writes, at the price of also committing
 * entries whose clients were told the outcome was unknown.
 *
 * The plan is pure (planForceNewCluster); the batch it writes is one atomic persist of the
 * storage engine (truncate, append, hard state), so a crash halfway leaves the old log or the
 * new one, never a mix.
 */
import {
  addressOf,
  allMembers,
  decodeConfiguration,
  encodeConfiguration,
  isVoter,
  isWitness,
} from '../core/configuration.js';
import { simpleConfiguration } from '../core/configuration.js';
import type { ClusterConfiguration, LogEntry, LogIndex, NodeId, Term } from '../../contracts/log.js';
import type { PersistBatch, PersistedState } from '../../contracts/persistence.js';
import { assert } from '../../contracts/assert.js';
import { ConfigError } from '../../contracts/errors.js';
import { firstTermOfNextEpoch } from './recovery-epoch.js';

/** What recover will do (or did) to one member's log. */
export interface RecoveryPlan {
  readonly nodeId: NodeId;
  /** The stored term, and the term of the entry written: the next recovery epoch's first, above every term seen. */
  readonly term: Term;
  readonly newTerm: Term;
  readonly snapshotIndex: LogIndex;
  readonly lastIndex: LogIndex;
  /** The commit marker's index, null when the folder has none. */
  readonly markerIndex: LogIndex | null;
  /** The highest index known committed (snapshot or commit marker). */
  readonly knownCommitIndex: LogIndex;
  /** The last entry kept: knownCommitIndex, or the last entry with keepUncommitted. */
  readonly commitIndex: LogIndex;
  /** Entries after knownCommitIndex that are kept (keepUncommitted), else 0. */
  readonly keptUncommittedCount: number;
  /** Entries after commitIndex, dropped. */
  readonly droppedCount: number;
  /** The index of the configuration entry written: commitIndex + 1. */
  readonly configIndex: LogIndex;
  /** The configuration as of commitIndex, and the one written (this member alone). */
  readonly previous: ClusterConfiguration;
  readonly next: ClusterConfiguration;
  /** Members of `previous` other than this one: they leave the cluster and the trust state. */
  readonly removed: readonly NodeId[];
}

/** The configuration in force at `index`: the last configuration entry at or before it, else the snapshot's. */
function configurationAt(state: PersistedState, index: LogIndex, fallback: ClusterConfiguration): ClusterConfiguration {
  let found: ClusterConfiguration | null = state.snapshot?.configuration ?? null;
  for (const entry of state.entries) {
    if (entry.index > index) break;
    if (entry.type !== 'config') continue;
    const decoded = decodeConfiguration(entry.command);
    assert(decoded !== null, `configuration entry ${entry.index} decodes`);
    found = decoded;
  }
  return found ?? fallback;
}

/**
 * Plans a forced new cluster for `nodeId` from its persisted state and commit marker.
 * `bootstrap` is the configuration of agent.json (used only when the log holds none). Throws
 * ConfigError when this member is not a voter of the configuration it would keep.
 */
export function planForceNewCluster(
  state: PersistedState,
  nodeId: NodeId,
  markerIndex: LogIndex | null,
  bootstrap: ClusterConfiguration,
  keepUncommitted = false,
): RecoveryPlan {
  const snapshotIndex = state.snapshot?.lastIncludedIndex ?? 0;
  const last = state.entries.at(-1);
  const lastIndex = last?.index ?? snapshotIndex;
  const known = Math.min(lastIndex, Math.max(snapshotIndex, markerIndex ?? 0));
  const commitIndex = keepUncommitted ? lastIndex : known;
  assert(commitIndex >= snapshotIndex && commitIndex <= lastIndex, 'the kept prefix lies within the stored log');
  let termMax = Math.max(state.hardState.currentTerm, state.snapshot?.lastIncludedTerm ?? 0);
  for (const entry of state.entries) termMax = Math.max(termMax, entry.term);
  const previous = configurationAt(state, commitIndex, bootstrap);
  if (!isVoter(previous, nodeId))
    throw new ConfigError([
      `${nodeId} is not a voter of the configuration it last knows committed (voters: ` +
        `${previous.voters.join(', ')}); recover a member that is`,
    ]);
  // A witness keeps terms and indexes but no values: a cluster recovered from it would be empty.
  if (isWitness(previous, nodeId))
    throw new ConfigError([`${nodeId} is a witness: it holds no values; recover a full member instead`]);
  const address = addressOf(previous, nodeId);
  const next = simpleConfiguration([nodeId], [{ id: nodeId, address }]);
  return {
    nodeId,
    term: state.hardState.currentTerm,
    newTerm: firstTermOfNextEpoch(termMax),
    snapshotIndex,
    lastIndex,
    markerIndex,
    knownCommitIndex: known,
    commitIndex,
    keptUncommittedCount: commitIndex - known,
    droppedCount: lastIndex - commitIndex,
    configIndex: commitIndex + 1,
    previous,
    next,
    removed: allMembers(previous).filter((id) => id !== nodeId),
  };
}

/** The one atomic write that carries out `plan`: drop the tail, append the configuration entry, vote for itself. */
export function recoveryBatch(plan: RecoveryPlan): PersistBatch {
  const entry: LogEntry = {
    term: plan.newTerm,
    index: plan.configIndex,
    type: 'config',
    command: encodeConfiguration(plan.next),
  };
  assert(plan.newTerm > plan.term, 'the configuration entry has a term above every term seen');
  return {
    snapshot: null,
    truncateFrom: plan.droppedCount > 0 ? plan.commitIndex + 1 : null,
    entries: [entry],
    compactBefore: null,
    hardState: { currentTerm: plan.newTerm, votedFor: plan.nodeId },
  };
}
