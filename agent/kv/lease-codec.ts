/**
 * The CBOR encoding of the lease commands and results (encoding.ts holds the rest):
 *
 *   commands  {op: 'lease-grant', time, ttl}, {op: 'lease-keepalive' | 'lease-revoke', time, id},
 *             {op: 'lease-expire', time, id, refresh}, each with the optional session fields
 *   results   {type: 'lease', id, ttl, refresh, keys: [key...], srev},
 *             {type: 'lease-end', id, ended, deleted, srev}
 *
 * A put or a cas that attaches its key to a lease carries `lease: id` (encoding.ts). Decoding is
 * strict, like the rest: exact fields, exact types, integer ranges.
 */
import { Fields, malformed, readArray, readString } from './fields.js';
import type { KvLeaseEndResult, KvLeaseOperation, KvLeaseResult } from './types.js';

/** The lease command ops. */
export const LEASE_OPS: readonly string[] = ['lease-grant', 'lease-keepalive', 'lease-revoke', 'lease-expire'];

/** The field names a lease command may have besides the session's. */
export const LEASE_COMMAND_FIELDS: readonly string[] = ['ttl', 'id', 'refresh'];

/** Most keys a lease result lists (the state machine's query lists at most LIST_ITEMS_MAX). */
const LEASE_KEYS_LISTED_MAX = 100_000;

/** The lease a put or cas attaches its key to, when its map names one. */
export function leaseField(fields: Fields): { lease?: number } {
  return fields.has('lease') ? { lease: fields.integer('lease', 1) } : {};
}

/** The fields of a lease command map (without time and session). */
export function encodeLeaseFields(operation: KvLeaseOperation): Record<string, unknown> {
  switch (operation.op) {
    case 'lease-grant':
      return { op: operation.op, ttl: operation.ttlMs };
    case 'lease-keepalive':
    case 'lease-revoke':
      return { op: operation.op, id: operation.id };
    case 'lease-expire':
      return { op: operation.op, id: operation.id, refresh: operation.refreshIndex };
  }
}

/** Reads a lease command's operation from its fields; `sessionFields` are allowed beside. */
export function decodeLeaseFields(
  all: Fields,
  op: string,
  sessionFields: readonly string[],
): {
  readonly operation: KvLeaseOperation;
  readonly fields: Fields;
} {
  switch (op) {
    case 'lease-grant': {
      const fields = all.expect('lease-grant command', ['op', 'time', 'ttl'], sessionFields);
      return { operation: { op, ttlMs: fields.integer('ttl', 1) }, fields };
    }
    case 'lease-keepalive':
    case 'lease-revoke': {
      const fields = all.expect(`${op} command`, ['op', 'time', 'id'], sessionFields);
      return { operation: { op, id: fields.integer('id', 1) }, fields };
    }
    case 'lease-expire': {
      const fields = all.expect('lease-expire command', ['op', 'time', 'id', 'refresh'], sessionFields);
      const id = fields.integer('id', 1);
      return { operation: { op, id, refreshIndex: fields.integer('refresh', id) }, fields };
    }
    default:
      throw malformed(`command: unknown op '${op.slice(0, 32)}'`);
  }
}

/** The map of a lease result (without srev). */
export function leaseResultMap(result: KvLeaseResult | KvLeaseEndResult): Record<string, unknown> {
  if (result.type === 'lease')
    return { type: 'lease', id: result.id, ttl: result.ttlMs, refresh: result.refreshIndex, keys: [...result.keys] };
  return { type: 'lease-end', id: result.id, ended: result.ended, deleted: result.deletedKeys };
}

/** The result field names of lease results. */
export const LEASE_RESULT_FIELDS: readonly string[] = ['id', 'ttl', 'refresh', 'keys', 'ended', 'deleted'];

/** Reads a lease result of `type` ('lease' or 'lease-end'). */
export function readLeaseResult(value: unknown, type: 'lease' | 'lease-end'): KvLeaseResult | KvLeaseEndResult {
  if (type === 'lease') {
    const fields = Fields.of(value, 'lease result', ['type', 'id', 'ttl', 'refresh', 'keys'], ['srev']);
    const keys = readArray(fields.raw('keys'), 'lease result keys', LEASE_KEYS_LISTED_MAX).map((key) =>
      readString(key, 'lease result key'),
    );
    const id = fields.integer('id', 1);
    return { type, id, ttlMs: fields.integer('ttl', 1), refreshIndex: fields.integer('refresh', id), keys };
  }
  const fields = Fields.of(value, 'lease-end result', ['type', 'id', 'ended', 'deleted'], ['srev']);
  return {
    type,
    id: fields.integer('id', 1),
    ended: fields.boolean('ended'),
    deletedKeys: fields.integer('deleted', 0),
  };
}
