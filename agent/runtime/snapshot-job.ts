/**
 * One snapshot taken in the background (snapshots.ts): the state machine's image, captured
 * between two Readies, is encoded a chunk at a time and each chunk handed to storage
 * (PersistenceEngine.beginSnapshot), with a yield to the event loop after every chunk, so that
 * the Ready loop, the transport and the clients go on meanwhile (issue 16: a snapshot taken on
 * the Ready loop stalled every write on every member for 0.2-1.4 s under 4 KiB load) and no
 * whole image is ever held in memory (issue 17). Its timers are the node's injected ones, so in
 * the simulator it runs in virtual time, deterministically.
 */
import type { Timers } from '../../contracts/clock.js';
import type { SnapshotMeta } from '../../contracts/log.js';
import type { PersistenceEngine, SnapshotWriter } from '../../contracts/persistence.js';
import type { SnapshotEncoder } from '../../contracts/state-machine.js';

/**
 * Bytes of each chunk encoded and handed to storage in one step: the LMDB engine's record size
 * (storage/lmdb/lmdb-snapshot.ts), so that each chunk is stored as one record. One step costs
 * well under a millisecond of encoding.
 */
export const SNAPSHOT_CHUNK_BYTES = 256 * 1024;

/** Where a background snapshot stands. */
export type SnapshotJobState = 'running' | 'durable' | 'superseded' | 'failed';

/** A background snapshot; see the module comment. */
export class SnapshotJob {
  /** 'durable' once storage committed it; 'superseded' when dropped or refused as older; 'failed' on an error. */
  state: SnapshotJobState = 'running';
  /** What failed, when the state is 'failed'. */
  error: unknown = null;
  /** Bytes of the image handed to storage so far (its size once durable). */
  dataBytes = 0;
  /** Time spent encoding, ms (in steps, off the Ready loop). */
  encodeMs = 0;
  /** Time from the capture until storage committed, ms. */
  elapsedMs = 0;
  private dropped = false;

  constructor(
    /** What the snapshot covers: the applied index as of the capture, its term and configuration. */
    readonly meta: SnapshotMeta,
    /** Entry bytes applied since the last snapshot as of the capture (the trigger's count). */
    readonly bytesAtCapture: number,
    /** The Ready loop's hold for the capture, ms. */
    readonly captureMs: number,
  ) {}

  /** Stops the job at its next step (a snapshot from the leader replaced the state, or the node stops). */
  drop(): void {
    this.dropped = true;
  }

  /** True when the job was dropped. */
  get isDropped(): boolean {
    return this.dropped;
  }

  /**
   * Encodes `encoder`'s image into storage and commits it; resolves when the job ended, whatever
   * its state (never rejects: a failure is recorded in `state` and `error`).
   */
  async run(encoder: SnapshotEncoder, storage: PersistenceEngine, timers: Timers): Promise<void> {
    const started = timers.nowMs();
    const opened: { writer: SnapshotWriter | null } = { writer: null };
    // Begun at the first bytes, once the encoder may know the image's size (storage then fills one buffer).
    const open = (): SnapshotWriter => {
      opened.writer ??= storage.beginSnapshot(this.meta, encoder.totalBytes?.() ?? undefined);
      return opened.writer;
    };
    try {
      const stored = await this.writeAll(encoder, open, () => opened.writer, timers);
      this.state = stored ? 'durable' : 'superseded';
    } catch (error) {
      this.state = 'failed';
      this.error = error;
      await opened.writer?.abort();
    }
    this.elapsedMs = timers.nowMs() - started;
  }

  /**
   * Writes every chunk, yielding between them, then commits; false when dropped or superseded. A job
   * dropped before its first bytes never begins a writer: beginning one would abort the writer of
   * whatever dropped it (a snapshot from the leader, snapshot-receive.ts).
   */
  private async writeAll(
    encoder: SnapshotEncoder,
    open: () => SnapshotWriter,
    begun: () => SnapshotWriter | null,
    timers: Timers,
  ): Promise<boolean> {
    for (;;) {
      if (this.dropped) break;
      const before = timers.nowMs();
      const chunk = encoder.next(SNAPSHOT_CHUNK_BYTES);
      this.encodeMs += timers.nowMs() - before;
      if (chunk === null) break;
      if (chunk.byteLength > 0) {
        this.dataBytes += chunk.byteLength;
        await open().write(chunk);
      }
      await new Promise<void>((resolve) => timers.setTimer(0, resolve));
    }
    if (!this.dropped) return open().commit();
    await begun()?.abort();
    return false;
  }
}
