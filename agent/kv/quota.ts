/**
 * The space quota of the key-value store (issue 19): a cluster setting, replicated through the
 * log, that bounds the store's size as the state machine counts it, so every replica refuses the
 * same writes at the same index.
 *
 * Size. The store's size is the sum, over every key, of the key's UTF-8 length, its value's
 * length and {@link QUOTA_KEY_OVERHEAD_BYTES}, kept incrementally by the store (store.ts) as each
 * entry applies. It depends on the log alone (no disk figure, no clock), so it is the same on
 * every replica at every index. Sessions, request ids and the watch history window are bounded
 * by limits of their own (options.ts) and are not counted.
 *
 * Decision. A write is refused (KV_QUOTA_EXCEEDED, `quota exceeded: N of M bytes`, N being the
 * size the write would leave) when it would leave the store larger than the quota and larger
 * than it was: deletes, writes that shrink a value and transactions whose branch shrinks the
 * store as a whole still run, so space can always be freed. The decision is taken at apply, by
 * every replica, with the replicated quota; the endpoint decides nothing.
 *
 * The setting. Each member's agent.json may set `quotaBytes`; the leader proposes its value as
 * a quota command (`{op: 'quota', bytes}`, 0: no quota) whenever the replicated value differs
 * from it, so the value in force is the last one applied, identical on every replica, whatever
 * the local files say. Members should carry the same value: a member whose file differs
 * proposes its own when it leads (the status shows both values).
 */
import { Encoder } from 'cbor-x';
import { encodeCbor } from './cbor-output.js';
import { Fields, decodeCbor } from './fields.js';
import type { KvErrorResult } from './types.js';

/** Bytes counted for each key on top of its key and value bytes (the map entry and its revision). */
export const QUOTA_KEY_OVERHEAD_BYTES = 32;
/** The largest quota, in bytes (2^40, as dataBytesMax). */
export const QUOTA_BYTES_MAX = 2 ** 40;
/** The name of the alarm a quota refusal raises (etcd's name for it). */
export const NOSPACE_ALARM = 'NOSPACE';

/** The store size counted against the quota, from its key count and key plus value bytes. */
export function quotaUsageOf(keyCount: number, dataBytes: number): number {
  return dataBytes + keyCount * QUOTA_KEY_OVERHEAD_BYTES;
}

/** The error result of a write refused by the quota: `quota exceeded: N of M bytes`. */
export function quotaExceeded(afterBytes: number, quotaBytes: number): KvErrorResult {
  return { type: 'error', code: 'KV_QUOTA_EXCEEDED', message: `quota exceeded: ${afterBytes} of ${quotaBytes} bytes` };
}

/**
 * Whether a change from `beforeBytes` to `afterBytes` breaks `quotaBytes` (0: no quota): it
 * ends above the quota and above where it started.
 */
export function breaksQuota(beforeBytes: number, afterBytes: number, quotaBytes: number): boolean {
  return quotaBytes > 0 && afterBytes > quotaBytes && afterBytes > beforeBytes;
}

const encoder = new Encoder({ mapsAsObjects: true, useRecords: false });
/**
 * How every quota command starts: a CBOR map header (cbor-x writes 0xb9 and two length bytes),
 * then the key 'op' and its value 'quota'. encodeQuotaCommand writes that order; a map with
 * another first entry is not a quota command (the KV decoder then refuses it as malformed, on
 * every replica alike). Checking a fixed prefix costs the same for every command, whatever its
 * size.
 */
const OP_QUOTA = [0x62, ...Buffer.from('op'), 0x65, ...Buffer.from('quota')];

/** The length of the CBOR map header `bytes` starts with, or 0 when it starts with no map. */
function mapHeaderLength(bytes: Uint8Array): number {
  const first = bytes[0];
  if (first === undefined || first < 0xa0 || first > 0xba) return 0;
  if (first <= 0xb7) return 1;
  return first === 0xb8 ? 2 : first === 0xb9 ? 3 : 5;
}

/** Whether `bytes` starts as a quota command does (see OP_QUOTA). */
function looksLikeQuotaCommand(bytes: Uint8Array): boolean {
  const at = mapHeaderLength(bytes);
  if (at === 0 || bytes.byteLength < at + OP_QUOTA.length) return false;
  // A loop, not every() with a closure: every replica asks this of every command it applies.
  for (let i = 0; i < OP_QUOTA.length; i += 1) if (bytes[at + i] !== OP_QUOTA[i]) return false;
  return true;
}

/** Encodes the quota command that sets the cluster's quota to `quotaBytes` (0: none). */
export function encodeQuotaCommand(quotaBytes: number): Uint8Array {
  if (!Number.isSafeInteger(quotaBytes) || quotaBytes < 0 || quotaBytes > QUOTA_BYTES_MAX)
    throw new RangeError(`quotaBytes must be an integer from 0 to ${QUOTA_BYTES_MAX}`);
  return encodeCbor(encoder, { op: 'quota', bytes: quotaBytes });
}

/**
 * The quota a command sets, or null when it is not a quota command (any other command, which
 * the KV decoder reads). Throws SerializationError for a quota command that is malformed.
 */
export function decodeQuotaCommand(bytes: Uint8Array): number | null {
  if (!looksLikeQuotaCommand(bytes)) return null;
  const value = decodeCbor(bytes, 'command');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  if (!('op' in value) || value.op !== 'quota') return null;
  const fields = Fields.of(value, 'quota command', ['op', 'bytes']);
  return fields.integer('bytes', 0, QUOTA_BYTES_MAX);
}
