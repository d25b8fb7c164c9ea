/**
 * The two slots of snapshot image records (lmdb-snapshot.ts) as the LMDB-based engines use them:
 * which slot the snapshot after every accepted write is in, and the lane of small transactions
 * that write a snapshot's records into the other slot, or delete them, outside the engine's write
 * queue (lmdb-snapshot-stream.ts).
 *
 * Order. Three kinds of work touch the slots: the lane's transactions (a writer's records, an
 * aborted writer's deletion), a whole snapshot persisted (its records written into the free slot
 * with its metadata, in the write queue), and a writer's commit (the metadata switched to its
 * slot, in the write queue). A lane transaction starts after every earlier one and after the last
 * snapshot write accepted before it, so it never touches the slot that write makes the stored
 * one's before LMDB holds it. A snapshot write waits, before its transaction, for the lane as it
 * was when the write was accepted: a writer it superseded has stopped writing and its deletion has
 * run, so the write's records are never overwritten or deleted by the lane. Neither waits for
 * anything accepted after it, so the two never wait for each other.
 */
import { assert } from '../../contracts/assert.js';
import { PersistenceError } from '../../contracts/errors.js';
import { commitFailureCause, toPersistenceError } from './lmdb-errors.js';
import type { LmdbHandles } from './lmdb-open.js';
import type { SnapshotSlot } from './lmdb-records.js';
import { checkSpace } from './lmdb-space.js';
import { otherSlot, readSnapshotMeta, slotKeyRange, trimSlot } from './lmdb-snapshot.js';
import type { MetaWriter } from './lmdb-snapshot.js';

/** What the slots need of an engine's options. */
export interface SlotOptions {
  readonly path: string;
  readonly mapSizeMaxBytes: number;
}

function settled(): void {
  // A lane link waits for the settling of what came before; its outcome went to its own caller.
}

/** The slots of an open engine; see the module comment. */
export class SnapshotSlots {
  /** Invariant: the slot of the snapshot after every accepted write (1 while none is stored). */
  private accepted: SnapshotSlot;
  /** Settles once every lane transaction begun so far has ended; never rejects. */
  private lane: Promise<void> = Promise.resolve();
  /** Settles once the last snapshot write accepted has ended; never rejects. */
  private lastWrite: Promise<void> = Promise.resolve();
  /** Set when a deletion that no caller waits for failed: every later lane transaction rejects with it. */
  private failure: PersistenceError | null = null;

  private constructor(
    private readonly handles: LmdbHandles,
    private readonly options: SlotOptions,
    accepted: SnapshotSlot,
  ) {
    this.accepted = accepted;
  }

  /**
   * The slots of a store just opened: the stored snapshot's slot, and the other one emptied of
   * what a crash or an abort left there (records no metadata names).
   */
  static async open(handles: LmdbHandles, options: SlotOptions): Promise<SnapshotSlots> {
    // With none stored, slot 1 counts as the stored one's, so that the first snapshot goes into slot 0.
    const slot = readSnapshotMeta(handles.meta)?.dataSlot ?? 1;
    const free = otherSlot(slot);
    if (handles.meta.getKeysCount(slotKeyRange(free)) > 0) {
      try {
        await handles.env.childTransaction(() => trimSlot(handles.meta, free, 0));
      } catch (error) {
        throw toPersistenceError(await commitFailureCause(error), `cleaning ${options.path} failed`, options.path);
      }
    }
    return new SnapshotSlots(handles, options, slot);
  }

  /** The slot a snapshot written now goes into: the one the snapshot after every accepted write does not use. */
  free(): SnapshotSlot {
    return otherSlot(this.accepted);
  }

  /**
   * A snapshot write into `slot` (the free one) is accepted. Returns what the write must wait for
   * before its transaction: the lane as it is now. The engine then hands its queued write to {@link written}.
   */
  accept(slot: SnapshotSlot): Promise<void> {
    assert(slot === this.free(), 'a snapshot is written into the slot the stored one does not use');
    this.accepted = slot;
    return this.lane;
  }

  /** `write` is the queued write of the snapshot accepted last: later lane transactions wait for it. */
  written(write: Promise<void>): void {
    this.lastWrite = write.then(settled, settled);
  }

  /**
   * Runs `action` on the `meta` database in an LMDB transaction of its own (synced, as every
   * commit), in lane order (module comment); `bytes` is what it adds, for the map size check.
   */
  run(action: (meta: MetaWriter) => void, bytes: number): Promise<void> {
    const before = Promise.all([this.lane, this.lastWrite]);
    const done = before.then(() => this.transact(action, bytes));
    this.lane = done.then(settled, settled);
    return done;
  }

  /** Deletes the records of `slot`, in lane order (a writer into it was aborted). */
  drop(slot: SnapshotSlot): void {
    assert(slot === this.free(), 'only the free slot is dropped');
    this.run((meta) => trimSlot(meta, slot, 0), 0).catch((error: unknown) => {
      this.failure ??=
        error instanceof PersistenceError
          ? error
          : new PersistenceError('STORAGE_IO', 'deleting a snapshot slot failed', { cause: error });
    });
  }

  /** Resolves once every lane transaction begun so far has ended. */
  idle(): Promise<void> {
    return this.lane;
  }

  private async transact(action: (meta: MetaWriter) => void, bytes: number): Promise<void> {
    if (this.failure !== null) throw this.failure;
    const { env, meta } = this.handles;
    try {
      checkSpace(this.handles, bytes, this.options);
      await env.childTransaction(() => action(meta));
    } catch (error) {
      throw toPersistenceError(
        await commitFailureCause(error),
        `writing a snapshot to ${this.options.path} failed`,
        this.options.path,
      );
    }
  }
}
