// The reference design's per-field methods of `persistence_engine` (save_current_term,
// append_log_entry, get_log_entry, ...), rebuilt for the storage tests over the narrow port that
// the engines implement (contracts/persistence.ts, PersistenceEngine: load, persist, close), as its
// TSDoc maps them. Reads go through load(), so they see exactly what a restarting node would;
// writes are one persist() each, issued at once, so that concurrent calls reach the engine in
// the order they were made.
//
// Two writes read before they write: saveCurrentTerm and saveVotedFor take the other half of
// the hard state from load(), so their persist() is issued a turn later, and they must not race
// another hard-state write (the reference's calls are sequential).
import type { LogEntry, LogIndex, NodeId, Snapshot, Term } from '../../contracts/log.js';
import type { PersistBatch, PersistenceEngine } from '../../contracts/persistence.js';

const EMPTY: PersistBatch = { snapshot: null, truncateFrom: null, entries: [], compactBefore: null, hardState: null };

/** Reference `load_current_term`. */
export async function loadCurrentTerm(engine: PersistenceEngine): Promise<Term> {
  return (await engine.load()).hardState.currentTerm;
}

/** Reference `load_voted_for`. */
export async function loadVotedFor(engine: PersistenceEngine): Promise<NodeId | null> {
  return (await engine.load()).hardState.votedFor;
}

/** Reference `save_current_term`: the vote stays as load() reports it. */
export async function saveCurrentTerm(engine: PersistenceEngine, term: Term): Promise<void> {
  const { hardState } = await engine.load();
  await engine.persist({ ...EMPTY, hardState: { currentTerm: term, votedFor: hardState.votedFor } });
}

/** Reference `save_voted_for`: the term stays as load() reports it. */
export async function saveVotedFor(engine: PersistenceEngine, node: NodeId | null): Promise<void> {
  const { hardState } = await engine.load();
  await engine.persist({ ...EMPTY, hardState: { currentTerm: hardState.currentTerm, votedFor: node } });
}

/** Reference `append_log_entry`. */
export function appendLogEntry(engine: PersistenceEngine, entry: LogEntry): Promise<void> {
  return engine.persist({ ...EMPTY, entries: [entry] });
}

/** Several `append_log_entry` calls as one batch. */
export function appendLogEntries(engine: PersistenceEngine, entries: readonly LogEntry[]): Promise<void> {
  return engine.persist({ ...EMPTY, entries });
}

/** Reference `truncate_log`: deletes every entry with index >= from (from >= the first stored index). */
export function truncateLog(engine: PersistenceEngine, from: LogIndex): Promise<void> {
  return engine.persist({ ...EMPTY, truncateFrom: from });
}

/** Reference `save_snapshot`. */
export function saveSnapshot(engine: PersistenceEngine, snapshot: Snapshot): Promise<void> {
  return engine.persist({ ...EMPTY, snapshot });
}

/** Reference `delete_log_entries_before`. */
export function deleteLogEntriesBefore(engine: PersistenceEngine, index: LogIndex): Promise<void> {
  return engine.persist({ ...EMPTY, compactBefore: index });
}

/** Reference `load_snapshot`. */
export async function loadSnapshot(engine: PersistenceEngine): Promise<Snapshot | null> {
  return (await engine.load()).snapshot;
}

/** Reference `get_log_entry`: the stored entry at `index`, or null. */
export async function getLogEntry(engine: PersistenceEngine, index: LogIndex): Promise<LogEntry | null> {
  const { entries } = await engine.load();
  const first = entries[0]?.index ?? 0;
  return entries[index - first] ?? null;
}

/** Reference `get_log_entries`: the stored entries with from <= index <= to, in order. */
export async function getLogEntries(engine: PersistenceEngine, from: LogIndex, to: LogIndex): Promise<LogEntry[]> {
  const { entries } = await engine.load();
  return entries.filter((entry) => entry.index >= from && entry.index <= to);
}

/** Reference `get_last_log_index`: the last stored index, or the snapshot's when none is stored, or 0. */
export async function getLastLogIndex(engine: PersistenceEngine): Promise<LogIndex> {
  const { entries, snapshot } = await engine.load();
  return entries[entries.length - 1]?.index ?? snapshot?.lastIncludedIndex ?? 0;
}

/** The first stored index, or the last index + 1 when none is stored (no reference method). */
export async function getFirstLogIndex(engine: PersistenceEngine): Promise<LogIndex> {
  const { entries, snapshot } = await engine.load();
  return entries[0]?.index ?? (snapshot?.lastIncludedIndex ?? 0) + 1;
}
