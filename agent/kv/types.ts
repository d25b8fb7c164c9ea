/**
 * The data of the key-value state machine: the commands clients propose through the log, the
 * queries they answer from local state, and the results of both. Keys are non-empty strings
 * (stored and limited as UTF-8), values are bytes. Every value written carries a revision: the
 * log index of the entry that last wrote it (etcd's mod_revision).
 *
 * Client sessions (Raft thesis §6.3): a command may carry a `session`: a client id, the
 * command's sequence number, and the client's watermark (every sequence below it is finished
 * for the client). Clients number their commands 1, 2, 3, ... (gaps are allowed). A client with
 * one command outstanding at a time omits the watermark (it is then the sequence itself, so a
 * lower sequence is stale); the local endpoint's implicit session, which carries concurrent
 * writes, sends it. The state machine runs each sequence of a session at most once (see
 * sessions.ts): a retry gets the first response, a sequence below the watermarks applied is
 * refused as stale, and a command of a session the state machine does not know (never seen,
 * expired, or evicted) runs only if its watermark is 1; otherwise it is refused with
 * KV_SESSION_EXPIRED, since it may be the retry of a command whose record was lost. A client that
 * sees KV_SESSION_EXPIRED starts over with a new client id.
 */

/** A key's value and its revision: the log index of the entry that last wrote it. */
export interface KvVersioned {
  readonly value: Uint8Array;
  /** Log index of the entry that last wrote the key; >= 1. */
  readonly revision: number;
}

/** The client session a command belongs to, for exactly-once execution. */
export interface KvSession {
  /** Non-empty; at most `KvOptions.clientIdBytesMax` UTF-8 bytes. */
  readonly clientId: string;
  /** The client's sequence number of this command: a positive safe integer. */
  readonly seq: number;
  /**
   * The client's watermark: every sequence below it is finished (answered, or abandoned and
   * never sent again). An integer from 1 to `seq`. Absent: `seq` (one command outstanding).
   */
  readonly ackedBelow?: number;
}

/**
 * Writes `value` at `key`. With `returnPrevious`, the result carries the value it replaced. With
 * `lease` (a lease id, leases.ts), the key is attached to that lease and deleted with it; without,
 * the key is attached to no lease (a put detaches it from the one it had).
 */
export interface KvPutOperation {
  readonly op: 'put';
  readonly key: string;
  readonly value: Uint8Array;
  readonly returnPrevious: boolean;
  readonly lease?: number;
}

/** Deletes `key`. With `returnPrevious`, the result carries the value it removed. */
export interface KvDeleteOperation {
  readonly op: 'delete';
  readonly key: string;
  readonly returnPrevious: boolean;
}

/**
 * Writes `value` at `key` only if the key's revision is `expectedRevision`; 0 means "only if the
 * key is absent" (create).
 */
export interface KvCasOperation {
  readonly op: 'cas';
  readonly key: string;
  readonly expectedRevision: number;
  readonly value: Uint8Array;
  /** The lease the key is attached to when the write happens (as for a put); absent: none. */
  readonly lease?: number;
}

/** Reads `key`; as a command, the read is ordered through the log. */
export interface KvGetOperation {
  readonly op: 'get';
  readonly key: string;
}

/** A condition of a transaction on one key: its revision (0: absent), its value, or its absence. */
export type KvCompare =
  | { readonly key: string; readonly target: 'revision'; readonly revision: number }
  | { readonly key: string; readonly target: 'value'; readonly value: Uint8Array }
  | { readonly key: string; readonly target: 'absent' };

/** An operation of a transaction's branch. */
export type KvTxnOp =
  | { readonly op: 'put'; readonly key: string; readonly value: Uint8Array; readonly lease?: number }
  | { readonly op: 'delete'; readonly key: string }
  | { readonly op: 'get'; readonly key: string };

/**
 * A transaction (txn.ts): when every compare holds, runs `success`, else `failure`, in order, as
 * the one change of its log entry: all of the branch or, when one operation is refused, none.
 * At most TXN_OPS_MAX compares and TXN_OPS_MAX operations per branch.
 */
export interface KvTxnOperation {
  readonly op: 'txn';
  readonly compare: readonly KvCompare[];
  readonly success: readonly KvTxnOp[];
  readonly failure: readonly KvTxnOp[];
}

/** Grants a lease of `ttlMs`; its id is the log index of the command (leases.ts). */
export interface KvLeaseGrantOperation {
  readonly op: 'lease-grant';
  readonly ttlMs: number;
}

/**
 * Keeps a lease alive: records the command's index as the lease's refresh index, from which the
 * leader counts its TTL down again (lease-keeper.ts).
 */
export interface KvLeaseKeepaliveOperation {
  readonly op: 'lease-keepalive';
  readonly id: number;
}

/** Revokes a lease: deletes every key attached to it, at this command's index, and forgets it. */
export interface KvLeaseRevokeOperation {
  readonly op: 'lease-revoke';
  readonly id: number;
}

