/**
 * Group commit: writes that arrive while a commit is running wait in a bounded queue, and the
 * next commit takes all of them (up to a count and a byte limit) in one transaction with one
 * sync. One commit runs at a time, so a write's promise resolves in the order it was queued,
 * and throughput grows with the number of concurrent writers instead of being capped at one
 * sync per write.
 *
 * A failed commit fails the queue for good: the commit's writes and every queued write reject
 * with the error, and so does every later write. The engine's projection of the disk already
 * counts those writes, so carrying on could write a log the checks were never run against;
 * reopening the engine rebuilds the projection from the disk.
 */
import { PersistenceError, RaftError } from '../contracts/errors.js';
import { assert } from '../contracts/assert.js';

/** One queued write. */
export interface QueuedWrite<T> {
  readonly payload: T;
  /** Estimated bytes the write adds to the disk. */
  readonly bytes: number;
}

/** Limits of a {@link GroupCommitQueue}. */
export interface GroupCommitLimits {
  /** Most writes waiting; one more is refused with STORAGE_FULL. */
  readonly pendingWritesMax: number;
  /** Most bytes waiting; more is refused with STORAGE_FULL. */
  readonly pendingBytesMax: number;
  /** Most writes in one commit. */
  readonly writesPerCommitMax: number;
  /** Most bytes in one commit (one larger write still commits alone). */
  readonly bytesPerCommitMax: number;
}

interface Waiting<T> extends QueuedWrite<T> {
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Commits one group; rejects (with a RaftError) when nothing of the group was written. */
export type CommitGroup<T> = (writes: readonly QueuedWrite<T>[]) => Promise<void>;

/** A bounded queue of writes committed in groups by `commitGroup`. */
export class GroupCommitQueue<T> {
  private readonly waiting: Waiting<T>[] = [];
  /** Invariant: the sum of `bytes` over `waiting`. */
  private waitingBytes = 0;
  private running: Promise<void> | null = null;
  private failure: RaftError | null = null;

  constructor(
    private readonly commitGroup: CommitGroup<T>,
    private readonly limits: GroupCommitLimits,
  ) {}

  /** The error that failed the queue, if one did. */
  failed(): RaftError | null {
    return this.failure;
  }

  /**
   * Checks that one more write of `bytes` fits, before the caller commits to queueing it.
   * Throws the queue's failure, or STORAGE_FULL when a limit would be exceeded.
   */
  checkAccepts(bytes: number): void {
    if (this.failure !== null) throw this.failure;
    if (this.waiting.length >= this.limits.pendingWritesMax) {
      throw new PersistenceError(
        'STORAGE_FULL',
        `write queue is full: ${this.waiting.length} writes wait (pendingWritesMax)`,
      );
    }
    if (this.waiting.length > 0 && this.waitingBytes + bytes > this.limits.pendingBytesMax) {
      throw new PersistenceError(
        'STORAGE_FULL',
        `write queue is full: ${this.waitingBytes + bytes} bytes would wait ` +
          `(pendingBytesMax ${this.limits.pendingBytesMax})`,
      );
    }
  }

  /** Queues a write that {@link checkAccepts} accepted; resolves once it is committed and synced. */
  enqueue(payload: T, bytes: number): Promise<void> {
    this.checkAccepts(bytes);
    return new Promise<void>((resolve, reject) => {
      this.waiting.push({ payload, bytes, resolve, reject });
      this.waitingBytes += bytes;
      this.maybeStart();
    });
  }

  /** Resolves once no commit runs and nothing waits (or the queue has failed). */
  async drain(): Promise<void> {
    while (this.running !== null) await this.running;
  }

  /** Fails the queue with `error`: every waiting write and every later one rejects with it. */
  fail(error: RaftError): void {
    if (this.failure === null) this.failure = error;
    const waiting = this.waiting.splice(0);
    this.waitingBytes = 0;
    for (const write of waiting) write.reject(error);
  }

  private maybeStart(): void {
    if (this.running !== null || this.waiting.length === 0 || this.failure !== null) return;
    const group = this.takeGroup();
    this.running = this.run(group).finally(() => {
      this.running = null;
      this.maybeStart();
    });
  }

  private takeGroup(): Waiting<T>[] {
    let count = 0;
    let bytes = 0;
    for (const write of this.waiting) {
      if (count >= this.limits.writesPerCommitMax) break;
      if (count > 0 && bytes + write.bytes > this.limits.bytesPerCommitMax) break;
      count += 1;
      bytes += write.bytes;
    }
    assert(count > 0, 'a commit group is never empty');
    this.waitingBytes -= bytes;
    return this.waiting.splice(0, count);
  }

  private async run(group: readonly Waiting<T>[]): Promise<void> {
    try {
      await this.commitGroup(group);
    } catch (error) {
      const failure =
        error instanceof RaftError ? error : new PersistenceError('STORAGE_IO', 'commit failed', { cause: error });
      for (const write of group) write.reject(failure);
      this.fail(failure);
      return;
    }
    for (const write of group) write.resolve();
  }
}
