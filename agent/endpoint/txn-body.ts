/**
 * The body of `POST /txn`, read strictly: JSON (Content-Format 50, or none) or CBOR (60) of
 *
 *   {"compare":[C...],"success":[O...],"failure":[O...]}   (each list optional, empty by default)
 *   C: {"key":K,"revision":R} | {"key":K,"value":V} | {"key":K,"valueBase64":B} | {"key":K,"absent":true}
 *   O: {"op":"put","key":K,"value":V[,"lease":L]} | {"op":"put","key":K,"valueBase64":B[,"lease":L]}
 *      | {"op":"delete","key":K}
 *      | {"op":"get","key":K}
 *
 * At most TXN_OPS_MAX compares and operations per branch. A problem is a TxnBodyError whose
 * message names it (answered 4.00, or 4.15 for another Content-Format).
 */
import { Decoder } from 'cbor-x';
import { TXN_OPS_MAX } from '../kv/index.js';
import type { KvCompare, KvTxnOp, KvTxnOperation } from '../kv/index.js';
import { CBOR_CONTENT_FORMAT } from './documents.js';
import { CONTENT_FORMAT } from './responses.js';

/** A transaction body that cannot be read. */
export class TxnBodyError extends Error {
  constructor(
    message: string,
    /** True when the Content-Format itself is not served (4.15). */
    readonly unsupportedFormat = false,
  ) {
    super(message);
  }

  override get name(): string {
    return 'TxnBodyError';
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/u;

function record(value: unknown, what: string, allowed: readonly string[]): Map<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || value instanceof Uint8Array)
    throw new TxnBodyError(`${what} must be an object`);
  const fields = new Map<string, unknown>(Object.entries(value));
  for (const name of fields.keys())
    if (!allowed.includes(name)) throw new TxnBodyError(`${what}: unexpected field '${name.slice(0, 32)}'`);
  return fields;
}

function keyOf(fields: Map<string, unknown>, what: string): string {
  const key = fields.get('key');
  if (typeof key !== 'string' || key === '') throw new TxnBodyError(`${what}: key must be a non-empty string`);
  return key;
}

/** What `value` is, for a message saying it is the wrong kind: 'a number', 'null', 'an array', ... */
function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return 'bytes';
  const type = typeof value;
  return type === 'object' ? 'an object' : `a ${type}`;
}

/**
 * The bytes of `value` (UTF-8) or `valueBase64`: exactly one of them. Each way of getting it
 * wrong has its own message, so that a client sending `"value": 5` is told that a value is a
 * string rather than that it gave two values.
 */
function valueOf(fields: Map<string, unknown>, what: string): Uint8Array {
  const text = fields.get('value');
  const base64 = fields.get('valueBase64');
  if (text !== undefined && base64 !== undefined)
    throw new TxnBodyError(`${what}: give value or valueBase64, not both`);
  if (text !== undefined) {
    if (typeof text !== 'string')
      throw new TxnBodyError(
        `${what}: value must be a string, got ${kindOf(text)} (send other bytes as valueBase64, in base64)`,
      );
    return new TextEncoder().encode(text);
  }
  if (base64 === undefined) throw new TxnBodyError(`${what}: give value (a string) or valueBase64 (base64)`);
  if (typeof base64 !== 'string' || !BASE64.test(base64))
    throw new TxnBodyError(`${what}: valueBase64 must be a base64 string (RFC 4648, padded)`);
  return new Uint8Array(Buffer.from(base64, 'base64'));
}

function readCompare(value: unknown, index: number): KvCompare {
  const what = `compare[${index}]`;
  const fields = record(value, what, ['key', 'revision', 'value', 'valueBase64', 'absent']);
  const key = keyOf(fields, what);
  if (fields.size !== 2) throw new TxnBodyError(`${what}: give key and one of revision, value, valueBase64, absent`);
  const revision = fields.get('revision');
  if (revision !== undefined) {
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0)
      throw new TxnBodyError(`${what}: revision must be an integer >= 0 (0: absent)`);
    return { key, target: 'revision', revision };
  }
  if (fields.has('absent')) {
    if (fields.get('absent') !== true) throw new TxnBodyError(`${what}: absent must be true`);
    return { key, target: 'absent' };
  }
  return { key, target: 'value', value: valueOf(fields, what) };
}

function readOp(value: unknown, what: string): KvTxnOp {
  const fields = record(value, what, ['op', 'key', 'value', 'valueBase64', 'lease']);
  const op = fields.get('op');
  const key = keyOf(fields, what);
  if (op === 'put') {
    if (!fields.has('lease')) return { op, key, value: valueOf(fields, what) };
    const lease = fields.get('lease');
    if (typeof lease !== 'number' || !Number.isSafeInteger(lease) || lease < 1)
      throw new TxnBodyError(`${what}: lease must be a lease id (a positive integer)`);
    return { op, key, value: valueOf(fields, what), lease };
  }
  if (op === 'delete' || op === 'get') {
    const extra = [...fields.keys()].find((name) => name !== 'op' && name !== 'key');
    if (extra === undefined) return { op, key };
    throw new TxnBodyError(`${what}: a ${op} takes only op and key, not ${extra}`);
  }
  throw new TxnBodyError(`${what}: op must be put (with a value), delete or get`);
}

function list<T>(value: unknown, what: string, read: (item: unknown, index: number) => T): T[] {
  if (value === undefined) return [];
  if (!Array.isArray(value)) throw new TxnBodyError(`${what} must be an array`);
  const items: readonly unknown[] = value;
  if (items.length > TXN_OPS_MAX) throw new TxnBodyError(`${what} has ${items.length} items; at most ${TXN_OPS_MAX}`);
  return items.map(read);
}

function decodeBody(payload: Uint8Array, contentFormat: number | null): unknown {
  try {
    if (contentFormat === CBOR_CONTENT_FORMAT)
      return new Decoder({ mapsAsObjects: true, useRecords: false }).decode(payload);
    if (contentFormat === null || contentFormat === CONTENT_FORMAT.json)
      return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch {
    throw new TxnBodyError('the body is not well-formed JSON (or CBOR with Content-Format 60)');
  }
  throw new TxnBodyError(`Content-Format ${contentFormat} is not served: send JSON (50) or CBOR (60)`, true);
}

/** Reads a transaction from a request body; throws TxnBodyError. */
export function readTxnBody(payload: Uint8Array, contentFormat: number | null): KvTxnOperation {
  const fields = record(decodeBody(payload, contentFormat), 'the transaction', ['compare', 'success', 'failure']);
  return {
    op: 'txn',
    compare: list(fields.get('compare'), 'compare', readCompare),
    success: list(fields.get('success'), 'success', (item, i) => readOp(item, `success[${i}]`)),
    failure: list(fields.get('failure'), 'failure', (item, i) => readOp(item, `failure[${i}]`)),
  };
}
