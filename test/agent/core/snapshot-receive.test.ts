// Proves how a follower's core receives InstallSnapshot chunks (follower.ts): each chunk accepted
// goes out in the next Ready as a copy (the transport may reuse its buffer), at its offset, and
// the core never holds the image (issue 17); the Ready of the last chunk names the snapshot, with
// its size, for the runtime to commit and restore. A chunk that does not follow on is answered
// with where to resume and not handed out; a transfer dropped by a new term starts again at 0;
// a transfer larger than snapshotBytesMax is refused with a warning and bytesStored 0.
import { strict as assert } from 'node:assert';
import { RaftCore } from '../../../agent/core/raft.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { InstallSnapshotRequest } from '../../../contracts/messages.js';
import type { Ready, SnapshotRef } from '../../../agent/core/ready.js';
import { SeededPrng } from '../../../contracts/prng.js';
import { TEST_OPTIONS } from './core-cluster.js';

const configuration = simpleConfiguration(['a', 'b', 'c']);

function follower(snapshotBytesMax: number): RaftCore {
  return new RaftCore(
    { prng: new SeededPrng(1) },
    { ...TEST_OPTIONS, id: 'a', snapshotBytesMax },
    { hardState: { currentTerm: 1, votedFor: null }, snapshot: null, entries: [], bootstrap: configuration },
  );
}

function chunk(offset: number, data: Uint8Array, totalBytes: number): InstallSnapshotRequest {
  return {
    type: 'InstallSnapshotRequest',
    term: 1,
    leaderId: 'b',
    lastIncludedIndex: 9,
    lastIncludedTerm: 1,
    offset,
    data,
    done: offset + data.byteLength === totalBytes,
    totalBytes,
    configuration,
  };
}

/** Steps `request` into `core` and takes the Ready: the chunks it hands out and the answers it gives. */
function deliver(core: RaftCore, request: InstallSnapshotRequest): { ready: Ready; answers: number[] } {
  assert.ok(core.step({ kind: 'request', from: 'b', replyTo: 1, request }).ok);
  const ready = core.takeReady();
  const answers = ready.messages.flatMap((m) =>
    m.kind === 'response' && m.response.type === 'InstallSnapshotResponse' ? [m.response.bytesStored] : [],
  );
  core.advance(ready);
  return { ready, answers };
}

describe('a follower receiving a snapshot', () => {
  it('hands each chunk out in order, as a copy, and names the snapshot with the last one', () => {
    const core = follower(1 << 20);
    const image = new Uint8Array(2500).map((_, i) => (i * 7) & 0xff);
    const written = new Uint8Array(2500);
    const stored: number[] = [];
    const completed: SnapshotRef[] = [];
    for (let offset = 0; offset < image.byteLength; offset += 1000) {
      const data = image.slice(offset, offset + 1000);
      const { ready, answers } = deliver(core, chunk(offset, data, 2500));
      data.fill(0); // the transport may reuse the buffer a chunk arrived in
      stored.push(...answers);
      assert.equal(ready.snapshotChunks.length, 1);
      for (const received of ready.snapshotChunks) {
        assert.equal(received.offset, offset);
        assert.equal(received.totalBytes, 2500);
        assert.equal(received.snapshot.lastIncludedIndex, 9);
        assert.equal(received.done, offset + 1000 >= 2500);
        written.set(received.data, received.offset);
      }
      if (ready.snapshot !== null) completed.push(ready.snapshot);
    }
    assert.deepStrictEqual(written, image);
    assert.deepEqual(stored, [1000, 2000, 2500]);
    assert.deepEqual(
      completed.map((s) => [s.lastIncludedIndex, s.lastIncludedTerm, s.dataBytes]),
      [[9, 1, 2500]],
    );
    assert.equal(core.getSnapshotIndex(), 9);
    assert.equal(core.isReceivingSnapshot(9, 1), false);
  });

  it('hands out no chunk that does not follow on, and answers where to resume', () => {
    const core = follower(1 << 20);
    deliver(core, chunk(0, new Uint8Array(1000), 2500));
    assert.ok(core.isReceivingSnapshot(9, 1));
    for (const offset of [0, 2000]) {
      // A duplicate of the first chunk restarts nothing (it is the same snapshot); a gap is refused.
      const { ready, answers } = deliver(core, chunk(offset, new Uint8Array(500), 2500));
      assert.deepEqual(answers, [1000]);
      assert.equal(ready.snapshotChunks.length, 0);
    }
  });

  it('drops a transfer when the term changes: the next one starts again at offset 0', () => {
    const core = follower(1 << 20);
    deliver(core, chunk(0, new Uint8Array(1000), 2500));
    assert.ok(core.isReceivingSnapshot(9, 1));
    const { ready, answers } = deliver(core, { ...chunk(1000, new Uint8Array(1000), 2500), term: 2 });
    assert.equal(core.isReceivingSnapshot(9, 1), false);
    assert.deepEqual(answers, [0]);
    assert.equal(ready.snapshotChunks.length, 0);
  });

  it('refuses a transfer larger than snapshotBytesMax, with a warning and bytesStored 0', () => {
    const core = follower(2000);
    const { ready, answers } = deliver(core, chunk(0, new Uint8Array(1000), 2500));
    assert.deepEqual(answers, [0]);
    assert.ok(ready.events.some((e) => e.kind === 'warning' && e.message.startsWith('refused a snapshot of 2500')));
    assert.equal(ready.snapshotChunks.length, 0);
    assert.equal(ready.snapshot, null);
    core.checkInvariants();
  });
});
