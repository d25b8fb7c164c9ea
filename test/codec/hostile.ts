// Helpers for the malformed-input properties: feed bytes to a decoder and classify what
// happens. A decoder may return a message (a mutation can produce another valid message) or
// throw SerializationError with a codec code; anything else (TypeError, RangeError, an
// InvariantError, a hang) fails the test. A returned message must itself be valid: encoding
// it again must succeed and decode to the same message.
import { strict as assert } from 'node:assert';
import { SerializationError } from '../../contracts/errors.js';
import type { RpcSerializer } from '../../contracts/serializer.js';

export type Outcome = 'message' | 'rejected';

const CODEC_CODES: ReadonlySet<string> = new Set(['CODEC_MALFORMED', 'CODEC_LIMIT', 'CODEC_VERSION']);

/** Counts the inputs a test fed to decoders, so that each test can assert its budget. */
export class DecodeCounter {
  count = 0;
  rejected = 0;

  /** Decodes `bytes` with `serializer` and classifies the outcome (see the file comment). */
  decode(serializer: RpcSerializer, bytes: Uint8Array): Outcome {
    this.count += 1;
    let message;
    try {
      message = serializer.decode(bytes);
    } catch (error: unknown) {
      if (error instanceof SerializationError && CODEC_CODES.has(error.code) && error.message.length > 0) {
        this.rejected += 1;
        return 'rejected';
      }
      throw error;
    }
    assert.deepStrictEqual(
      serializer.decode(serializer.encode(message)),
      message,
      'an accepted message re-encodes to itself',
    );
    return 'message';
  }

  /** Decodes `bytes` and requires a SerializationError. */
  reject(serializer: RpcSerializer, bytes: Uint8Array): void {
    assert.equal(
      this.decode(serializer, bytes),
      'rejected',
      `expected ${Buffer.from(bytes.subarray(0, 48)).toString('hex')} to be rejected`,
    );
  }
}

/** True when Object.prototype has been polluted by a decoder. */
export function prototypePolluted(): boolean {
  const probe: Record<string, unknown> = {};
  return (
    ['polluted', 'v', 'type', 'term', 'isAdmin'].some((key) => key in probe) || Object.keys(Object.prototype).length > 0
  );
}
