// Seeds that long sweeps (`npm run sweep -- --seeds N --from S`) once failed, replayed with the
// sweep's exact arguments: each must now pass every safety, liveness and linearizability check.
// Each row says what the seed caught; each failed before its fix.
import { strict as assert } from 'node:assert';
import { runSimulation } from '../../agent/sim/run.js';
import { parseSimArgs } from '../../agent/cli/sim.js';
import { simArgs } from './sweep-plan.js';
import type { RunOptions } from './sweep-plan.js';

/** The faults seed 8000040 ran, in its order (the sweep's faults, clog, byzantine). */
const ALL_FAULTS = 'partition,loss,reorder,duplicate,crash,clog,byzantine';

const REGRESSIONS: readonly {
  seed: number;
  nodes: number;
  witnesses?: number;
  /** The sweep's options beyond its defaults (--faults, --clients, --duration-ms). */
  options?: RunOptions;
  caught: string;
}[] = [
  {
    seed: 501219,
    nodes: 2,
    witnesses: 1,
    caught:
      'no leader for ever: a leader that removed itself stepped down before its removal committed, and the ' +
      'witness held an entry that the only full voter left lacked (agent/core/state.ts, isPromotable)',
  },
  {
    seed: 700366,
    nodes: 7,
    caught:
      "a crashed node's snapshot read failed on its closed storage and was counted as the live node's fatal " +
      'error (agent/sim/cluster.ts, onFatal)',
  },
  {
    seed: 8000040,
    nodes: 3,
    options: { faults: ALL_FAULTS, clients: 16, durationMs: 20_000 },
    caught:
      'a watch on every key, left far behind by 16 clients (the simulated channel takes a few dozen revisions a ' +
      'second), was checked 3 s after healing while still catching up; it is now waited for while it moves ' +
      '(agent/sim/run.ts, checkWatchesAfter)',
  },
  {
    seed: 601953,
    nodes: 5,
    options: { faults: ALL_FAULTS },
    caught:
      'a node crashed while it was starting: its start went on and failed on the closed storage, uncaught, and ' +
      'a stop during a start did not stop it (agent/runtime/node.ts, start; agent/sim/cluster.ts, start)',
  },
  {
    seed: 12,
    nodes: 3,
    options: { faults: ALL_FAULTS },
    caught:
      'a leader handing leadership on refused to leave a joint configuration that committed meanwhile, and ' +
      'stayed in C_old,new if the transfer failed (agent/core/commit.ts, onCommitAdvanced; agent/core/state.ts)',
  },
  {
    seed: 2552,
    nodes: 3,
    options: { faults: `${ALL_FAULTS},stale,unsynced,ackcrash` },
    caught:
      'no convergence: a change cut short by a crash of the leader wiped the nodes it was adding though they ' +
      'were voters of the joint configuration, as no leader was known (agent/sim/membership-chaos.ts, ' +
      'forgetUnlessMember)',
  },
  {
    seed: 10943,
    nodes: 2,
    witnesses: 1,
    options: { faults: `${ALL_FAULTS},stale,unsynced,ackcrash` },
    caught:
      'the lease liveness check counted from convergence though a membership change still under way moved the ' +
      'leader, which restarts every countdown (agent/sim/lease-run.ts, finish)',
  },
  {
    seed: 6101148,
    nodes: 3,
    options: { faults: `${ALL_FAULTS},stale,unsynced,ackcrash` },
    caught:
      'a lease "left alone" and never seen to end: its grant was answered (a session retry) after faults, 28 ms ' +
      'before the leader expired it, while the run stopped its clients without observing the leases; its ' +
      'keepalive then found it gone (agent/sim/run.ts, stopClients; agent/sim/lease-workload.ts, keepAlive)',
  },
  {
    seed: 6200250,
    nodes: 7,
    options: { faults: `${ALL_FAULTS},stale,unsynced,ackcrash` },
    caught:
      'a lease "expired 1.3 s late": a keepalive its client sent before the network healed was held by the ' +
      'stale fault for nearly 4 s and refreshed the lease when it came; the liveness bound now counts such a ' +
      'keepalive as sent when it may have arrived (agent/sim/lease-run.ts, lateDelivery)',
  },
  {
    seed: 7000001,
    nodes: 5,
    options: { faults: `${ALL_FAULTS},stale,unsynced,ackcrash` },
    caught:
      'a lease "left alone, never expired": it ended at 7.1 s, applied by runs that caught up after a restart ' +
      'and applied its grant and its end in one event, while every run seen holding it had crashed, so no run ' +
      "noted the end; the first run to apply a lease's end now notes it (agent/sim/lease-apply-check.ts, ended; " +
      'lease-workload.ts, noteEnded)',
  },
];

describe('simulator: seeds long sweeps once failed', function () {
  this.timeout(120_000);

  for (const { seed, nodes, witnesses, options, caught } of REGRESSIONS) {
    it(`SEED=${seed}: ${caught}`, async () => {
      const args = simArgs(seed, nodes, witnesses, options);
      const command = parseSimArgs(args);
      // As the sweep's worker does, a rejection nothing handles fails the seed.
      const unhandled: string[] = [];
      const onUnhandled = (reason: unknown): void => {
        unhandled.push(String(reason));
      };
      process.on('unhandledRejection', onUnhandled);
      const summary = await runSimulation(command.run).finally(() => process.off('unhandledRejection', onUnhandled));
      assert.deepEqual(unhandled, [], `replay: node bin/coraft.js sim ${args.join(' ')}`);
      assert.deepEqual(summary.violations, [], `replay: node bin/coraft.js sim ${args.join(' ')}`);
      assert.equal(summary.linearizable, true);
    });
  }
});
