// Proves how the KV state machine keeps the results of session writes for retries (state-machine.ts run,
// sessions.ts), with results of puts kept as the very bytes apply returned (no copy):
// - property: for any log of endpoint-style puts (implicit session, request id, ASCII key) in which some
//   writes are retried, the retry appended later in the log (as a forwarding follower or a restarted endpoint
//   does after the leader changed), every replica applies the log to the same state and returns the same
//   bytes for every entry; a retry is not run again (the store revision does not move) and its answer is
//   byte for byte the first answer, also on a replica that restored a snapshot taken in between (a new
//   leader that caught up by InstallSnapshot);
// - a retried write, proposed by the old leader and committed, then proposed again by the new leader, gets
//   the old leader's answer from the new leader, and the later write to the key stays;
// - a put result is kept as the bytes apply returned; any other result (a Buffer, which may be a view of cbor-x's
//   shared output buffer) is kept as a copy with a buffer of its own.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { decodeKvResult, encodeKvResult } from '../../../agent/kv/encoding.js';
import { retainedBytes } from '../../../agent/kv/sessions.js';
import { fcParams } from '../../fc-params.js';
import { endpointPut, entryOf, retriedPutLog } from './retried-puts.js';

describe('KV results kept for retries', () => {
  it('answers every retry with the first answer, on every replica, before and after a snapshot', () => {
    fc.assert(
      fc.property(retriedPutLog, fc.nat(), (log, cutAt) => {
        const a = new KvStateMachine();
        const b = new KvStateMachine();
        const cut = cutAt % (log.length + 1);
        let c: KvStateMachine | null = cut === 0 ? new KvStateMachine() : null;
        const first = new Map<number, Uint8Array>();
        for (const [i, { bytes, seq, retry }] of log.entries()) {
          const index = i + 1;
          const revisionBefore = a.revision;
          const fromA = a.apply(entryOf(index, bytes));
          const fromB = b.apply(entryOf(index, bytes));
          assert.deepEqual(Buffer.from(fromB), Buffer.from(fromA), `replicas answer entry ${index} alike`);
          if (c !== null) assert.deepEqual(Buffer.from(c.apply(entryOf(index, bytes))), Buffer.from(fromA));
          if (retry) {
            assert.equal(a.revision, revisionBefore, `the retry of ${seq} is not run again`);
            assert.deepEqual(
              Buffer.from(fromA),
              Buffer.from(first.get(seq) ?? []),
              `the retry of ${seq} gets its answer`,
            );
          } else {
            assert.equal(decodeKvResult(fromA).type, 'put');
            first.set(seq, Uint8Array.from(fromA));
          }
          if (index === cut) {
            c = new KvStateMachine();
            const configuration = { voters: [], learners: [], oldVoters: null, members: [] };
            c.restore({ lastIncludedIndex: index, lastIncludedTerm: 1, configuration }, a.snapshot());
          }
        }
        assert.deepEqual(Buffer.from(b.snapshot()), Buffer.from(a.snapshot()), 'replicas end in the same state');
        if (c !== null) assert.deepEqual(Buffer.from(c.snapshot()), Buffer.from(a.snapshot()));
        a.checkInvariants();
      }),
      fcParams(),
    );
  });

  it('gives a write retried at a new leader the old leader’s answer', () => {
    // The old leader (n1) applies write 1 and answers; its client never hears (the leader went away). The
    // endpoint's forwarding retries the same bytes at the new leader (n2), which appends them again: at the new
    // leader, the retry is answered with the result the old leader gave, and nothing runs twice.
    const n1 = new KvStateMachine();
    const n2 = new KvStateMachine();
    const write = endpointPut(1, 1, 'k', 7, 1000);
    const answer = n1.apply(entryOf(1, write));
    n2.apply(entryOf(1, write));
    const other = endpointPut(2, 1, 'k', 9, 1001);
    n2.apply(entryOf(2, other));
    const retried = n2.apply(entryOf(3, write));
    assert.deepEqual(Buffer.from(retried), Buffer.from(answer));
    const result = decodeKvResult(retried);
    assert.equal(result.type === 'put' && result.revision, 1);
    assert.deepEqual(n2.read('k')?.value, Uint8Array.of(9, 10), 'the retry did not overwrite the later write');
  });
});

describe('retainedBytes', () => {
  it('keeps a put result as it is and copies a Buffer (which may be a view of a shared buffer)', () => {
    const put = encodeKvResult({ type: 'put', revision: 5, previous: null, created: false }, 5);
    assert.equal(Buffer.isBuffer(put), false, 'a put result is a plain Uint8Array');
    assert.equal(retainedBytes(put), put);
    const error = encodeKvResult({ type: 'error', code: 'KV_MALFORMED', message: 'x' });
    const kept = retainedBytes(error);
    assert.notEqual(kept, error);
    assert.deepEqual(Buffer.from(kept), Buffer.from(error));
    assert.equal(kept.byteLength, kept.buffer.byteLength, 'the copy has a buffer of its own');
  });
});
