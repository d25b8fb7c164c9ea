// Proves the runtime's side of a snapshot received from the leader (snapshot-receive.ts), with a
// follower's RaftCore fed InstallSnapshot chunks and its Readies written by a SnapshotReceiver into
// a memory engine that records what it is asked to do (issue 17: no whole image in memory):
// - the chunks go into one snapshot writer, begun with the image's size at the first chunk, a
//   chunk per write, and the last Ready commits the image in one batch with that Ready's
//   compaction; persist never gets a snapshot; the stored image is the leader's, byte for byte;
// - restoreFromStorage restores a state machine from the stored image through restoreFrom, which
//   reads it a range at a time, or through restore, with the image read whole, for one without it;
// - a transfer the core dropped (a new term) is aborted between two Readies, so storage has no
//   writer open; and one still under way is not;
// - a chunk that does not follow what was written is an invariant error, not a torn image;
// - a transfer that begins while a snapshot of the node's own is being encoded drops that job, which
//   then begins no writer of its own: storage keeps one writer open, so the job's would have aborted
//   the transfer's, and its commit would have stopped the node.
import { strict as assert } from 'node:assert';
import { RaftCore } from '../../../agent/core/raft.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { Ready } from '../../../agent/core/ready.js';
import { SnapshotReceiver, restoreFromStorage } from '../../../agent/runtime/snapshot-receive.js';
import type { SnapshotMeta } from '../../../contracts/log.js';
import type { InstallSnapshotRequest } from '../../../contracts/messages.js';
import type { PersistBatch, SnapshotWriter, StoredImage } from '../../../contracts/persistence.js';
import { SeededPrng } from '../../../contracts/prng.js';
import type { SnapshotEncoder, StateMachine } from '../../../contracts/state-machine.js';
import { Snapshots } from '../../../agent/runtime/snapshots.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { TEST_OPTIONS, leadAndApply, singleVoterCore } from '../core/core-cluster.js';

const configuration = simpleConfiguration(['a', 'b', 'c']);
const IMAGE = new Uint8Array(2500).map((_, i) => (i * 13) & 0xff);

/** Records the calls that matter: persisted snapshots, writers begun, their writes and commits. */
class RecordingStorage extends MemoryPersistenceEngine {
  readonly calls: string[] = [];
  override persist(batch: PersistBatch): Promise<void> {
    if (batch.snapshot !== null) this.calls.push('persist with a snapshot');
    return super.persist(batch);
  }
  override beginSnapshot(meta: SnapshotMeta, totalBytes?: number): SnapshotWriter {
    this.calls.push(`begin ${meta.lastIncludedIndex} of ${totalBytes}`);
    const writer = super.beginSnapshot(meta, totalBytes);
    return {
      write: (chunk) => {
        this.calls.push(`write ${chunk.byteLength}`);
        return writer.write(chunk);
      },
      commit: (rest) => {
        this.calls.push(`commit with compactBefore ${rest?.compactBefore}`);
        return writer.commit(rest);
      },
      abort: () => {
        this.calls.push('abort');
        return writer.abort();
      },
    };
  }
}

function followerCore(): RaftCore {
  return new RaftCore(
    { prng: new SeededPrng(1) },
    { ...TEST_OPTIONS, id: 'a', snapshotBytesMax: 1 << 20 },
    { hardState: { currentTerm: 1, votedFor: null }, snapshot: null, entries: [], bootstrap: configuration },
  );
}

function chunk(offset: number, bytes: number, term = 1): InstallSnapshotRequest {
  return {
    type: 'InstallSnapshotRequest',
    term,
    leaderId: 'b',
    lastIncludedIndex: 9,
    lastIncludedTerm: 1,
    offset,
    data: IMAGE.slice(offset, offset + bytes),
    done: offset + bytes === IMAGE.byteLength,
    totalBytes: IMAGE.byteLength,
    configuration,
  };
}

/** Steps `request` into the core, then writes its Ready as the Ready loop does; returns the Ready. */
async function deliver(core: RaftCore, receiver: SnapshotReceiver, request: InstallSnapshotRequest): Promise<Ready> {
  receiver.reconcile((index, term) => core.isReceivingSnapshot(index, term));
  assert.ok(core.step({ kind: 'request', from: 'b', replyTo: 1, request }).ok);
  const ready = core.takeReady();
  await receiver.write(ready);
  core.advance(ready);
  return ready;
}

