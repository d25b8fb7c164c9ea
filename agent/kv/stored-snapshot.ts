/**
 * A KV snapshot read from storage (issue 17): the image of a snapshot the leader sent is never held
 * whole by the follower that restores it (KvStateMachine.restoreFrom).
 */
import type { StoredImage } from '../../contracts/persistence.js';
import { KV_SNAPSHOT_FORMAT, decodeKvSnapshotGeneral } from './snapshot.js';
import type { KvSnapshotImage } from './snapshot-image.js';
import { readStoredKvSnapshot } from './snapshot-read.js';

/**
 * decodeKvSnapshot of a stored image (StoredImage), read a window at a time (snapshot-read.ts), so
 * that the image is never held whole; its byte strings are then copies of their own (`owned`). An
 * image that reader does not read is read whole (`data`) and decoded by cbor-x's general path.
 */
export function decodeStoredKvSnapshot(image: StoredImage): {
  readonly image: KvSnapshotImage;
  readonly data: Uint8Array;
  readonly owned: boolean;
} {
  const read = readStoredKvSnapshot(image, KV_SNAPSHOT_FORMAT);
  if (read !== null) return { image: read, data: new Uint8Array(0), owned: true };
  const data = new Uint8Array(image.byteLength);
  image.copyTo(0, data);
  // The fast reader refuses exactly what the windowed one refused (test/agent/kv/snapshot-read.test.ts).
  return { image: decodeKvSnapshotGeneral(data), data, owned: false };
}
