/**
 * The Raft log's share of the agent's memory (issue 17). The in-memory log holds the entries
 * applied since the last snapshot (up to `snapshotThresholdBytes`) and, behind the snapshot,
 * those kept for lagging followers (up to `logRetainBytesMax`). The reference defaults (10 MB and
 * 32 MiB) fit an unbounded heap, not the shipped unit's (fleet/memory-sizing.ts: a heap limit of
 * 99 MiB). A heap snapshot of a leader under 64 clients of 4 KiB values held 23.7 MiB of log
 * entries (7,245), 20.5 MiB of its last snapshot's bytes and a 17.2 MiB store; its anonymous RSS
 * passed MemoryHigh. So when agent.json sets neither, the entries kept behind a snapshot are at
 * most 1/{@link RETAIN_HEAP_SHARE} of the V8 heap limit the agent runs with (about 6 MiB under the
 * shipped unit, where 5,000 entries of 4 KiB were 21 MB), and the snapshot trigger at most
 * 1/{@link SNAPSHOT_HEAP_SHARE} of it (the reference 10 MB under the unit: a lower trigger would
 * write the whole store more often, and each snapshot allocates about twice the store while it
 * is encoded). Under an unflagged Node both keep the reference values.
 */
import type { RaftConfiguration } from '../../contracts/raft-configuration.js';

/** The entry bytes kept behind a snapshot are at most this fraction (1/n) of the V8 heap limit. */
export const RETAIN_HEAP_SHARE = 16;
/** The entry bytes applied before a snapshot is taken are at most this fraction (1/n) of the heap limit. */
export const SNAPSHOT_HEAP_SHARE = 8;
/** The smallest snapshot trigger the budget gives, bytes (the Raft configuration's own least is 1 KiB). */
export const SNAPSHOT_THRESHOLD_MIN_BYTES = 1024 * 1024;

/**
 * `base` with `logRetainBytesMax` lowered to 1/RETAIN_HEAP_SHARE and `snapshotThresholdBytes` to
 * 1/SNAPSHOT_HEAP_SHARE of `heapLimitBytes` (V8's heap_size_limit), never raised.
 */
export function raftDefaultsForHeap(base: RaftConfiguration, heapLimitBytes: number): RaftConfiguration {
  if (!Number.isFinite(heapLimitBytes) || heapLimitBytes <= 0) return base;
  const trigger = Math.max(SNAPSHOT_THRESHOLD_MIN_BYTES, Math.floor(heapLimitBytes / SNAPSHOT_HEAP_SHARE));
  return {
    ...base,
    snapshotThresholdBytes: Math.min(base.snapshotThresholdBytes, trigger),
    snapshotThresholdBytesMax: Math.min(base.snapshotThresholdBytesMax, trigger),
    logRetainBytesMax: Math.min(base.logRetainBytesMax, Math.floor(heapLimitBytes / RETAIN_HEAP_SHARE)),
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