/** A state machine whose snapshot encoding yields five empty steps before its bytes (as measuring a store does). */
class SlowEncodingMachine implements StateMachine {
  apply(): Uint8Array {
    return new Uint8Array(0);
  }
  query(): Uint8Array {
    return new Uint8Array(0);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(64).fill(1);
  }
  restore(): void {}
  captureSnapshot(): SnapshotEncoder {
    let step = 0;
    return {
      next: () => {
        step += 1;
        if (step <= 5) return new Uint8Array(0);
        return step === 6 ? this.snapshot() : null;
      },
    };
  }
}

/** A state machine that records how it was restored. */
class RestoredMachine implements StateMachine {
  restored: { how: string; data: Uint8Array } | null = null;
  apply(): Uint8Array {
    return new Uint8Array(0);
  }
  query(): Uint8Array {
    return new Uint8Array(0);
  }
  snapshot(): Uint8Array {
    return new Uint8Array(0);
  }
  restore(_meta: SnapshotMeta, data: Uint8Array): void {
    this.restored = { how: 'whole', data: data.slice() };
  }
}

/** One that reads the image 700 bytes at a time. */
class RangedMachine extends RestoredMachine {
  restoreFrom(_meta: SnapshotMeta, image: StoredImage): void {
    const data = new Uint8Array(image.byteLength);
    for (let offset = 0; offset < data.byteLength; offset += 700) {
      const range = new Uint8Array(Math.min(700, data.byteLength - offset));
      image.copyTo(offset, range);
      data.set(range, offset);
    }
    this.restored = { how: 'ranges', data };
  }
}

