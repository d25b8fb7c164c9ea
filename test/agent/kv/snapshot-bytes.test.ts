// Proves the one-buffer snapshot encoding (agent/kv/snapshot-bytes.ts, issue 17):
// - property: for any generated log, the KV snapshot written into one buffer is byte for byte the
//   pieces joined (kvSnapshotPieces), and the node state framed around it (encodeNodeStateParts)
//   is byte for byte encodeNodeState of those pieces, with small, multi-byte and large values;
// - an encoding done after a snapshot keeps its bytes through the next snapshot (the scratch
//   buffer the entries are encoded into is never handed to a later encoding);
// - taking a snapshot of an 8 MiB store allocates about its size once: right after snapshot()
//   (and encodeNodeStateParts, the agent's) returns, before any collection, the array buffers
//   grew by less than 1.5 times the snapshot (encoding the entries as pieces and joining them
//   grew them by 3.5 times: the encoder's chunks holding the pieces, and the joined copy).
import { strict as assert } from 'node:assert';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Encoder } from 'cbor-x';
import * as fc from 'fast-check';
import { encodeCbor } from '../../../agent/kv/cbor-output.js';
import { kvSnapshotPieces } from '../../../agent/kv/snapshot.js';
import { encodeKvSnapshotParts } from '../../../agent/kv/snapshot-bytes.js';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { encodeNodeState, encodeNodeStateParts } from '../../../agent/trust/trust-codec.js';
import { fcParams } from '../../fc-params.js';
import { genEntryArb, toLogEntries } from './arbitraries.js';
import { Driver } from './kv-helpers.js';

setFlagsFromString('--expose-gc');
const collect: unknown = runInNewContext('gc');

/**
 * A full collection, so that the array buffers counted before an encoding are live ones: the
 * buffers an earlier snapshot left behind would otherwise count as this one's whenever no
 * collection happens to run in between.
 */
function collectGarbage(): void {
  if (typeof collect === 'function') collect();
}

describe('a KV snapshot written into one buffer', () => {
  it('is the pieces joined, and frames into the same node state, for any generated log', () => {
    fc.assert(
      fc.property(fc.array(genEntryArb, { maxLength: 60 }), fc.uint8Array({ maxLength: 300 }), (generated, trust) => {
        const sm = new KvStateMachine({ historyRevisionsMax: 8 });
        for (const entry of toLogEntries(generated, 1)) sm.apply(entry);
        const parts = sm.snapshotParts();
        const joined = Buffer.concat(kvSnapshotPieces(parts));
        assert.deepEqual(Buffer.from(encodeKvSnapshotParts(parts)), joined);
        assert.deepEqual(Buffer.from(sm.snapshot()), joined);
        const framed = Buffer.from(encodeNodeState(kvSnapshotPieces(parts), trust));
        assert.deepEqual(Buffer.from(encodeNodeStateParts(parts, trust)), framed);
      }),
      fcParams(200, 'kv snapshot bytes'),
    );
  });

  it('holds multi-byte keys and values larger than the scratch buffer', () => {
    const driver = new Driver(new KvStateMachine());
    driver.put('é€😀', 'x'.repeat(100_000));
    for (let i = 0; i < 300; i += 1) driver.put(`k${i}`, 'é'.repeat(i * 7));
    const parts = driver.sm.snapshotParts();
    assert.deepEqual(Buffer.from(driver.sm.snapshot()), Buffer.concat(kvSnapshotPieces(parts)));
  });

  it('never lets a later encoding share its scratch buffer', () => {
    const driver = new Driver(new KvStateMachine());
    for (let i = 0; i < 50; i += 1) driver.put(`k${i}`, 'v'.repeat(500));
    driver.sm.snapshot();
    const kept = encodeCbor(new Encoder({ useRecords: false }), 'a'.repeat(200));
    const copy = Buffer.from(kept);
    driver.sm.snapshot();
    assert.deepEqual(Buffer.from(kept), copy);
  });

  it('allocates a snapshot of an 8 MiB store about once', () => {
    const driver = new Driver(new KvStateMachine({ keyCountMax: 10_000 }));
    for (let i = 0; i < 2048; i += 1) driver.put(`key-${String(i).padStart(5, '0')}`, 'v'.repeat(4096));
    driver.sm.snapshot(); // warm-up: first-use allocations
    collectGarbage();
    const before = process.memoryUsage().arrayBuffers;
    const bytes = driver.sm.snapshot();
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.ok(bytes.byteLength > 8 * 1024 * 1024);
    assert.ok(grown < 1.5 * bytes.byteLength, `array buffers grew by ${grown} for a ${bytes.byteLength}-byte snapshot`);
    const parts = driver.sm.snapshotParts();
    collectGarbage();
    const beforeFramed = process.memoryUsage().arrayBuffers;
    const framed = encodeNodeStateParts(parts, new Uint8Array(100));
    const grownFramed = process.memoryUsage().arrayBuffers - beforeFramed;
    assert.ok(grownFramed < 1.5 * framed.byteLength, `${grownFramed} for a ${framed.byteLength}-byte node state`);
  });
});
