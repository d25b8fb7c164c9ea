/**
 * The largest snapshot image (snapshot.ts) a KV state within `options` can encode to: what the
 * storage engine must accept as a snapshot, so that a store its own limits let grow is always
 * snapshotted. The engines refused images above a fixed 64 MiB while the default limits let the
 * store alone hold 64 MiB of keys and values: a cluster written full (64 clients x 64 keys of
 * 64 KiB) took a snapshot of 71.7 MB, the engine refused it as STORAGE_FULL, and the members
 * stopped, then stopped again at each restart on replaying the same log.
 *
 * The figure is an upper bound, not an estimate: every CBOR head and integer is counted at CBOR's
 * longest (9 bytes), and every part at its own limit at once.
 * - Keys: at most keyCountMax entries, their key and value bytes at most dataBytesMax (store.ts).
 * - Sessions: at most sessionCountMax, each a client id of at most clientIdBytesMax bytes and
 *   at most sessionResponsesMax responses, all responses' bytes at most sessionBytesMax.
 * - Request ids: at most requestIdsMax, each 16 bytes and a client id.
 * - History: at most historyBytesMax key and value bytes in at most historyRevisionsMax
 *   revisions (history.ts). A change has a non-empty key, so there are at most historyBytesMax
 *   changes, and a revision holds at most TXN_OPS_MAX changes (a transaction) or leaseKeysMax
 *   (a lease that ends deletes its keys at one revision). Tiny changes cost more framing than
 *   bytes: under the default limits this part's bound is about 56 MB, most of it framing.
 * - Leases: at most leaseCountMax, three integers each.
 */
import type { KvOptions } from './options.js';
import { TXN_OPS_MAX } from './txn.js';
import { REQUEST_ID_BYTES } from './request-ids.js';

/** CBOR's longest head (RFC 8949 §3): also the most an integer takes (cbor-x writes larger ones as float64). */
export const CBOR_HEAD_BYTES_MAX = 9;
const H = CBOR_HEAD_BYTES_MAX;
/** The image's top-level items but its lists: the array head, format, version, indexes, quota, alarm. */
const TOP_BYTES_MAX = 256;

/** An upper bound on the bytes of the snapshot image of any KV state within `options`; see the module comment. */
export function kvSnapshotBytesMax(options: KvOptions): number {
  // [key, value, revision, lease]: the tuple's head, two heads and two integers.
  const keys = options.dataBytesMax + options.keyCountMax * (1 + 4 * H);
  // [clientId, floor, lastUsedMs, [[seq, response], ...]] and each [seq, response].
  const sessions =
    options.sessionCountMax * (1 + H + options.clientIdBytesMax + 3 * H) +
    options.sessionCountMax * options.sessionResponsesMax * (1 + 2 * H) +
    options.sessionBytesMax;
  // [requestId, clientId, seq, usedMs].
  const requestIds = options.requestIdsMax * (1 + H + REQUEST_ID_BYTES + H + options.clientIdBytesMax + 2 * H);
  // [revision, key, value | null]: at most one change per history byte, and per revision the most one entry makes.
  const changesPerRevision = Math.max(TXN_OPS_MAX, options.leaseKeysMax);
  const changes = Math.min(options.historyBytesMax, options.historyRevisionsMax * changesPerRevision);
  // Each change's tuple head, revision and two heads at their longest; or, tighter for tiny changes, the two heads
  // at their shortest (1 byte) plus up to 8 more for a key or value of 24 bytes or more, at most a third of those.
  const history =
    options.historyBytesMax +
    Math.min(changes * (1 + 3 * H), changes * (1 + H + 2) + Math.ceil(options.historyBytesMax / 3));
  // [id, ttlMs, refreshIndex].
  const leases = options.leaseCountMax * (1 + 3 * H);
  return TOP_BYTES_MAX + keys + sessions + requestIds + history + leases;
}
