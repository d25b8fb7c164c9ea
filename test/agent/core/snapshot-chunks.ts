// What the runtime does with an InstallSnapshot chunk the core sends (agent/runtime/peer-rpcs.ts),
// for the core test harnesses: the core names where the chunk lies in its persisted snapshot, and
// the bytes are read from what the node persisted. Null when it persisted another snapshot since.
import type { CoreOutboundRequest, CoreRequest, SnapshotRef } from '../../../agent/core/ready.js';
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
