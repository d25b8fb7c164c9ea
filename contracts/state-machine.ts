/**
 * The StateMachine the node applies committed commands to. Implemented by agent/kv/.
 */
import type { LogEntry, SnapshotMeta } from './log.js';
import type { StoredImage } from './persistence.js';

/** A captured state machine image, encoded a bounded step at a time (StateMachine.captureSnapshot). */
export interface SnapshotEncoder {
  /**
   * Runs the next step of the encoding and returns the bytes it produced, in image order: at
   * most `chunkBytes` (>= 1), and exactly `chunkBytes` unless the step only prepared or measured
   * (none) or reached the end of the image; null once every byte was returned. The bytes are
   * valid until the next call: an encoder may encode every chunk into the same buffer.
   */
  next(chunkBytes: number): Uint8Array | null;
  /** The image's exact size, bytes, once known (null before, or when the encoder never knows it ahead). */
  totalBytes?(): number | null;
}

/**
 * The replicated state machine the node applies committed commands to. Every method is
 * synchronous and deterministic: the same entries applied in the same order give the same
 * results and the same snapshot on every replica.
 */
export interface StateMachine {
  /**
   * Applies the command of a committed entry and returns its result. The state machine may keep
   * views of `entry.command` (the KV store keeps a large value as a view of the command it came
   * in), so the bytes of a command handed to apply must never change afterwards. It may also keep
   * the result it returns (the KV sessions keep a put's for retries), so no caller changes those.
   * `answered` false: no one reads this result (no local client waits for the entry: a follower's
   * apply), so the state machine may return empty bytes instead of a result it can give again when
   * asked (a retry, a snapshot); the state it reaches must be the same either way. Default true.
   */
  apply(entry: LogEntry, answered?: boolean): Uint8Array;
  /** Answers a read-only query from the current state. */
  query(query: Uint8Array): Uint8Array;
  /** Serializes the whole state (sessions included). */
  snapshot(): Uint8Array;
  /**
   * Captures the whole state as of now, cheaply (references to values that are never changed in
   * place, not their bytes), for an encoding that runs later, a bounded step at a time, while
   * `apply` goes on: the encoder gives exactly the bytes `snapshot()` gives now. Optional: the
   * runtime snapshots a state machine without it whole, with `snapshot()`, at the capture.
   */
  captureSnapshot?(): SnapshotEncoder;
  /** Replaces the whole state with a snapshot's. */
  restore(meta: SnapshotMeta, data: Uint8Array): void;
  /**
   * Replaces the whole state with the snapshot's whose image `image` reads from storage, a range at
   * a time, without holding the image whole (issue 17: a gateway restoring a store near its limit
   * from the leader's snapshot). It may drop the current state first, so that the old state and
   * the new are never held together: when it throws, the state is unusable and the node stops.
   * Optional: the runtime reads the image whole and calls `restore` for a state machine without it.
   */
  restoreFrom?(meta: SnapshotMeta, image: StoredImage): void;
}
