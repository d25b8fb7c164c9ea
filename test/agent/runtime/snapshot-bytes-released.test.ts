// Proves that once a snapshot is persisted nothing in the runtime or the core keeps its image
// (issue 17): a single-voter RaftCore applies a few entries, the runtime's Snapshots takes a
// snapshot of a state machine whose image the test watches through a WeakRef, persists it into
// a storage that copies what it writes (as a disk does), and compacts the core. After a forced
// garbage collection the image is gone, the core still knows the snapshot's index and size, and
// the storage reads the image back in chunks. Without the change (the core kept the Snapshot it
// was given) the WeakRef stays set and the test fails.
import { strict as assert } from 'node:assert';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import { Snapshots } from '../../../agent/runtime/snapshots.js';
import { DefaultMembershipManager } from '../../../agent/membership/default.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import type { PersistBatch } from '../../../contracts/persistence.js';
import type { StateMachine } from '../../../contracts/state-machine.js';
import { MemoryPersistenceEngine } from '../../../storage/memory.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { leadAndApply, singleVoterCore } from '../core/core-cluster.js';
import { collectGarbage } from '../../collect-garbage.js';

/** A disk: it keeps a copy of every image, never the caller's bytes. */
class CopyingStorage extends MemoryPersistenceEngine {
  override persist(batch: PersistBatch): Promise<void> {
    const snapshot = batch.snapshot === null ? null : { ...batch.snapshot, data: batch.snapshot.data.slice() };
    return super.persist({ ...batch, snapshot });
  }
}

/** A state machine whose image is 256 KiB the test can watch. */
class WatchedMachine implements StateMachine {
  images: WeakRef<Uint8Array>[] = [];
  apply(): Uint8Array {
    return new Uint8Array(0);
  }
  query(): Uint8Array {
    return new Uint8Array(0);
  }
  snapshot(): Uint8Array {
    const image = new Uint8Array(256 * 1024).fill(9);
    this.images.push(new WeakRef(image));
    return image;
  }
  restore(): void {}
}

describe('runtime snapshots: the image is on disk only once persisted', () => {
  it('keeps no reference to a persisted image, and storage reads it back in chunks', async () => {
    const bootstrap = simpleConfiguration(['a']);
    const core = singleVoterCore('a');
    const machine = new WatchedMachine();
    const storage = new CopyingStorage();
    const timers = new VirtualTimers();
    // The Ready loop's part: between two Readies (here: whenever asked), Snapshots captures and compacts.
    const host = {
      isRunning: () => true,
      requireCore: () => core,
      scheduleReady: () => queueMicrotask(() => snapshots.betweenReadies(core)),
      fatal: (error: unknown) => assert.fail(`fatal: ${String(error)}`),
    };
    const deps = {
      stateMachine: machine,
      storage,
      membership: new DefaultMembershipManager(),
      logger: new MemoryLogger(),
      metrics: new NoopMetrics(),
      timers,
    };
    const retention = { entries: 0, entriesMax: 0, bytesMax: 0 };
    const snapshots = new Snapshots(
      host,
      deps,
      { nodeId: 'a', trigger: { snapshotThresholdBytes: 1, snapshotThresholdBytesMax: 0 }, retention },
      bootstrap,
    );
    for (const entry of leadAndApply(core, 5)) snapshots.applied(entry);
    let index = -1;
    void snapshots.takeNow().then((taken) => (index = taken));
    // The image is encoded and persisted in the background, in virtual time.
    await timers.runUntil(1000, () => index < 0);
    assert.ok(index >= 0, 'the snapshot command resolves');
    assert.equal(index, core.getAppliedIndex());
    assert.equal(core.getSnapshotIndex(), index);
    assert.equal(machine.images.length, 1);

    await collectGarbage();
    assert.equal(machine.images[0]?.deref(), undefined, 'nothing keeps the persisted image');
    const chunk = await storage.readSnapshotChunk(index, 1000, 24);
    assert.deepStrictEqual(chunk, new Uint8Array(24).fill(9));
    core.checkInvariants();
  });
});
