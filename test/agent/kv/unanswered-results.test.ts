// Proves the KV state machine's apply when no one waits for the result (StateMachine.apply with
// `answered` false, a follower's apply; state-machine.ts run, put-result.ts PutAnswer):
// - property: for any log of endpoint-style puts (implicit session, request id) in which some writes
//   are retried later in the log, a replica that applies every entry unanswered returns empty bytes for
//   every first write, and reaches the state of a replica that answers every entry: the same snapshot
//   bytes after every entry; a retry it is asked to answer (it became the leader the client retried at)
//   is byte for byte the first answer the answering replica gave; and so is the retry's answer on a
//   replica that restored the unanswered replica's snapshot taken in between;
// - a plain command (no session) is not encoded either, an error still is, and both replicas end alike.
import { strict as assert } from 'node:assert';
import * as fc from 'fast-check';
import { KvStateMachine } from '../../../agent/kv/state-machine.js';
import { decodeKvResult, encodeKvCommand } from '../../../agent/kv/encoding.js';
import { fcParams } from '../../fc-params.js';
import { entryOf, retriedPutLog } from './retried-puts.js';

const configuration = { voters: [], learners: [], oldVoters: null, members: [] };

describe('KV results no one waits for', () => {
  it('are kept unencoded, and a retry or a snapshot gets the same bytes as from a replica that answered', () => {
    fc.assert(
      fc.property(retriedPutLog, fc.nat(), (log, cutAt) => {
        const answering = new KvStateMachine();
        const silent = new KvStateMachine();
        const cut = 1 + (cutAt % log.length);
        let restored = null as KvStateMachine | null;
        const first = new Map<number, Uint8Array>();
        for (const [i, { bytes, seq, retry }] of log.entries()) {
          const index = i + 1;
          const answer = answering.apply(entryOf(index, bytes));
          // The silent replica answers only the retries: a client retried there after a leader change.
          const fromSilent = silent.apply(entryOf(index, bytes), retry);
          const fromRestored: Uint8Array | undefined = restored?.apply(entryOf(index, bytes), retry);
          if (retry) {
            const expected = Buffer.from(first.get(seq) ?? []);
            assert.deepEqual(Buffer.from(answer), expected, `the retry of ${seq} gets its first answer`);
            assert.deepEqual(Buffer.from(fromSilent), expected, `the unanswered replica gives ${seq}'s first answer`);
            if (fromRestored !== undefined) assert.deepEqual(Buffer.from(fromRestored), expected, 'after a restore');
          } else {
            assert.equal(decodeKvResult(answer).type, 'put');
            assert.equal(fromSilent.length, 0, 'a first write no one waits for is not encoded');
            first.set(seq, Uint8Array.from(answer));
          }
          assert.deepEqual(Buffer.from(silent.snapshot()), Buffer.from(answering.snapshot()), `same state at ${index}`);
          if (index === cut) {
            restored = new KvStateMachine();
            restored.restore({ lastIncludedIndex: index, lastIncludedTerm: 1, configuration }, silent.snapshot());
          }
        }
        if (restored !== null) assert.deepEqual(Buffer.from(restored.snapshot()), Buffer.from(answering.snapshot()));
        answering.checkInvariants();
        silent.checkInvariants();
      }),
      fcParams(200, 'unanswered results'),
    );
  });

  it('does not encode a plain command’s result, but still an error', () => {
    const answering = new KvStateMachine();
    const silent = new KvStateMachine();
    const plain = (key: string): Uint8Array =>
      encodeKvCommand({ op: 'put', key, value: Uint8Array.of(1), returnPrevious: false, session: null, timeMs: 5 });
    const entries = [entryOf(1, plain('a')), entryOf(2, Uint8Array.of(0xff, 0x00)), entryOf(3, plain('b'))];
    const answers = entries.map((entry) => answering.apply(entry));
    const silentAnswers = entries.map((entry) => silent.apply(entry, false));
    assert.deepEqual(
      silentAnswers.map((a) => a.length),
      [0, answers[1]?.length, 0],
    );
    assert.equal(decodeKvResult(silentAnswers[1] ?? new Uint8Array()).type, 'error');
    assert.deepEqual(Buffer.from(silent.snapshot()), Buffer.from(answering.snapshot()));
  });
});
