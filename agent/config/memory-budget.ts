/**
 * The Raft log's share of the agent's memory (issue 17). The core keeps the terms and sizes of
 * every entry since the compaction point but payloads only for a window (agent/core/log-window.ts):
 * entries not yet durable or applied, and at most `logResidentBytes` of applied, durable ones
 * before them; storage serves older entries when a follower needs them. So what bounds the log's
 * memory is `logResidentBytes` (plus the uncommitted and not yet applied entries, bounded by
 * uncommittedBytesMax and the apply batches), not the snapshot trigger or the retained log any more.
 * When agent.json does not set it, it is at most 1/{@link RESIDENT_HEAP_SHARE} of the V8 heap limit
 * (about 3 MiB under the shipped unit, fleet/memory-sizing.ts: a heap limit of 99 MiB).
 *
 * The log kept behind a snapshot for lagging followers (`logRetainBytesMax`, 32 MiB) is on disk
 * too, so it keeps its reference bound under any heap: lowered to a sixteenth of the heap (about
 * 6 MiB under the unit, as when the retained entries were all in memory) it compacted the log past
 * a follower 5-10 s behind a leader taking 1 KiB writes, which then got a whole 48 MB snapshot in
 * 24 s instead of 6 MB of appends. One bound still follows the heap: the snapshot trigger's
 * growth (twice the last snapshot) is at most 1/{@link SNAPSHOT_HEAP_SHARE} of it (about 50 MB).
 * The trigger's cap was a quarter of the heap (about 25 MB) while a restart read and checked every stored record as the
 * store opened (a follower restarted on 14,300 entries of 64 x 64 KiB was ready in 400-450 ms
 * against 289 ms on 5,200). The store now reads the log's shape records instead
 * (storage/lmdb/lmdb-log-shape.ts), so a longer log costs a restart nothing there, and the cap
 * went to half the heap: at 64 and 256 clients x 64 KiB (a 21 MB snapshot, a trigger of 42 MB
 * instead of 26) a third fewer snapshots, 6-7 % less CPU per write and 3-9 % more writes/s
 * (bench vs-etcd, coraft alone, two alternated runs each). What the cap still bounds: the log's
 * disk (up to the trigger, plus the retained log, plus 4 triggers while a follower receives a
 * snapshot, runtime/snapshot-wait.ts) and the terms and sizes kept for every entry since the
 * last snapshot (a few bytes each: under 5 MB for 50 MB of 256-byte entries). Measured earlier
 * without any cap and with a growth of four times the snapshot (64 MiB of log at 64 x 64 KiB):
 * about 9 % more writes/s, half the snapshots, and a data folder of 205 MiB
 * against 122. The trigger's base (reference 10 MB) is not lowered: each
 * snapshot allocates about twice the store while it is encoded, so snapshotting more often would
 * cost memory, not save it. Under an unflagged Node the reference values stay.
 */
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';

/** The applied, durable entry bytes the core keeps in memory are at most this fraction (1/n) of the V8 heap limit. */
export const RESIDENT_HEAP_SHARE = 32;
/** The snapshot trigger grows to at most this fraction (1/n) of the heap limit. */
export const SNAPSHOT_HEAP_SHARE = 2;
/** The smallest snapshot trigger the budget gives, bytes (the Raft configuration's own least is 1 KiB). */
export const SNAPSHOT_THRESHOLD_MIN_BYTES = 1024 * 1024;

/**
 * `base` with `logResidentBytes` lowered to 1/RESIDENT_HEAP_SHARE and the snapshot trigger to
 * 1/SNAPSHOT_HEAP_SHARE of `heapLimitBytes` (V8's heap_size_limit), never raised; the retained
 * log's bound (`logRetainBytesMax`, on disk) as `base` has it.
 */
export function raftDefaultsForHeap(base: RaftConfiguration, heapLimitBytes: number): RaftConfiguration {
  if (!Number.isFinite(heapLimitBytes) || heapLimitBytes <= 0) return base;
  const trigger = Math.max(SNAPSHOT_THRESHOLD_MIN_BYTES, Math.floor(heapLimitBytes / SNAPSHOT_HEAP_SHARE));
  return {
    ...base,
    snapshotThresholdBytes: Math.min(base.snapshotThresholdBytes, trigger),
    snapshotThresholdBytesMax: Math.min(base.snapshotThresholdBytesMax, trigger),
    logResidentBytes: Math.min(base.logResidentBytes, Math.floor(heapLimitBytes / RESIDENT_HEAP_SHARE)),
  };
}

/** Dead buffers (outside the heap) are collected once they pass this fraction (1/n) of the heap limit. */
export const BUFFER_SLACK_HEAP_SHARE = 16;
/** The least buffer slack, bytes. */
export const BUFFER_SLACK_MIN_BYTES = 4 * 1024 * 1024;
/** The most buffer slack, bytes: past it V8's own trigger (tens of MiB of external bytes) comes first anyway. */
export const BUFFER_SLACK_MAX_BYTES = 64 * 1024 * 1024;

/**
 * How far the bytes of ArrayBuffers may grow past their least since the last collection before
 * the agent collects (agent/runtime/buffer-collector.ts): 1/BUFFER_SLACK_HEAP_SHARE of
 * `heapLimitBytes`, within BUFFER_SLACK_MIN_BYTES..BUFFER_SLACK_MAX_BYTES (about 6 MiB under the
 * shipped unit, whose leader under 64 clients x 4 KiB made about 8 MiB of them per second).
 */
export function bufferSlackForHeap(heapLimitBytes: number): number {
  if (!Number.isFinite(heapLimitBytes) || heapLimitBytes <= 0) return BUFFER_SLACK_MAX_BYTES;
  const share = Math.floor(heapLimitBytes / BUFFER_SLACK_HEAP_SHARE);
  return Math.min(BUFFER_SLACK_MAX_BYTES, Math.max(BUFFER_SLACK_MIN_BYTES, share));
}

/**
 * The memory in use (V8 heap used plus the ArrayBuffer bytes above the least since start) past
 * which the buffer collector may collect is at most this fraction (1/n) of the heap limit.
 */
export const BUFFER_LINE_HEAP_SHARE = 2;

/**
 * The line of memory in use below which the buffer collector leaves dead buffers to V8
 * (agent/runtime/buffer-collector.ts): 1/BUFFER_LINE_HEAP_SHARE of `heapLimitBytes` (about
 * 50 MiB under the shipped unit, whose heap limit is 99 MiB; under 64 clients a leader used 20-35
 * MiB of heap and held 10-25 MiB of live buffers above those it holds at rest, a snapshot being
 * written about 30 MiB more). Infinity when the heap limit is unknown.
 */
export function bufferLineForHeap(heapLimitBytes: number): number {
  if (!Number.isFinite(heapLimitBytes) || heapLimitBytes <= 0) return Number.POSITIVE_INFINITY;
  return Math.floor(heapLimitBytes / BUFFER_LINE_HEAP_SHARE);
}
