// Proves what PendingRequests tells the waiters of a node that stops: a read that waits has done
// nothing and gets the stop error, but a proposal is already in the log, where another leader
// may still commit it, so its waiter gets RAFT_TIMEOUT (outcome unknown), never RAFT_STOPPED
// (which tells a client that nothing was done). Found by the simulator sweep: a client that
// believed RAFT_STOPPED recorded a write as failed, then read its value back.
// Also: one timer serves every deadline (a hundred waits in flight hold one timer, not a
// hundred), and each wait still times out exactly at its own deadline, also when a later wait
// has an earlier deadline, while waits that end in time never time out.
// Also: a new proposal at the index of one from an earlier term (cut from the log) drops that one.
import { strict as assert } from 'node:assert';
import { PendingRequests } from '../../../agent/runtime/pending.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { StoppedError } from '../../../contracts/errors.js';
import type { Term } from '../../../contracts/log.js';
import type { TimerHandle, Timers } from '../../../contracts/clock.js';

/** Virtual timers that count the timers set. */
class CountingTimers implements Timers {
  set = 0;
  constructor(readonly inner: VirtualTimers) {}
  nowMs(): number {
    return this.inner.nowMs();
  }
  setTimer(delayMs: number, callback: () => void): TimerHandle {
    this.set += 1;
    return this.inner.setTimer(delayMs, callback);
  }
}

describe('PendingRequests', () => {
  it('on stop, rejects a waiting proposal as outcome-unknown and a waiting read with the stop error', async () => {
    const timers = new VirtualTimers();
    const pending = new PendingRequests(timers, 10);
    const term: Term = 3;
    const proposal = pending.waitForApply(7, term, 1000);
    const read = pending.addRead(1000).index;
    pending.rejectAll(() => new StoppedError());
    await assert.rejects(proposal, (error: unknown) => {
      assert.equal((error as { code: string }).code, 'RAFT_TIMEOUT');
      assert.match((error as Error).message, /index 7 was known; it may or may not have been applied$/);
      return true;
    });
    await assert.rejects(read, { code: 'RAFT_STOPPED' });
    assert.deepEqual(pending.counts(), { proposals: 0, reads: 0 });
  });

  // Found by the memory soak: a leader proposed at index i, lost the lead before i committed, had
  // its tail overwritten, won again and proposed at i anew; the agent died on the assertion.
  it('drops the proposal of an earlier term when a new one is made at its index', async () => {
    const pending = new PendingRequests(new VirtualTimers(), 10);
    const first = pending.waitForApply(24950, 1, 1000);
    const second = pending.waitForApply(24950, 3, 1000);
    await assert.rejects(first, { code: 'RAFT_PROPOSAL_DROPPED' });
    assert.equal(pending.counts().proposals, 1);
    pending.applied({ index: 24950, term: 3, type: 'command', command: new Uint8Array(0) }, new Uint8Array([1]));
    assert.deepEqual(await second, new Uint8Array([1]));
  });

  it('keeps one timer for many waits, and times each out exactly at its deadline', async () => {
    const virtual = new VirtualTimers();
    const timers = new CountingTimers(virtual);
    const pending = new PendingRequests(timers, 1000);
    const endedAt = new Map<number, number>();
    const watch = (id: number, promise: Promise<unknown>): void => {
      promise.then(
        () => endedAt.set(id, -1),
        (error: unknown) => {
          assert.equal((error as { code: string }).code, 'RAFT_TIMEOUT');
          endedAt.set(id, virtual.nowMs());
        },
      );
    };
    for (let i = 1; i <= 100; i += 1) {
      watch(i, pending.waitForApply(i, 1, 1000));
      await virtual.runUntil(virtual.nowMs() + 1);
    }
    assert.equal(timers.set, 1, 'a hundred waits with one timeout hold one timer');
    // A read with a shorter timeout re-arms the timer earlier.
    const read = pending.addRead(200);
    watch(1000, read.index);
    assert.equal(timers.set, 2);
    // Waits that end in time never time out.
    for (let i = 1; i <= 10; i += 1)
      pending.applied({ term: 1, index: i, type: 'command', command: new Uint8Array() }, new Uint8Array());
    await virtual.runUntil(2000);
    assert.equal(endedAt.get(1000), 300, 'the read timed out at its deadline');
    for (let i = 1; i <= 10; i += 1) assert.equal(endedAt.get(i), -1, `wait ${i} ended in time`);
    for (let i = 11; i <= 100; i += 1) assert.equal(endedAt.get(i), 999 + i, `wait ${i} timed out at its deadline`);
    assert.deepEqual(pending.counts(), { proposals: 0, reads: 0 });
    assert.ok(timers.set < 100, 'fewer timers than waits');
  });
});
