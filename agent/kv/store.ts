/**
 * The key-value map of the state machine, with its size accounting. Limits are checked before
 * a write by `checkWrite`, which returns an error result instead of changing anything, so a
 * refused command leaves no trace. Values are copied in, so a stored value never aliases a log
 * entry or a snapshot buffer (which would keep those alive and let their owner change it).
 */
import { assert } from '../../contracts/assert.js';
import type { KvOptions } from './options.js';
import type { KvErrorResult, KvVersioned } from './types.js';

/** The UTF-8 length of `text`, in bytes. */
export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The limits the store enforces. */
export type KvStoreLimits = Pick<KvOptions, 'keyBytesMax' | 'valueBytesMax' | 'keyCountMax' | 'dataBytesMax'>;

/** The map from key to versioned value. */
export class KvStore {
  private readonly limits: KvStoreLimits;
  /** Invariant: every revision is >= 1 and every key is non-empty and within keyBytesMax when written. */
  private readonly entries = new Map<string, KvVersioned>();
  /** Invariant: the sum of utf8Length(key) + value.length over `entries`. */
  private dataBytesValue = 0;

  constructor(limits: KvStoreLimits) {
    this.limits = limits;
  }

  /** The number of keys stored. */
  get keyCount(): number {
    return this.entries.size;
  }

  /** The key and value bytes stored. */
  get dataBytes(): number {
    return this.dataBytesValue;
  }

  /** The value at `key`, or null. */
  get(key: string): KvVersioned | null {
    return this.entries.get(key) ?? null;
  }

  /** An error result when `key` breaks the key limit, else null. */
  checkKey(key: string): KvErrorResult | null {
    const keyBytes = utf8Length(key);
    if (keyBytes > this.limits.keyBytesMax) {
      return {
        type: 'error',
        code: 'KV_KEY_TOO_LONG',
        message: `key is ${keyBytes} bytes; keyBytesMax is ${this.limits.keyBytesMax}`,
      };
    }
    return null;
  }

  /** An error result when writing `value` at `key` would break a limit, else null. */
  checkWrite(key: string, value: Uint8Array): KvErrorResult | null {
    const keyProblem = this.checkKey(key);
    if (keyProblem !== null) return keyProblem;
    if (value.length > this.limits.valueBytesMax) {
      return {
        type: 'error',
        code: 'KV_VALUE_TOO_LARGE',
        message: `value is ${value.length} bytes; valueBytesMax is ${this.limits.valueBytesMax}`,
      };
    }
    const current = this.entries.get(key);
    if (current === undefined && this.entries.size >= this.limits.keyCountMax) {
      return {
        type: 'error',
        code: 'KV_KEY_COUNT_LIMIT',
        message: `store holds keyCountMax (${this.limits.keyCountMax}) keys`,
      };
    }
    const after =
      this.dataBytesValue + value.length - (current === undefined ? -utf8Length(key) : current.value.length);
    if (after > this.limits.dataBytesMax) {
      return {
        type: 'error',
        code: 'KV_DATA_LIMIT',
        message: `write would store ${after} bytes; dataBytesMax is ${this.limits.dataBytesMax}`,
      };
    }
    return null;
  }

  /** Writes `value` at `key` with `revision` and returns what it replaced. The caller ran checkWrite. */
  set(key: string, value: Uint8Array, revision: number): KvVersioned | null {
    assert(key.length > 0, 'stored keys are non-empty');
    assert(Number.isSafeInteger(revision) && revision >= 1, 'revisions are log indexes >= 1');
    const previous = this.entries.get(key) ?? null;
    const stored: KvVersioned = { value: new Uint8Array(value), revision };
    this.entries.set(key, stored);
    this.dataBytesValue += value.length - (previous === null ? -utf8Length(key) : previous.value.length);
    return previous;
  }

  /** Deletes `key` and returns what it held, or null when it was absent. */
  delete(key: string): KvVersioned | null {
    const previous = this.entries.get(key);
    if (previous === undefined) return null;
    this.entries.delete(key);
    this.dataBytesValue -= utf8Length(key) + previous.value.length;
    assert(this.dataBytesValue >= 0, 'data bytes stay non-negative');
    return previous;
  }

  /** Every entry, sorted by key (UTF-16 code unit order), for a deterministic snapshot. */
  sortedEntries(): readonly (readonly [string, KvVersioned])[] {
    const keys = [...this.entries.keys()].sort();
    return keys.map((key) => {
      const versioned = this.entries.get(key);
      assert(versioned !== undefined, 'sorted key is stored');
      const entry: readonly [string, KvVersioned] = [key, versioned];
      return entry;
    });
  }

  /** Empties the store. */
  clear(): void {
    this.entries.clear();
    this.dataBytesValue = 0;
  }

  /** Recomputes the size accounting and checks it and every revision against `lastApplied`. */
  checkInvariants(lastApplied: number): void {
    let bytes = 0;
    for (const [key, versioned] of this.entries) {
      assert(key.length > 0, 'stored keys are non-empty');
      assert(versioned.revision >= 1, 'revisions are >= 1');
      assert(versioned.revision <= lastApplied, 'no revision is beyond lastApplied');
      bytes += utf8Length(key) + versioned.value.length;
    }
    assert(bytes === this.dataBytesValue, 'dataBytes matches the stored entries');
  }
}
