// Helpers for the KV tests: build log entries from commands and read results back.
import { strict as assert } from 'node:assert';
import type { LogEntry } from '../../../contracts/log.js';
import type { StoredImage } from '../../../contracts/persistence.js';
import { decodeKvResult, encodeKvCommand } from '../../../agent/kv/encoding.js';
import type { KvStateMachine } from '../../../agent/kv/state-machine.js';
import type { KvCommand, KvOperation, KvResult, KvSession } from '../../../agent/kv/types.js';

/** UTF-8 bytes of `text`. */
export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A command entry at `index` carrying `command`. */
export function commandEntry(index: number, command: KvCommand): LogEntry {
  return { term: 1, index, type: 'command', command: encodeKvCommand(command) };
}

/** Applies commands to a state machine one after the other, numbering entries from lastApplied + 1. */
export class Driver {
  readonly sm: KvStateMachine;
  timeMs = 0;

  constructor(sm: KvStateMachine) {
    this.sm = sm;
  }

  /** Applies raw entry bytes as the next command entry and decodes the result. */
  applyRaw(command: Uint8Array, type: LogEntry['type'] = 'command'): Uint8Array {
    return this.sm.apply({ term: 1, index: this.sm.lastApplied + 1, type, command });
  }

  /** Applies `operation` as the next entry, in `session` if given, at the driver's time. */
  run(operation: KvOperation, session: KvSession | null = null): KvResult {
    const entry = commandEntry(this.sm.lastApplied + 1, { ...operation, session, timeMs: this.timeMs });
    return decodeKvResult(this.sm.apply(entry));
  }

  put(key: string, value: string, session: KvSession | null = null): KvResult {
    return this.run({ op: 'put', key, value: bytes(value), returnPrevious: true }, session);
  }

  get(key: string, session: KvSession | null = null): KvResult {
    return this.run({ op: 'get', key }, session);
  }
}

/** The text of a get result's value, null when absent; throws on any other result. */
export function textOf(result: KvResult): string | null {
  if (result.type !== 'get') throw new Error(`expected a get result, got ${JSON.stringify(result)}`);
  return result.current === null ? null : Buffer.from(result.current.value).toString('utf8');
}

/** `bytes` as storage serves a snapshot image: a range at a time, copied (StoredImage). */
export function storedImageOf(bytes: Uint8Array): StoredImage {
  return {
    byteLength: bytes.byteLength,
    copyTo: (offset, target) => {
      assert.ok(offset + target.byteLength <= bytes.byteLength, 'a read lies within the image');
      target.set(bytes.subarray(offset, offset + target.byteLength));
    },
  };
}
