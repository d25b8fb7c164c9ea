// Proves the chunked snapshot encoding (agent/kv/snapshot-stream.ts, StateMachine.captureSnapshot):
// - property: for any generated log, any chunk size (1 byte up) and any commands applied after the
//   capture, the chunks joined are byte for byte snapshot() as of the capture, for the KV state
//   machine and for the node state (TrustedStateMachine, whose KV image is measured first); every
//   chunk but the last is exactly the size asked for;
// - values larger than a chunk, multi-byte keys, keys cbor-x encodes (a lone surrogate) and leases
//   come out the same, and a value overwritten or deleted after the capture is still the old one;
// - the captured state decodes (restore) to the state at the capture.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { TrustedStateMachine } from '../../../agent/trust/trusted-state-machine.js';
import type { SnapshotEncoder } from '../../../contracts/state-machine.js';
import { fcParams } from '../../fc-params.js';
import { genEntryArb, toLogEntries } from './arbitraries.js';
import { Driver, bytes, textOf } from './kv-helpers.js';

/**
 * Every chunk of `encoder`, checked to be full but for the last, joined: each is copied before the
 * next call and then overwritten, as a chunk's bytes are valid only until then (SnapshotEncoder.next).
 */
function drain(encoder: SnapshotEncoder, chunkBytes: number): Buffer {
  const chunks: Uint8Array[] = [];
  for (let chunk = encoder.next(chunkBytes); chunk !== null; chunk = encoder.next(chunkBytes)) {
    assert.ok(chunk.byteLength <= chunkBytes, 'a chunk is at most the size asked for');
    if (chunk.byteLength > 0) chunks.push(chunk.slice());
    chunk.fill(0xee);
  }
  chunks.slice(0, -1).forEach((chunk) => assert.equal(chunk.byteLength, chunkBytes, 'only the last chunk is short'));
  return Buffer.concat(chunks);
}

describe('a snapshot captured and encoded a chunk at a time', () => {
  it('is snapshot() as of the capture, whatever the chunk size and whatever is applied after', () => {
    const logArb = fc.array(genEntryArb, { maxLength: 60 });
    fc.assert(
      fc.property(logArb, logArb, fc.integer({ min: 1, max: 700 }), (before, after, chunkBytes) => {
        const sm = new KvStateMachine({ historyRevisionsMax: 8 });
        for (const entry of toLogEntries(before, 1)) sm.apply(entry);
        const expected = Buffer.from(sm.snapshot());
        const encoder = sm.captureSnapshot();
        for (const entry of toLogEntries(after, sm.lastApplied + 1)) sm.apply(entry);
        assert.deepEqual(drain(encoder, chunkBytes), expected);
      }),
      fcParams(200, 'kv snapshot chunks'),
    );
  });

  it('frames the node state the same way, the KV image measured first', () => {
    fc.assert(
      fc.property(fc.array(genEntryArb, { maxLength: 40 }), fc.integer({ min: 1, max: 500 }), (log, chunkBytes) => {
        const sm = new TrustedStateMachine(new KvStateMachine({ historyRevisionsMax: 8 }), {
          cluster: 'c1',
          genesisAdminKey: null,
        });
        for (const entry of toLogEntries(log, 1)) sm.apply(entry);
        const expected = Buffer.from(sm.snapshot());
        const encoder = sm.captureSnapshot();
        for (const entry of toLogEntries(log, sm.kv.lastApplied + 1)) sm.apply(entry);
        const first = encoder.next(chunkBytes);
        assert.equal(first?.byteLength, 0, 'the first step encodes the parts, no image bytes');
        assert.equal(encoder.totalBytes?.(), null, 'the size is not known before the entries are measured');
        assert.deepEqual(drain(encoder, chunkBytes), expected);
        assert.equal(encoder.totalBytes?.(), expected.byteLength, 'the size measured is the image size');
      }),
      fcParams(100, 'node state chunks'),
    );
  });

  it('keeps large values, odd keys and leases, and the values as they were at the capture', () => {
    const driver = new Driver(new KvStateMachine());
    assert.equal(driver.put('é€😀', 'x'.repeat(60_000)).type, 'put');
    driver.put('lone\uD800surrogate', 'y');
    for (let i = 0; i < 300; i += 1) driver.put(`k${i}`, 'é'.repeat(i * 7));
    // A lease's id is the index of the command that granted it.
    const lease = driver.sm.lastApplied + 1;
    assert.notEqual(driver.run({ op: 'lease-grant', ttlMs: 10_000 }).type, 'error');
    const leased = driver.run({ op: 'put', key: 'leased', value: bytes('z'), lease, returnPrevious: false });
    assert.notEqual(leased.type, 'error');
    assert.equal(driver.sm.leases().length, 1);
    const expected = Buffer.from(driver.sm.snapshot());
    const captured = driver.sm.lastApplied;
    const encoder = driver.sm.captureSnapshot();
    driver.put('é€😀', 'changed');
    driver.run({ op: 'delete', key: 'k5', returnPrevious: false });
    for (let i = 0; i < 50; i += 1) driver.put(`new${i}`, 'w'.repeat(3000));
    const image = drain(encoder, 4096);
    assert.deepEqual(image, expected);

    const restored = new Driver(new KvStateMachine());
    restored.sm.restore({ lastIncludedIndex: captured, lastIncludedTerm: 1, configuration: EMPTY_CONFIG }, image);
    assert.ok(textOf(restored.get('é€😀')) === 'x'.repeat(60_000), 'the value overwritten after the capture');
    assert.equal(textOf(restored.get('k5')), 'é'.repeat(35));
    assert.equal(textOf(restored.get('new0')), null);
  });
});

const EMPTY_CONFIG = { voters: [], learners: [], oldVoters: null, members: [] };