describe('runtime: a snapshot received from the leader', () => {
  it('streams the chunks into one writer and commits the image with the Ready that completes it', async () => {
    const storage = new RecordingStorage();
    const receiver = new SnapshotReceiver(storage);
    const core = followerCore();
    let last: Ready | null = null;
    for (let offset = 0; offset < IMAGE.byteLength; offset += 1000)
      last = await deliver(core, receiver, chunk(offset, Math.min(1000, IMAGE.byteLength - offset)));
    assert.deepEqual(storage.calls, [
      'begin 9 of 2500',
      'write 1000',
      'write 1000',
      'write 500',
      'commit with compactBefore 10',
    ]);
    assert.equal(receiver.isOpen(), false);
    const loaded = await storage.load();
    assert.deepStrictEqual(loaded.snapshot?.data, IMAGE);
    assert.equal(loaded.snapshot?.lastIncludedIndex, 9);

    const received = last?.snapshot ?? null;
    assert.ok(received !== null);
    const ranged = new RangedMachine();
    restoreFromStorage(ranged, storage, received);
    assert.equal(ranged.restored?.how, 'ranges');
    assert.deepStrictEqual(ranged.restored.data, IMAGE);
    const whole = new RestoredMachine();
    restoreFromStorage(whole, storage, received);
    assert.equal(whole.restored?.how, 'whole');
    assert.deepStrictEqual(whole.restored.data, IMAGE);
    assert.throws(() => restoreFromStorage(whole, storage, { ...received, lastIncludedIndex: 8 }), {
      code: 'RAFT_INVARIANT',
    });
  });

  it('aborts a transfer the core dropped, between two Readies, and keeps one under way', async () => {
    const storage = new RecordingStorage();
    const receiver = new SnapshotReceiver(storage);
    const core = followerCore();
    await deliver(core, receiver, chunk(0, 1000));
    receiver.reconcile((index, term) => core.isReceivingSnapshot(index, term));
    assert.ok(receiver.isOpen(), 'a transfer under way stays open');
    // A chunk of the next term: the core drops the transfer (it answers 0) and hands out nothing.
    const ready = await deliver(core, receiver, chunk(1000, 1000, 2));
    assert.equal(ready.snapshotChunks.length, 0);
    receiver.reconcile((index, term) => core.isReceivingSnapshot(index, term));
    assert.equal(receiver.isOpen(), false);
    assert.deepEqual(storage.calls, ['begin 9 of 2500', 'write 1000', 'abort']);
    assert.equal((await storage.load()).snapshot, null);
  });

  it('drops a snapshot received whole that a newer one supersedes in one Ready, and commits the newer', async () => {
    const storage = new RecordingStorage();
    const receiver = new SnapshotReceiver(storage);
    const core = followerCore();
    assert.ok(core.step({ kind: 'request', from: 'b', replyTo: 1, request: chunk(0, IMAGE.byteLength) }).ok);
    // Before that Ready is taken, the leader of the next term sends a newer snapshot in one chunk.
    const newer = { ...chunk(0, 10, 2), leaderId: 'c', lastIncludedIndex: 20, totalBytes: 10, done: true };
    assert.ok(core.step({ kind: 'request', from: 'c', replyTo: 2, request: newer }).ok);
    const ready = core.takeReady();
    assert.deepEqual(
      ready.snapshotChunks.map((c) => [c.snapshot.lastIncludedIndex, c.done]),
      [
        [9, true],
        [20, true],
      ],
    );
    await receiver.write(ready);
    core.advance(ready);
    assert.deepEqual(storage.calls, [
      'begin 9 of 2500',
      'write 2500',
      'abort',
      'begin 20 of 10',
      'write 10',
      'commit with compactBefore 21',
    ]);
    const loaded = await storage.load();
    assert.equal(loaded.snapshot?.lastIncludedIndex, 20);
    assert.deepStrictEqual(loaded.snapshot.data, IMAGE.slice(0, 10));
  });

  it('refuses a chunk that does not follow what was written', async () => {
    const receiver = new SnapshotReceiver(new RecordingStorage());
    const core = followerCore();
    assert.ok(core.step({ kind: 'request', from: 'b', replyTo: 1, request: chunk(0, 1000) }).ok);
    const first = core.takeReady();
    core.advance(first);
    // The first chunk's Ready was never written: the second does not follow anything.
    assert.ok(core.step({ kind: 'request', from: 'b', replyTo: 2, request: chunk(1000, 1000) }).ok);
    await assert.rejects(receiver.write(core.takeReady()), { code: 'RAFT_INVARIANT' });
  });

  it('drops a snapshot of its own being encoded when a transfer begins, which then commits', async () => {
    const bootstrap = simpleConfiguration(['a']);
    const core = singleVoterCore('a');
    const applied = leadAndApply(core, 3);
    const storage = new RecordingStorage();
    const timers = new VirtualTimers();
    const deps = {
      stateMachine: new SlowEncodingMachine(),
      storage,
      membership: new DefaultMembershipManager(),
      logger: new MemoryLogger(),
      metrics: new NoopMetrics(),
      timers,
    };
    const host = {
      isRunning: () => true,
      requireCore: () => core,
      scheduleReady: () => undefined,
      fatal: (error: unknown) => assert.fail(`fatal: ${String(error)}`),
    };
    const retention = { entries: 0, entriesMax: 0, bytesMax: 0 };
    const trigger = { snapshotThresholdBytes: 1, snapshotThresholdBytesMax: 0 };
    const snapshots = new Snapshots(host, deps, { nodeId: 'a', trigger, retention }, bootstrap);
    for (const entry of applied) snapshots.applied(entry);
    snapshots.betweenReadies(core); // captures: the job yields empty steps before its first bytes
    const meta = { lastIncludedIndex: 100, lastIncludedTerm: 1, configuration: bootstrap };
    const readyOf = (offset: number, done: boolean): Ready => ({
      hardState: null,
      snapshotChunks: [{ snapshot: meta, totalBytes: 20, offset, data: IMAGE.slice(offset, offset + 10), done }],
      snapshot: done ? { ...meta, dataBytes: 20 } : null,
      truncateFrom: null,
      entries: [],
      compactBefore: done ? 101 : null,
      committed: [],
      messages: [],
      readStates: [],
      softState: null,
      events: [],
    });
    await snapshots.receive(readyOf(0, false));
    await timers.runUntil(1000, () => true); // the job's steps run out
    await snapshots.receive(readyOf(10, true));
    assert.deepEqual(storage.calls, ['begin 100 of 20', 'write 10', 'write 10', 'commit with compactBefore 101']);
    assert.deepStrictEqual((await storage.load()).snapshot?.data, IMAGE.slice(0, 20));
  });
});
