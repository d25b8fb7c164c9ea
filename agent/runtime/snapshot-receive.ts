/**
 * A follower's side of InstallSnapshot in the runtime (Raft §7; issue 17: no whole image in memory).
 * The core accepts the leader's chunks in order and hands them out in Readies
 * (Ready.snapshotChunks); they are streamed here into a storage SnapshotWriter, begun at offset 0,
 * so that the node holds a chunk at a time, never the image. The Ready whose last chunk completes
 * the snapshot (Ready.snapshot) commits the image in one batch with the rest of that Ready's write
 * (the truncation and compaction that replace the log, entries, hard state), atomically, as one
 * persist once did; the state machine is then restored from the stored image (snapshots.ts).
 *
 * A transfer the core dropped (a new term or role: CoreState.resetRoleState) is aborted here
 * between two Readies, once the core has no more of it to hand out
 * ({@link SnapshotReceiver.reconcile}); a chunk at offset 0 begins a new writer, which aborts the
 * open one. While a writer is open the node starts no snapshot of its own (storage keeps one
 * writer open at a time, so that one would abort this transfer).
 */
import { assert } from '../../contracts/assert.js';
import { InvariantError } from '../../contracts/errors.js';
import type { LogIndex, SnapshotHeader, Term } from '../../contracts/log.js';
import type { PersistenceEngine, SnapshotBatchRest, SnapshotWriter } from '../../contracts/persistence.js';
import type { StateMachine } from '../../contracts/state-machine.js';
import type { ReceivedChunk, Ready } from '../core/ready.js';
import { startWrite } from './ready-write.js';

/** The transfer being written. */
interface OpenTransfer {
  readonly writer: SnapshotWriter;
  readonly index: LogIndex;
  readonly term: Term;
  /** Bytes written so far: the offset of the next chunk. */
  written: number;
}

/** Streams received chunks into storage; see the module comment. */
export class SnapshotReceiver {
  private open: OpenTransfer | null = null;

  constructor(private readonly storage: PersistenceEngine) {}

  /** True while a transfer's writer is open. */
  isOpen(): boolean {
    return this.open !== null;
  }

  /**
   * Writes the Ready: its chunks in order, then its batch, committed with the snapshot's image when
   * the Ready completes one (else as any Ready's write, startWrite). Resolves once all is durable;
   * rejects with PersistenceError (fatal), or InvariantError when the chunks do not follow on.
   */
  async write(ready: Ready): Promise<void> {
    let committed = false;
    for (const chunk of ready.snapshotChunks) {
      const open = await this.writeChunk(chunk);
      if (!chunk.done) continue;
      this.open = null;
      const snapshot = ready.snapshot;
      assert(snapshot !== null, 'a Ready with a last chunk completes a snapshot');
      if (snapshot.lastIncludedIndex !== open.index || snapshot.lastIncludedTerm !== open.term) {
        // Received whole, then superseded in the same Ready by a newer one (from the next term's leader).
        await open.writer.abort();
        continue;
      }
      const { truncateFrom, entries, compactBefore, hardState } = ready;
      const rest: SnapshotBatchRest = { truncateFrom, entries, compactBefore, hardState };
      if (!(await open.writer.commit(rest)))
        throw new InvariantError(`storage refused the snapshot at ${open.index} received from the leader`);
      committed = true;
    }
    assert(committed === (ready.snapshot !== null), 'a snapshot is committed exactly when the Ready completes one');
    if (!committed) await startWrite(this.storage, ready, false);
  }

  /**
   * Aborts the open writer when the core will hand out no more of its transfer (`receiving`:
   * RaftCore.isReceivingSnapshot). Called between two Readies.
   */
  reconcile(receiving: (index: LogIndex, term: Term) => boolean): void {
    const open = this.open;
    if (open !== null && !receiving(open.index, open.term)) this.abort();
  }

  /** Drops the transfer being written, if any (the node stops, or the core dropped it). */
  abort(): void {
    const open = this.open;
    this.open = null;
    if (open !== null) void open.writer.abort();
  }

  /** Writes one chunk: at offset 0 into a new writer, else into the open one, where it must follow on. */
  private async writeChunk(chunk: ReceivedChunk): Promise<OpenTransfer> {
    const { snapshot } = chunk;
    if (chunk.offset === 0) {
      this.abort();
      this.open = {
        writer: this.storage.beginSnapshot(snapshot, chunk.totalBytes),
        index: snapshot.lastIncludedIndex,
        term: snapshot.lastIncludedTerm,
        written: 0,
      };
    }
    const open = this.open;
    if (open?.index !== snapshot.lastIncludedIndex || open.written !== chunk.offset)
      throw new InvariantError(
        `a chunk at ${chunk.offset} of the snapshot at ${snapshot.lastIncludedIndex} does not follow what was written`,
      );
    open.written += chunk.data.byteLength;
    await open.writer.write(chunk.data);
    return open;
  }
}

/**
 * Restores `machine` from the stored image of `snapshot`, a range at a time when it can
 * (StateMachine.restoreFrom), else read whole: at start, and after a snapshot from the leader was
 * committed. Throws InvariantError when storage does not hold that snapshot (nothing else writes
 * one meanwhile).
 */
export function restoreFromStorage(machine: StateMachine, storage: PersistenceEngine, snapshot: SnapshotHeader): void {
  const image = storage.storedImage(snapshot.lastIncludedIndex);
  if (image === null) throw new InvariantError(`the snapshot at ${snapshot.lastIncludedIndex} is not stored`);
  assert(image.byteLength === snapshot.dataBytes, 'the stored image is the one received');
  const { lastIncludedIndex, lastIncludedTerm, configuration } = snapshot;
  const meta = { lastIncludedIndex, lastIncludedTerm, configuration };
  if (machine.restoreFrom !== undefined) {
    machine.restoreFrom(meta, image);
    return;
  }
  const data = new Uint8Array(image.byteLength);
  image.copyTo(0, data);
  machine.restore(meta, data);
}
