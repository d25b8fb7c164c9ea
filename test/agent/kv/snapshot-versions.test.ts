// Proves that a snapshot a later coraft wrote, with more items than any version this build knows,
// is refused as a later version (CODEC_VERSION, naming the version and the member to upgrade),
// not as a damaged one: the key-value image, the trust image and the node state that holds both.
// A member of an earlier version meets such a snapshot when a newer leader sends it one during a
// rolling upgrade (deploy/README.md, "Upgrading a running cluster").
import { strict as assert } from 'node:assert';
import { Encoder } from 'cbor-x';
import { decodeKvSnapshot, KV_SNAPSHOT_FORMAT, KV_SNAPSHOT_VERSION } from '../../../agent/kv/snapshot.js';
import {
  decodeNodeState,
  decodeTrustImage,
  NODE_STATE_FORMAT,
  TRUST_IMAGE_FORMAT,
} from '../../../agent/trust/trust-codec.js';

const raw = new Encoder({ mapsAsObjects: true, useRecords: false });

/** `[format, version, ...]` with `items` items in all, the ones after the version zeros. */
function image(format: string, version: number, items: number): Uint8Array {
  return raw.encode([format, version, ...Array.from({ length: items - 2 }, () => 0)]);
}

const later = /version \d+ is not supported; expected .*\(a later version of coraft wrote it: upgrade this member\)$/;

describe('snapshots of a later version', () => {
  it('a key-value image with more items than this version writes is refused as a later version', () => {
    const next = KV_SNAPSHOT_VERSION + 1;
    assert.throws(() => decodeKvSnapshot(image(KV_SNAPSHOT_FORMAT, next, 14)), {
      code: 'CODEC_VERSION',
      message: later,
    });
    assert.throws(() => decodeKvSnapshot(image(KV_SNAPSHOT_FORMAT, next, 40)), {
      code: 'CODEC_VERSION',
      message: later,
    });
  });

  it('a trust image and a node state of version 2 are refused as a later version, whatever their items', () => {
    assert.throws(() => decodeTrustImage(image(TRUST_IMAGE_FORMAT, 2, 10)), { code: 'CODEC_VERSION', message: later });
    assert.throws(() => decodeTrustImage(image(TRUST_IMAGE_FORMAT, 2, 8)), { code: 'CODEC_VERSION', message: later });
    assert.throws(() => decodeNodeState(image(NODE_STATE_FORMAT, 2, 5)), { code: 'CODEC_VERSION', message: later });
    assert.throws(() => decodeNodeState(image(NODE_STATE_FORMAT, 2, 4)), { code: 'CODEC_VERSION', message: later });
  });

  it('a damaged image of a known version is still refused as damaged, with no hint to upgrade', () => {
    const damaged = { code: 'CODEC_MALFORMED' };
    assert.throws(() => decodeKvSnapshot(image(KV_SNAPSHOT_FORMAT, KV_SNAPSHOT_VERSION, 14)), damaged);
    assert.throws(() => decodeTrustImage(image(TRUST_IMAGE_FORMAT, 1, 10)), damaged);
    assert.throws(() => decodeNodeState(image(NODE_STATE_FORMAT, 1, 5)), damaged);
  });
});
