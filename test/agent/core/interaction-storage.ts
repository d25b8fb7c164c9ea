// What each node of the interaction tests keeps besides its RaftCore: the storage its Readies
// persist into (what a restart starts from) and the state machine its committed entries are
// applied to, whose snapshot is the JSON list of the commands it applied.
import type { Ready } from '../../../agent/core/ready.js';
import { decodeConfiguration } from '../../../agent/core/configuration.js';
import type { ClusterConfiguration, HardState, LogEntry, LogIndex, Snapshot, Term } from '../../../contracts/log.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a node persisted: a restart starts from it. Invariant: `entries` are contiguous. */
export interface Storage {
  hardState: HardState;
  snapshot: Snapshot | null;
  entries: LogEntry[];
}

/** The state machine: the commands applied, with the index of each, and the configuration history. */
export interface Machine {
  appliedIndex: LogIndex;
  commands: { readonly index: LogIndex; readonly text: string }[];
  /**
   * Configurations in force from each index on, oldest first (the snapshot's or bootstrap one, then each applied config
   * entry).
   */
  configs: { readonly index: LogIndex; readonly config: ClusterConfiguration }[];
}

/** The state machine a node starts with: the snapshot's, or an empty one under the bootstrap configuration. */
export function freshMachine(snapshot: Snapshot | null, bootstrap: ClusterConfiguration): Machine {
  if (snapshot === null) return { appliedIndex: 0, commands: [], configs: [{ index: 0, config: bootstrap }] };
  const texts = JSON.parse(decoder.decode(snapshot.data)) as string[];
  return {
    appliedIndex: snapshot.lastIncludedIndex,
    commands: texts.map((text) => ({ index: snapshot.lastIncludedIndex, text })),
    configs: [{ index: snapshot.lastIncludedIndex, config: snapshot.configuration }],
  };
}

/** Applies a committed entry. */
export function applyEntry(machine: Machine, entry: LogEntry): void {
  if (entry.index !== machine.appliedIndex + 1) throw new Error(`applied ${entry.index} after ${machine.appliedIndex}`);
  machine.appliedIndex = entry.index;
  if (entry.type === 'command') machine.commands.push({ index: entry.index, text: decoder.decode(entry.command) });
  if (entry.type === 'config') {
    const config = decodeConfiguration(entry.command);
    if (config === null) throw new Error(`a malformed configuration at ${entry.index}`);
    machine.configs.push({ index: entry.index, config });
  }
}

/** The snapshot of `machine` as of `index` (applied), whose entry is of `term`. */
export function snapshotAt(machine: Machine, index: LogIndex, term: Term, bootstrap: ClusterConfiguration): Snapshot {
  const config = [...machine.configs].reverse().find((c) => c.index <= index)?.config ?? bootstrap;
  const texts = machine.commands.filter((c) => c.index <= index).map((c) => c.text);
  return {
    lastIncludedIndex: index,
    lastIncludedTerm: term,
    configuration: config,
    data: encoder.encode(JSON.stringify(texts)),
  };
}

/**
 * Persists a Ready into `storage` in the order the storage engines apply a batch, with `snapshot`,
 * the one the Ready completes, assembled from its chunks (snapshot-chunks.ts).
 */
export function persist(storage: Storage, ready: Ready, snapshot: Snapshot | null): void {
  if (snapshot !== null) {
    storage.snapshot = snapshot;
    const last = storage.entries[storage.entries.length - 1]?.index ?? 0;
    if (snapshot.lastIncludedIndex >= last) storage.entries = [];
  }
  const truncateFrom = ready.truncateFrom;
  if (truncateFrom !== null) storage.entries = storage.entries.filter((e) => e.index < truncateFrom);
  storage.entries.push(...ready.entries);
  const compactBefore = ready.compactBefore;
  if (compactBefore !== null) storage.entries = storage.entries.filter((e) => e.index >= compactBefore);
  if (ready.hardState !== null) storage.hardState = ready.hardState;
  storage.entries.forEach((e, i) => {
    const first = storage.entries[0];
    if (first !== undefined && e.index !== first.index + i) throw new Error(`storage holds a gap before ${e.index}`);
  });
}