/**
 * The leader's expiry of a lease whose countdown ran out: a revoke that only takes effect if the
 * lease was not refreshed since (its refresh index is still `refreshIndex`), so an expiry
 * proposed before a keepalive and ordered after it in the log does nothing.
 */
export interface KvLeaseExpireOperation {
  readonly op: 'lease-expire';
  readonly id: number;
  readonly refreshIndex: number;
}

/** Every lease operation. */
export type KvLeaseOperation =
  KvLeaseGrantOperation | KvLeaseKeepaliveOperation | KvLeaseRevokeOperation | KvLeaseExpireOperation;

/** What a command does. */
export type KvOperation =
  KvPutOperation | KvDeleteOperation | KvCasOperation | KvGetOperation | KvTxnOperation | KvLeaseOperation;

/** The fields every command carries besides its operation. */
export interface KvCommandHeader {
  /** The client session, or null to run the command without duplicate detection. */
  readonly session: KvSession | null;
  /**
   * The proposer's clock when it proposed the command, in milliseconds (a non-negative safe
   * integer). The state machine's clock is the largest of these it has applied; it drives
   * session expiry identically on every replica.
   */
  readonly timeMs: number;
  /**
   * The id of the request that carried the command to the cluster (REQUEST_ID_BYTES bytes; only
   * with a session): the local endpoint's hash of the CoAP exchange, so that a retransmission
   * reaching a restarted endpoint is recognized (see request-ids.ts). Absent: none.
   */
  readonly requestId?: Uint8Array;
}

/** A command of the log: an operation plus its header. */
export type KvCommand = KvOperation & KvCommandHeader;

/** A read-only query answered from local state, outside the log. */
export interface KvGetQuery {
  readonly op: 'get';
  readonly key: string;
}

/**
 * Lists the keys that start with `prefix` (every key when empty) and sort after `after` (UTF-16
 * code unit order), at most `limit` of them (1 to LIST_ITEMS_MAX), fewer when their bytes reach
 * LIST_BYTES_MAX.
 */
export interface KvListQuery {
  readonly op: 'list';
  readonly prefix: string;
  readonly after: string | null;
  readonly limit: number;
}

/**
 * The changes after revision `since` (from the history window) to the keys that start with
 * `prefix`, or to `key` alone when `exact`; at most `limit` changes (1 to LIST_ITEMS_MAX), and
 * whole revisions of at most about `bytesMax` key and value bytes (1 to LIST_BYTES_MAX; default
 * LIST_BYTES_MAX; the first revision comes whole even when larger).
 */
export interface KvChangesQuery {
  readonly op: 'changes';
  readonly since: number;
  readonly prefix: string;
  readonly exact: boolean;
  readonly limit: number;
  readonly bytesMax?: number;
}

/** A lease's TTL, refresh index and keys. */
export interface KvLeaseQuery {
  readonly op: 'lease';
  readonly id: number;
}

/** Every query. */
export type KvQuery = KvGetQuery | KvListQuery | KvChangesQuery | KvLeaseQuery;

/** Every error code of a KV result. */
export type KvErrorCode =
  /** The command or query did not decode, or a field had the wrong type or range. */
  | 'KV_MALFORMED'
  /** The key is longer than `keyBytesMax`. */
  | 'KV_KEY_TOO_LONG'
  /** The value is larger than `valueBytesMax`. */
  | 'KV_VALUE_TOO_LARGE'
  /** The write would create a key beyond `keyCountMax`. */
  | 'KV_KEY_COUNT_LIMIT'
  /** The write would store more than `dataBytesMax`. */
  | 'KV_DATA_LIMIT'
  /** The write would leave the store above the cluster's quota (quota.ts): `quota exceeded: N of M bytes`. */
  | 'KV_QUOTA_EXCEEDED'
  /** The client id is longer than `clientIdBytesMax`. */
  | 'KV_CLIENT_ID_TOO_LONG'
  /** The sequence number is below the session's floor (the watermarks applied); the command was not run now. */
  | 'KV_STALE_SEQUENCE'
  /** The session is unknown (expired or evicted) and the sequence is not 1; the command was not run. */
  | 'KV_SESSION_EXPIRED'
  /** A retry of a command that was applied, whose response was too large to keep or is kept no more. */
  | 'KV_RESPONSE_NOT_RETAINED'
  /** The key is under the agent's reserved prefix `.coraft/`; only verified admin entries change agent state. */
  | 'KV_RESERVED_KEY'
  /** The changes asked for are older than the history window; the message says `compacted: oldest revision N`. */
  | 'KV_COMPACTED'
  /** The lease named is not granted (never, or revoked or expired since). */
  | 'KV_LEASE_NOT_FOUND'
  /** A lease limit: leaseCountMax leases, or leaseKeysMax keys on one lease. */
  | 'KV_LEASE_LIMIT'
  /** A lease's TTL is outside leaseTtlMsMin to leaseTtlMsMax. */
  | 'KV_LEASE_TTL';

