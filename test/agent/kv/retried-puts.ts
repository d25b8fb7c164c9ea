// The endpoint-style puts of the KV result tests (retained-results, unanswered-results): one client's
// session writes with request ids, some of them retried later in the log.
import * as fc from 'fast-check';
import { encodeKvCommand } from '../../../agent/kv/encoding.js';
import { REQUEST_ID_BYTES } from '../../../agent/kv/request-ids.js';
import type { KvCommand } from '../../../agent/kv/types.js';
import type { LogEntry } from '../../../contracts/log.js';

/** The session client of every put here. */
export const CLIENT = '@n1/0123456789abcdef.0';

/** The endpoint's put of write `seq` (watermark `acked`), with its request id. */
export function endpointPut(seq: number, acked: number, key: string, value: number, timeMs: number): Uint8Array {
  const requestId = new Uint8Array(REQUEST_ID_BYTES);
  new DataView(requestId.buffer).setUint32(0, seq);
  const command: KvCommand = {
    op: 'put',
    key,
    value: Uint8Array.of(value, value + 1),
    returnPrevious: false,
    session: { clientId: CLIENT, seq, ackedBelow: acked },
    timeMs,
    requestId,
  };
  return encodeKvCommand(command);
}

/** A command entry of term 1. */
export function entryOf(index: number, command: Uint8Array): LogEntry {
  return { term: 1, index, type: 'command', command };
}

/** One entry of a generated log: its bytes, its write's sequence, and whether it retries an earlier entry. */
export interface RetriedPut {
  readonly bytes: Uint8Array;
  readonly seq: number;
  readonly retry: boolean;
}

/**
 * Logs of 1 to 60 puts (ASCII keys), each a new sequence or a retry of an earlier first write, the
 * same bytes appended again; the watermark stays below every retried write.
 */
export const retriedPutLog: fc.Arbitrary<RetriedPut[]> = fc
  .array(
    fc.record({
      key: fc.stringMatching(/^[a-z]{1,8}$/),
      value: fc.nat(200),
      retryOf: fc.option(fc.nat(), { nil: null }),
    }),
    { minLength: 1, maxLength: 60 },
  )
  .map((steps) => {
    const commands: RetriedPut[] = [];
    let seq = 0;
    for (const [i, step] of steps.entries()) {
      const first = step.retryOf === null ? undefined : commands[step.retryOf % Math.max(1, commands.length)];
      if (first !== undefined && !first.retry) {
        commands.push({ bytes: first.bytes, seq: first.seq, retry: true });
        continue;
      }
      seq += 1;
      commands.push({ bytes: endpointPut(seq, 1, step.key, step.value, 1000 + i), seq, retry: false });
    }
    return commands;
  });
