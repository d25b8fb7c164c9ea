// What the runtime does with an InstallSnapshot chunk the core sends (agent/runtime/peer-rpcs.ts),
// for the core test harnesses: the core names where the chunk lies in its persisted snapshot, and
// the bytes are read from what the node persisted. Null when it persisted another snapshot since.
import { strict as assert } from 'node:assert';
import type { CoreOutboundRequest, CoreRequest, Ready, SnapshotRef } from '../../../agent/core/ready.js';
import { snapshotRef } from '../../../agent/core/ready.js';
import type { Snapshot } from '../../../contracts/log.js';

/** The request as it goes on the wire, its chunk read from `persisted`; null when that is another snapshot. */
export function onTheWire(request: CoreOutboundRequest, persisted: Snapshot | null): CoreRequest | null {
  if (request.type !== 'InstallSnapshotRequest') return request;
  const { dataBytes, ...fields } = request;
  if (dataBytes === 0) return { ...fields, data: new Uint8Array(0) };
  if (persisted === null || persisted.lastIncludedIndex !== request.lastIncludedIndex) return null;
  return { ...fields, data: persisted.data.slice(request.offset, request.offset + dataBytes) };
}

/** The core's view of a snapshot a test built whole. */
export function refOf(snapshot: Snapshot): SnapshotRef;
export function refOf(snapshot: Snapshot | null): SnapshotRef | null;
export function refOf(snapshot: Snapshot | null): SnapshotRef | null {
  return snapshot === null ? null : snapshotRef(snapshot, snapshot.data.byteLength);
}

/**
 * What the runtime does with the chunks of a snapshot the core receives (agent/runtime/snapshot-receive.ts),
 * for the core test harnesses: each Ready's chunks are written in order into an image begun at
 * offset 0; the Ready that completes the snapshot gives it whole, to persist with the Ready.
 */
export class ReceivedImages {
  private readonly images = new Map<string, { index: number; data: Uint8Array }>();

  /** Writes `ready`'s chunks received by `id`; returns the snapshot the Ready completes, or null. */
  take(id: string, ready: Ready): Snapshot | null {
    for (const chunk of ready.snapshotChunks) {
      if (chunk.offset === 0)
        this.images.set(id, { index: chunk.snapshot.lastIncludedIndex, data: new Uint8Array(chunk.totalBytes) });
      const image = this.images.get(id);
      assert(image?.index === chunk.snapshot.lastIncludedIndex, 'a chunk follows the chunks of its snapshot');
      image.data.set(chunk.data, chunk.offset);
    }
    const snapshot = ready.snapshot;
    if (snapshot === null) return null;
    const image = this.images.get(id);
    assert(image?.index === snapshot.lastIncludedIndex, 'the snapshot completed is the one received');
    this.images.delete(id);
    const { lastIncludedIndex, lastIncludedTerm, configuration } = snapshot;
    return { lastIncludedIndex, lastIncludedTerm, configuration, data: image.data };
  }
}
