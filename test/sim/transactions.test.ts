// Proves that the simulator's clients run transactions and that their histories are checked:
// under partitions, crashes and message loss, the clients' one-key transactions (compare with
// the value last seen, put on success, read on failure) appear in the history as cas
// operations, both branches happen, and the run's history passes the linearizability check
// (a transaction that ran its success branch against another value, or twice, would not); and
// the two-key transactions appear as txn operations, with both outcomes, checked in the
// map-of-registers model.
import { strict as assert } from 'node:assert';
import { runSimulation } from '../../agent/sim/run.js';
import type { TraceEvent } from '../../agent/sim/cluster.js';

describe('simulator: transactions in checked histories', function () {
  this.timeout(120_000);

  it('records transactions as cas operations and checks them under faults', async () => {
    let succeeded = 0;
    let failed = 0;
    let multiSucceeded = 0;
    let multiFailed = 0;
    for (const seed of [11, 12, 13]) {
      const events: TraceEvent[] = [];
      const summary = await runSimulation({
        seed,
        nodes: 3,
        durationMs: 8_000,
        clients: 4,
        faults: ['partition', 'crash', 'loss'],
        trace: (event) => events.push(event),
      });
      assert.equal(summary.ok, true, summary.violations.join('; '));
      assert.equal(summary.linearizable, true);
      const idOf = (e: TraceEvent): string => JSON.stringify([e['client'], e['id']]);
      const casIds = new Set(events.filter((e) => e.type === 'invoke' && e.op === 'cas').map(idOf));
      const txnIds = new Set(events.filter((e) => e.type === 'invoke' && e.op === 'txn').map(idOf));
      for (const e of events) {
        if (txnIds.has(idOf(e)) && e.type === 'ok') multiSucceeded += 1;
        if (txnIds.has(idOf(e)) && e.type === 'fail') multiFailed += 1;
        if (!casIds.has(idOf(e))) continue;
        if (e.type === 'ok') succeeded += 1;
        if (e.type === 'fail') failed += 1;
      }
    }
    assert.ok(succeeded > 0, 'some transactions ran their success branch');
    assert.ok(failed > 0, 'some transactions found another value');
    assert.ok(multiSucceeded > 0, 'some two-key transactions ran their success branch');
    assert.ok(multiFailed > 0, 'some two-key transactions found another value');
  });
});
