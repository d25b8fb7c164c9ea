/**
 * The StateMachine the node applies committed commands to. Implemented by agent/kv/.
 */
import type { LogEntry, SnapshotMeta } from './log.js';

/**
 * The replicated state machine the node applies committed commands to. Every method is
 * synchronous and deterministic: the same entries applied in the same order give the same
 * results and the same snapshot on every replica.
 */
export interface StateMachine {
  /**
   * Applies the command of a committed entry and returns its result. The state machine may keep
   * views of `entry.command` (the KV store keeps a large value as a view of the command it came
   * in), so the bytes of a command handed to apply must never change afterwards.
   */
  apply(entry: LogEntry): Uint8Array;
  /** Answers a read-only query from the current state. */
  query(query: Uint8Array): Uint8Array;
  /** Serializes the whole state (sessions included). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot's. */
  restore(meta: SnapshotMeta, data: Uint8Array): void;
}
