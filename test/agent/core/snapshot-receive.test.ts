// Proves how a follower's core receives InstallSnapshot chunks (follower.ts): the chunks are
// copied in order into one image handed out whole in a Ready, and a transfer whose size the
// system cannot allocate (a leader that claims an image beyond the memory there is, within
// snapshotBytesMax) is refused with a warning and bytesStored 0, instead of the node crashing.
import { strict as assert } from 'node:assert';
import { RaftCore } from '../../../agent/core/raft.js';
import { simpleConfiguration } from '../../../agent/core/configuration.js';
import type { InstallSnapshotRequest } from '../../../contracts/messages.js';
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

describe('a follower receiving a snapshot', () => {
  it('copies the chunks in order into one image and hands it out whole', () => {
    const core = follower(1 << 20);
    const image = new Uint8Array(2500).map((_, i) => (i * 7) & 0xff);
    const stored: number[] = [];
    for (let offset = 0; offset < image.byteLength; offset += 1000) {
      const data = image.slice(offset, offset + 1000);
      assert.ok(core.step({ kind: 'request', from: 'b', replyTo: offset + 1, request: chunk(offset, data, 2500) }).ok);
      data.fill(0); // the transport may reuse the buffer a chunk arrived in
      const ready = core.takeReady();
      for (const m of ready.messages)
        if (m.kind === 'response' && m.response.type === 'InstallSnapshotResponse') stored.push(m.response.bytesStored);
      if (ready.snapshot !== null) assert.deepStrictEqual(ready.snapshot.data, image);
      core.advance(ready);
    }
    assert.deepEqual(stored, [1000, 2000, 2500]);
    assert.equal(core.getSnapshotIndex(), 9);
  });

  it('refuses a transfer whose image cannot be allocated, with a warning and bytesStored 0', () => {
    const huge = 2 ** 50;
    const core = follower(huge);
    assert.ok(core.step({ kind: 'request', from: 'b', replyTo: 1, request: chunk(0, new Uint8Array(10), huge) }).ok);
    const ready = core.takeReady();
    const answers = ready.messages.flatMap((m) =>
      m.kind === 'response' && m.response.type === 'InstallSnapshotResponse' ? [m.response.bytesStored] : [],
    );
    assert.deepEqual(answers, [0]);
    assert.ok(ready.events.some((e) => e.kind === 'warning' && e.message.startsWith(`refused a snapshot of ${huge}`)));
    assert.equal(ready.snapshot, null);
    core.advance(ready);
    core.checkInvariants();
  });
});
