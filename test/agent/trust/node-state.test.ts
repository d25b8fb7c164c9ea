// Proves the node-state snapshot encoding (agent/trust/trust-codec.ts `encodeNodeState`): framing
// the KV image, given whole or as its pieces, gives exactly the bytes of cbor-x's own encoding of
// ['coraft-state', 1, kv, trust] for image sizes across the CBOR head sizes (23/24, 255/256,
// 65,535/65,536 bytes), and decodes back; and that taking a replica's snapshot raises the
// process's peak resident memory by at most 2.25 times the image (a replica holding 32 MiB of
// values, in a process of its own with the unit's malloc settings): encoding the image in one
// cbor-x call, then again inside the node state, raised it by four times the image.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Encoder } from 'cbor-x';
import { UNIT_MALLOC_ENV } from '../../../agent/fleet/memory-sizing.js';
import {
  NODE_STATE_FORMAT,
  decodeNodeState,
  encodeNodeState,
  splitStoredNodeState,
} from '../../../agent/trust/trust-codec.js';
import { storedImageOf } from '../kv/kv-helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const cbor = new Encoder({ mapsAsObjects: true, useRecords: false });
const bytes = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);

describe('node state encoding', () => {
  for (const length of [0, 1, 23, 24, 255, 256, 65_535, 65_536, 300_000]) {
    it(`frames a ${length}-byte KV image as cbor-x encodes it, whole or in pieces`, () => {
      const kv = bytes(length, 5);
      const trust = bytes(length % 300, 6);
      const expected = Buffer.from(cbor.encode([NODE_STATE_FORMAT, 1, kv, trust]));
      assert.deepEqual(Buffer.from(encodeNodeState(kv, trust)), expected);
      const cut = [kv.subarray(0, length >>> 1), bytes(0, 0), kv.subarray(length >>> 1)];
      assert.deepEqual(Buffer.from(encodeNodeState(cut, trust)), expected);
      const split = decodeNodeState(expected);
      assert.ok(split !== null);
      assert.deepEqual(Buffer.from(split.kv), kv);
      assert.deepEqual(Buffer.from(split.trust), trust);
      // The same, read from storage in place: the KV image as a range, the trust image a copy.
      const stored = splitStoredNodeState(storedImageOf(expected));
      assert.ok(stored !== null);
      const kvRead = new Uint8Array(stored.kv.byteLength);
      stored.kv.copyTo(0, kvRead);
      assert.deepEqual(Buffer.from(kvRead), kv);
      assert.deepEqual(Buffer.from(stored.trust), trust);
      assert.throws(() => stored.kv.copyTo(1, new Uint8Array(length)), /within the KV image/);
    });
  }

  it('reads in place only a node state framed as encodeNodeState frames it (else the image is read whole)', () => {
    const framed = encodeNodeState(bytes(1000, 5), bytes(40, 6));
    assert.notEqual(splitStoredNodeState(storedImageOf(framed)), null);
    const longer = Buffer.concat([framed, bytes(1, 0)]);
    const otherFormat = Buffer.from(cbor.encode(['coraft-other', 1, bytes(1000, 5), bytes(40, 6)]));
    const kvAlone = Buffer.from(cbor.encode(['coraft-kv', 5, 1, 2]));
    // A 1000-byte string whose head is not in its shortest form (4 bytes of argument).
    const loose = Buffer.concat([framed.subarray(0, 15), Buffer.of(0x5a, 0, 0, 3, 0xe8), framed.subarray(18)]);
    for (const image of [longer, otherFormat, kvAlone, loose, framed.subarray(0, 20), framed.subarray(0, 1030)])
      assert.equal(splitStoredNodeState(storedImageOf(image)), null);
  });

  it("raises the peak resident memory by at most 2.25 times the image when a replica's snapshot is taken", function () {
    this.timeout(120_000);
    const child = spawnSync(
      process.execPath,
      ['--expose-gc', '--import', 'tsx', join(HERE, 'fixtures', 'snapshot-peak-child.ts'), '32'],
      { encoding: 'utf8', env: { ...process.env, ...UNIT_MALLOC_ENV } },
    );
    assert.equal(child.status, 0, child.stderr);
    const figures: unknown = JSON.parse(child.stdout);
    const image = Number(Reflect.get(Object(figures), 'imageBytes'));
    const rise = Number(Reflect.get(Object(figures), 'peakRiseBytes'));
    assert.ok(image > 32 * 1024 * 1024, `the image holds the values (${image} bytes)`);
    assert.ok(
      rise <= 2.25 * image,
      `the snapshot raised the peak by ${rise} bytes, ${(rise / image).toFixed(2)} x the image`,
    );
  });
});
