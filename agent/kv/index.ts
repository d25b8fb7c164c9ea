/**
 * The replicated key-value store: the state machine, its options, and the encoding of the
 * commands, queries and results that clients exchange with it.
 */
export { KvStateMachine } from './state-machine.js';
export type { KvStateMachineDeps } from './state-machine.js';
export type { KvStats } from './stats.js';
export { DEFAULT_KV_OPTIONS, resolveKvOptions, validateKvOptions } from './options.js';
export type { KvOptions } from './options.js';
export {
  decodeKvCommand,
  decodeKvQuery,
  decodeKvResult,
  encodeKvCommand,
  encodeKvQuery,
  encodeKvResult,
} from './encoding.js';
export { CBOR_VIEW_BYTES_MAX, cborHead, encodeCbor } from './cbor-output.js';
export {
  KV_SNAPSHOT_FORMAT,
  KV_SNAPSHOT_VERSION,
  encodeKvEntry,
  kvSnapshotParts,
  kvSnapshotPieces,
} from './snapshot.js';
export type { KvEntryColumns, KvSnapshotParts, KvSnapshotSource } from './snapshot.js';
export { kvSnapshotBytesBound, writeKvSnapshot } from './snapshot-bytes.js';
export {
  BytesPiece,
  ImageChunks,
  KvSnapshotPiece,
  MEASURE_ENTRIES_PER_STEP,
  wholeImageChunks,
} from './snapshot-stream.js';
export { KV_ERROR_CODES } from './types.js';
export { keyLengthProblem } from './store.js';
export { LIST_BYTES_MAX, LIST_ITEMS_MAX, operationKeys } from './execute.js';
export { TXN_OPS_MAX } from './txn.js';
export { NOSPACE_ALARM, QUOTA_KEY_OVERHEAD_BYTES, decodeQuotaCommand, encodeQuotaCommand } from './quota.js';
export { QuotaKeeper, spaceStatusOf } from './quota-keeper.js';
export { REQUEST_ID_BYTES } from './request-ids.js';
export type * from './types.js';
