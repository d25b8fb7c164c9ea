// Proves the bench's sum of its writers' CoAP client counters (bench/_coraft.ts WriterClientTotals,
// printed by vs-etcd): requests, retransmissions and timeouts of every closed writer add up, and
// nothing else of a client's stats is taken.
import { strict as assert } from 'node:assert';
import { WriterClientTotals } from '../../bench/_coraft.js';

describe("the writers' client totals of the coraft bench system", () => {
  it('adds up requests, retransmissions and timeouts of each writer closed', () => {
    const totals = new WriterClientTotals();
    assert.deepEqual(totals.counts(), { requests: 0, retransmissions: 0, timeouts: 0 });
    totals.add({ requests: 10, retransmissions: 2, timeouts: 0 });
    const stats = { requests: 5, retransmissions: 1, timeouts: 1, refusedOutstanding: 4, ignored: 3, sendFailures: 2 };
    totals.add(stats);
    assert.deepEqual(totals.counts(), { requests: 15, retransmissions: 3, timeouts: 1 });
  });
});