/** Every KV error code, in a fixed order. */
export const KV_ERROR_CODES: readonly KvErrorCode[] = [
  'KV_MALFORMED',
  'KV_KEY_TOO_LONG',
  'KV_VALUE_TOO_LARGE',
  'KV_KEY_COUNT_LIMIT',
  'KV_DATA_LIMIT',
  'KV_QUOTA_EXCEEDED',
  'KV_CLIENT_ID_TOO_LONG',
  'KV_STALE_SEQUENCE',
  'KV_SESSION_EXPIRED',
  'KV_RESPONSE_NOT_RETAINED',
  'KV_RESERVED_KEY',
  'KV_COMPACTED',
  'KV_LEASE_NOT_FOUND',
  'KV_LEASE_LIMIT',
  'KV_LEASE_TTL',
];

/**
 * What every result but an error carries: the store revision after the command or at the query
 * (the log index of the last change to the store). Absent in results kept for retries by an
 * older version.
 */
export interface KvRevisioned {
  readonly storeRevision?: number;
}

/** The result of a put: the revision it wrote and, if asked, what it replaced. */
export interface KvPutResult extends KvRevisioned {
  readonly type: 'put';
  readonly revision: number;
  /** The replaced value; null when the key was absent or `returnPrevious` was false. */
  readonly previous: KvVersioned | null;
  /**
   * True when the key did not exist before this put (it created the key; RFC 7252 §5.8.3's
   * 2.01). False when it replaced a value, and in results kept for retries by an older version.
   */
  readonly created: boolean;
}

/** The result of a delete. `revision` is the log index of the delete. */
export interface KvDeleteResult extends KvRevisioned {
  readonly type: 'delete';
  readonly revision: number;
  /** True when the key existed. */
  readonly deleted: boolean;
  /** The removed value; null when the key was absent or `returnPrevious` was false. */
  readonly previous: KvVersioned | null;
}

/** A compare-and-set that matched and wrote at `revision`. */
export interface KvCasSucceeded extends KvRevisioned {
  readonly type: 'cas';
  readonly succeeded: true;
  readonly revision: number;
}

/** A compare-and-set that did not match; `current` is what the key holds (null when absent). */
export interface KvCasFailed extends KvRevisioned {
  readonly type: 'cas';
  readonly succeeded: false;
  readonly current: KvVersioned | null;
}

/** The result of a get (command or query): the key's value, or null when absent. */
export interface KvGetResult extends KvRevisioned {
  readonly type: 'get';
  readonly current: KvVersioned | null;
}

/** One key of a listing. */
export interface KvListItem extends KvVersioned {
  readonly key: string;
}

/** The result of a list query: the keys in order; `more` when keys past the last one match too. */
export interface KvListResult extends KvRevisioned {
  readonly type: 'list';
  readonly items: readonly KvListItem[];
  readonly more: boolean;
}

/** The result of one operation of a transaction's branch. */
export type KvTxnOpResult =
  | { readonly type: 'put'; readonly revision: number }
  | { readonly type: 'delete'; readonly deleted: boolean }
  | { readonly type: 'get'; readonly current: KvVersioned | null };

/** The result of a transaction: which branch ran, and the result of each of its operations. */
export interface KvTxnResult extends KvRevisioned {
  readonly type: 'txn';
  readonly succeeded: boolean;
  readonly results: readonly KvTxnOpResult[];
}

/** One change of the history: a put (with the value written) or a delete. */
export interface KvChangeEvent {
  readonly type: 'put' | 'delete';
  readonly key: string;
  /** The value written; null for a delete. */
  readonly value: Uint8Array | null;
  readonly revision: number;
}

/** The result of a changes query: the changes in revision order; `more` when later ones match too. */
export interface KvChangesResult extends KvRevisioned {
  readonly type: 'changes';
  readonly events: readonly KvChangeEvent[];
  readonly more: boolean;
}

/**
 * A lease (the result of a grant, a keepalive or a lease query): its TTL, the index of the entry
 * that last granted or kept it alive, and its keys, sorted (a query lists at most LIST_ITEMS_MAX).
 */
export interface KvLeaseResult extends KvRevisioned {
  readonly type: 'lease';
  readonly id: number;
  readonly ttlMs: number;
  readonly refreshIndex: number;
  readonly keys: readonly string[];
}

/** A revoke or an expiry: `ended` when it ended the lease (false for a stale expiry), and the keys it deleted. */
export interface KvLeaseEndResult extends KvRevisioned {
  readonly type: 'lease-end';
  readonly id: number;
  readonly ended: boolean;
  readonly deletedKeys: number;
}

/** A command or query that was refused; nothing changed. */
export interface KvErrorResult {
  readonly type: 'error';
  readonly code: KvErrorCode;
  readonly message: string;
}

/** Every result of a command or a query. */
export type KvResult =
  | KvPutResult
  | KvDeleteResult
  | KvCasSucceeded
  | KvCasFailed
  | KvGetResult
  | KvListResult
  | KvTxnResult
  | KvChangesResult
  | KvLeaseResult
  | KvLeaseEndResult
  | KvErrorResult;
