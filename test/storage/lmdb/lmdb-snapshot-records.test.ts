// Proves that the streaming snapshot writer (storage/lmdb/lmdb-snapshot-stream.ts) fills a record
// again only once the transaction that stored it ended: its slot lane is faked here so that each
// transaction runs only when the test lets it, one per turn of the event loop, well after the
// writer handed it records; the records stored, joined, must be the image, from chunks lent out of
// one buffer that is overwritten after every write (SnapshotWriter.write).
import { strict as assert } from 'node:assert';
import type { SnapshotSlot } from '../../../storage/lmdb/lmdb-records.js';
import { SNAPSHOT_RECORD_BYTES } from '../../../storage/lmdb/lmdb-snapshot.js';
import type { MetaWriter } from '../../../storage/lmdb/lmdb-snapshot.js';
import type { SnapshotSlots } from '../../../storage/lmdb/lmdb-snapshot-slots.js';
import { StreamingSnapshotWriter } from '../../../storage/lmdb/lmdb-snapshot-stream.js';
import type { StreamHost } from '../../../storage/lmdb/lmdb-snapshot-stream.js';

/** A slot lane whose transactions wait until {@link SlowLane.runOne} runs them, in order. */
class SlowLane {
  readonly stored = new Map<string, Uint8Array>();
  private readonly waiting: (() => void)[] = [];

  run(action: (meta: MetaWriter) => void): Promise<void> {
    const meta = {
      putSync: (key: string, value: Uint8Array) => this.stored.set(key, value.slice()),
    } as unknown as MetaWriter;
    return new Promise((resolve) => this.waiting.push(() => (action(meta), resolve())));
  }

  /** Runs the oldest waiting transaction; false when none waits. */
  runOne(): boolean {
    const next = this.waiting.shift();
    next?.();
    return next !== undefined;
  }
}

describe('streaming snapshot writer: records filled again', () => {
  it('fills a record again only after the transaction that stored it ended', async () => {
    const lane = new SlowLane();
    const slots = { free: (): SnapshotSlot => 1, run: lane.run.bind(lane), drop: () => undefined };
    let switched = false;
    const host: StreamHost = {
      slots: slots as unknown as SnapshotSlots,
      snapshotBytesMax: 64 * 1024 * 1024,
      switchTo: () => ((switched = true), Promise.resolve()),
      ended: () => undefined,
    };
    const image = new Uint8Array(30 * SNAPSHOT_RECORD_BYTES + 11);
    for (let i = 0; i < image.byteLength; i += 1) image[i] = (i * 7 + (i >>> 18)) & 0xff;
    const writer = new StreamingSnapshotWriter(1, host, image.byteLength);
    let finished = false;
    const writing = (async () => {
      const lent = new Uint8Array(100_003);
      for (let at = 0; at < image.byteLength; at += lent.byteLength) {
        const chunk = image.subarray(at, at + lent.byteLength);
        lent.set(chunk);
        await writer.write(lent.subarray(0, chunk.byteLength));
        lent.fill(0xee);
      }
      assert.equal(await writer.commit(), true);
      finished = true;
    })();
    while (!finished) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      lane.runOne();
    }
    await writing;
    assert.ok(switched, 'the commit switched to the image');
    const keys = [...lane.stored.keys()].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    assert.equal(keys.length, 31);
    const joined = Buffer.concat(keys.map((key) => lane.stored.get(key) ?? new Uint8Array(0)));
    assert.ok(Buffer.from(image).equals(joined), 'the records stored are the image');
  });
});
