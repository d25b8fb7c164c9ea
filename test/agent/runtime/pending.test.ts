// Proves what PendingRequests tells the waiters of a node that stops: a read that waits has done
// nothing and gets the stop error, but a proposal is already in the log, where another leader
// may still commit it, so its waiter gets RAFT_TIMEOUT (outcome unknown), never RAFT_STOPPED
// (which tells a client that nothing was done). Found by the simulator sweep: a client that
// believed RAFT_STOPPED recorded a write as failed, then read its value back.
import { strict as assert } from 'node:assert';
import { PendingRequests } from '../../../agent/runtime/pending.js';
import { VirtualTimers } from '../../../agent/sim/virtual-time.js';
import { StoppedError } from '../../../contracts/errors.js';
import type { Term } from '../../../contracts/log.js';

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
      assert.match((error as Error).message, /index 7.*may still be applied/);
      return true;
    });
    await assert.rejects(read, { code: 'RAFT_STOPPED' });
    assert.deepEqual(pending.counts(), { proposals: 0, reads: 0 });
  });
});
