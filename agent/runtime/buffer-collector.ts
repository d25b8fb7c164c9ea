/**
 * Frees dead buffers sooner than V8 would on its own (issue 17). A Buffer's bytes live outside
 * the V8 heap (malloc'd), and are freed only when a garbage collection finds its ArrayBuffer
 * dead. Buffers that die young go at the next scavenge; but under load most of the agent's
 * buffers die old: a value overwritten in the store, a log entry compacted away, a WAL tail
 * entry checkpointed. V8 starts a full collection for them only once the external bytes grew by
 * tens of MiB since the last one (a leader of 64 clients x 4 KiB held 30-40 MiB of dead buffers
 * above a live 45 MiB), and glibc keeps the high-water mark of its heap resident afterwards. So
 * after activity (applied entries) the collector looks at most every `checkIntervalMs` at the
 * bytes of live and dead ArrayBuffers, and when they grew `slackBytes` past the least it saw
 * since its last collection, it runs a full collection (at most one per `collectIntervalMsMin`).
 * One check follows the last activity, so the buffers of a load are released after it ends; an
 * agent at rest has no timer. Without a collection function (Node started without `--expose-gc`)
 * nothing is collected.
 */
import { assert } from '../../contracts/assert.js';
import type { Timers, TimerHandle } from '../../contracts/clock.js';
import type { Metrics } from '../../contracts/metrics.js';

/** The collector's bounds. */
export interface BufferCollectorOptions {
  /** Growth of the ArrayBuffer bytes past their least since the last collection that starts one, bytes. >= 1 MiB. */
  readonly slackBytes: number;
  /** Least time between two looks at the ArrayBuffer bytes while entries apply, ms. >= 10. */
  readonly checkIntervalMs: number;
  /** Least time between two collections, ms. >= checkIntervalMs. */
  readonly collectIntervalMsMin: number;
}

/** The collector's defaults (the slack comes from the heap budget, config/memory-budget.ts). */
export const BUFFER_COLLECTOR_TIMING = { checkIntervalMs: 250, collectIntervalMsMin: 500 } as const;

/** What the collector reads and calls. */
export interface BufferCollectorDeps {
  readonly timers: Timers;
  readonly metrics: Metrics;
  /** The bytes of every ArrayBuffer, live or not yet collected (process.memoryUsage().arrayBuffers). */
  readonly arrayBufferBytes: () => number;
  /** Runs a full garbage collection, synchronously. */
  readonly collect: () => void;
}

export class BufferCollector {
  /** The least ArrayBuffer bytes seen since the last collection (or since start). */
  private floorBytes: number;
  private lastCheckMs = Number.NEGATIVE_INFINITY;
  private lastCollectMs = Number.NEGATIVE_INFINITY;
  /** The check after the last activity; null while none is armed. */
  private trailing: TimerHandle | null = null;
  private collectionsValue = 0;
  private stopped = false;

  constructor(
    private readonly deps: BufferCollectorDeps,
    private readonly options: BufferCollectorOptions,
  ) {
    assert(options.slackBytes >= 1024 * 1024, 'slackBytes is at least 1 MiB');
    assert(options.checkIntervalMs >= 10, 'checkIntervalMs is at least 10 ms');
    assert(options.collectIntervalMsMin >= options.checkIntervalMs, 'collectIntervalMsMin >= checkIntervalMs');
    this.floorBytes = deps.arrayBufferBytes();
  }

  /** Collections run so far. */
  collections(): number {
    return this.collectionsValue;
  }

  /** Notes activity (an entry applied): checks now if the last check is old enough, and once after it. */
  noteActivity(): void {
    if (this.stopped) return;
    const now = this.deps.timers.nowMs();
    if (now - this.lastCheckMs >= this.options.checkIntervalMs) this.check(now);
    this.trailing ??= this.deps.timers.setTimer(this.options.collectIntervalMsMin * 2, () => {
      this.trailing = null;
      this.check(this.deps.timers.nowMs());
    });
  }

  /** Cancels the trailing check (the agent stops). */
  stop(): void {
    this.stopped = true;
    this.trailing?.cancel();
    this.trailing = null;
  }

  private check(now: number): void {
    this.lastCheckMs = now;
    const bytes = this.deps.arrayBufferBytes();
    if (bytes < this.floorBytes) this.floorBytes = bytes;
    if (bytes - this.floorBytes <= this.options.slackBytes) return;
    if (now - this.lastCollectMs < this.options.collectIntervalMsMin) return;
    this.deps.collect();
    this.lastCollectMs = now;
    this.collectionsValue += 1;
    this.floorBytes = this.deps.arrayBufferBytes();
    this.deps.metrics.increment('agent_buffer_collections_total');
  }
}

/** The `gc` function of a Node started with `--expose-gc`, or null. */
export function exposedCollector(): (() => void) | null {
  const gc: unknown = Reflect.get(globalThis, 'gc');
  if (typeof gc !== 'function') return null;
  return () => {
    Reflect.apply(gc, globalThis, []);
  };
}
