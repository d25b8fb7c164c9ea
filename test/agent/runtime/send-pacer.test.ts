// The pacer of outbound peer requests (agent/runtime/send-pacer.ts), driven by hand: `nextTurn`
// queues the turn, and the test runs turns when it chooses, as the event loop would.
// Property: over any sequence of requests (of 0 to 3 budgets each) and turns, every request is
// sent exactly once, in the order submitted; within a turn no request starts once the bytes sent
// in it reach the budget (so a turn sends at most the budget plus one request); and a request is
// held back only while the turn's budget is spent or an earlier one waits.
// A queue that never empties (each turn sends some, more arrive) still sends in order past the
// point where its sent slots are cut off, and keeps nothing of a request once it is sent (a send
// holds its request's bytes; watched through a WeakRef after a collection).
import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { SendPacer } from '../../../agent/runtime/send-pacer.js';
import { fcParams } from '../../fc-params.js';
import { collectGarbage } from '../../collect-garbage.js';

const BUDGET = 1000;

/** A pacer whose turns run when the test calls `turn()`. */
function handPacer(): { pacer: SendPacer; turn: () => boolean } {
  const turns: (() => void)[] = [];
  const pacer = new SendPacer({ turnBytesMax: BUDGET, nextTurn: (run) => turns.push(run) });
  return {
    pacer,
    turn: () => {
      const run = turns.shift();
      run?.();
      return run !== undefined;
    },
  };
}

describe('SendPacer (peer requests over the event loop turns)', () => {
  it('sends within the budget at once, holds the rest for later turns, in order', () => {
    const { pacer, turn } = handPacer();
    const sent: string[] = [];
    pacer.submit(600, () => sent.push('a'));
    pacer.submit(600, () => sent.push('b'));
    pacer.submit(10, () => sent.push('c'));
    assert.deepStrictEqual(sent, ['a', 'b'], 'b starts while the turn has 400 bytes left');
    assert.equal(pacer.waitingCount, 1);
    assert.ok(turn());
    assert.deepStrictEqual(sent, ['a', 'b', 'c']);
    pacer.submit(5000, () => sent.push('big'));
    pacer.submit(1, () => sent.push('d'));
    assert.deepStrictEqual(sent, ['a', 'b', 'c', 'big'], 'a request over the budget goes, alone');
    while (turn());
    assert.deepStrictEqual(sent, ['a', 'b', 'c', 'big', 'd']);
    assert.equal(pacer.waitingCount, 0);
  });

  it('drops what waits when cleared', () => {
    const { pacer, turn } = handPacer();
    const sent: number[] = [];
    for (let i = 0; i < 5; i += 1) pacer.submit(BUDGET, () => sent.push(i));
    pacer.clear();
    while (turn());
    assert.deepStrictEqual(sent, [0]);
  });

  it('sends every request once, in order, within each turn budget (property)', () => {
    const step = fc.oneof(
      fc.record({ bytes: fc.oneof(fc.integer({ min: 0, max: 3 * BUDGET }), fc.constantFrom(BUDGET, 2 * BUDGET)) }),
      fc.constant('turn' as const),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 80 }), (steps) => {
        const { pacer, turn } = handPacer();
        const sent: number[] = [];
        let turnBytes = 0;
        let submitted = 0;
        for (const s of steps) {
          if (s === 'turn') {
            turnBytes = 0;
            turn();
            continue;
          }
          const id = submitted;
          submitted += 1;
          const waitedBefore = pacer.waitingCount > 0;
          const roomBefore = turnBytes < BUDGET;
          pacer.submit(s.bytes, () => {
            assert.ok(turnBytes < BUDGET, `request ${id} started after the turn's budget was spent`);
            turnBytes += s.bytes;
            sent.push(id);
          });
          const sentNow = sent[sent.length - 1] === id;
          assert.equal(sentNow, !waitedBefore && roomBefore, `request ${id} held back only when it must be`);
        }
        for (let i = 0; i < 1000 && pacer.waitingCount > 0; i += 1) {
          turnBytes = 0;
          turn();
        }
        assert.deepStrictEqual(
          sent,
          Array.from({ length: submitted }, (_, i) => i),
        );
      }),
      fcParams(300, 'send pacer'),
    );
  });

  it('sends in order through a queue that never empties, and keeps nothing of a sent request', async () => {
    const { pacer, turn } = handPacer();
    const sent: number[] = [];
    let submitted = 0;
    const submit = (): void => {
      const id = submitted;
      submitted += 1;
      pacer.submit(BUDGET / 2, () => sent.push(id));
    };
    // Ten first (two go at once), then three arrive per turn and two go: the queue grows by one a
    // turn and is never empty at a turn's end.
    for (let i = 0; i < 10; i += 1) submit();
    for (let t = 0; t < 3000; t += 1) {
      for (let i = 0; i < 3; i += 1) submit();
      turn();
      assert.ok(pacer.waitingCount > 0);
    }
    const watched = ((): WeakRef<Uint8Array> => {
      const request = new Uint8Array(1 << 20);
      pacer.submit(BUDGET, () => sent.push(request.length));
      return new WeakRef(request);
    })();
    for (let i = 0; i < 3; i += 1) submit();
    while (pacer.waitingCount > 3) turn();
    await collectGarbage();
    assert.equal(watched.deref(), undefined, 'a sent request is still held');
    while (turn());
    assert.equal(pacer.waitingCount, 0);
    const expected = Array.from({ length: 9010 }, (_, i) => i);
    assert.deepStrictEqual(sent, [...expected, 1 << 20, 9010, 9011, 9012]);
  });
});
