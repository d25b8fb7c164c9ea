// Proves the simulator's watch check (agent/sim/watchers.ts, agent/sim/watch-check.ts):
// - under every fault (partitions, loss, reordering, duplication, crashes), watch clients that
//   resume with since after a gap, a drop or a crash take exactly the committed changes to
//   their targets, in order (runs on several seeds pass, having watched changes);
// - the check can fail: watch clients deliberately broken to take a document after a gap
//   (changes lost) are caught on some seed, and the failure names the watch;
// - checkWatchers itself reports a missing, a repeated and a reordered change against a real
//   KV state machine's history, and accepts the exact one; watchersCaughtUp (what the run waits
//   for after healing) is true only when no committed change to a watch's target lies after its
//   last revision.
// Every failing run prints SEED=…; `coraft sim --seed S` replays it.
import { strict as assert } from 'node:assert';
import { encodeKvCommand, KvStateMachine } from '../../../agent/kv/index.js';
import { runSimulation } from '../../../agent/sim/run.js';
import { checkWatchers, watchersCaughtUp } from '../../../agent/sim/watch-check.js';
import type { SimWatcher } from '../../../agent/sim/watchers.js';
import { WatchFollower, type WatchEventDocument } from '../../../agent/endpoint/watch-documents.js';

const ALL = ['partition', 'loss', 'reorder', 'duplicate', 'crash'] as const;

function watcher(events: WatchEventDocument[], last: number): SimWatcher {
  return {
    name: 'w0',
    target: { prefix: 'a/', exact: false },
    start: 0,
    follower: new WatchFollower(last),
    events,
    registrations: 1,
    at: null,
    lastHeardMs: 0,
  };
}

describe('simulator: watch clients checked against the committed changes', function () {
  this.timeout(300_000);

  it('passes under every fault, with changes watched', async () => {
    let watched = 0;
    for (const seed of [1, 2, 3, 4]) {
      const summary = await runSimulation({ seed, nodes: 3, durationMs: 5_000, clients: 4, faults: ALL });
      assert.deepEqual(summary.violations, [], `SEED=${seed}`);
      watched += summary.watched;
    }
    assert.ok(watched > 20, `watch clients took ${watched} changes`);
  });

  it('catches watch clients that take a document after a gap', async () => {
    const caught: number[] = [];
    for (let seed = 1; seed <= 12 && caught.length === 0; seed += 1) {
      const summary = await runSimulation({
        seed,
        nodes: 3,
        durationMs: 5_000,
        clients: 4,
        faults: ['loss', 'crash'],
        corruptWatches: true,
      });
      if (summary.violations.some((v) => v.startsWith('watch '))) caught.push(seed);
    }
    assert.ok(caught.length > 0, 'some seed shows the lost changes');
  });

  it('reports a missing, a repeated and a reordered change, and accepts the exact list', () => {
    const machine = new KvStateMachine();
    const put = (index: number, key: string): void => {
      const command = encodeKvCommand({
        session: null,
        timeMs: 0,
        op: 'put',
        key,
        value: Buffer.from(key),
        returnPrevious: false,
      });
      machine.apply({ index: index, term: 1, type: 'command', command });
    };
    put(1, 'a/1');
    put(2, 'b/1');
    put(3, 'a/2');
    put(4, 'a/3');
    const e = (key: string, revision: number): WatchEventDocument => ({ type: 'put', key, value: key, revision });
    const reader = { readLocal: (q: Uint8Array) => machine.query(q) };
    assert.deepEqual(checkWatchers(reader, [watcher([e('a/1', 1), e('a/2', 3), e('a/3', 4)], 4)], 4), []);
    for (const wrong of [
      [e('a/1', 1), e('a/3', 4)],
      [e('a/1', 1), e('a/2', 3), e('a/2', 3), e('a/3', 4)],
      [e('a/2', 3), e('a/1', 1), e('a/3', 4)],
    ]) {
      const violations = checkWatchers(reader, [watcher(wrong, 4)], 4);
      assert.equal(violations.length, 1, JSON.stringify(wrong));
      assert.match(violations[0] ?? '', /^watch w0 .* were committed; first difference/);
    }
    assert.match(checkWatchers(reader, [watcher([e('a/1', 1)], 1)], 4)[0] ?? '', /did not catch up/);
    assert.equal(watchersCaughtUp(reader, [watcher([e('a/1', 1)], 1)]), false);
    assert.equal(watchersCaughtUp(reader, [watcher([e('a/1', 1), e('a/2', 3)], 3)]), false);
    // A watch on 'a/' at 4 lacks nothing; on 'b/' at 2 (b/1's revision) neither; nor one not yet started.
    assert.equal(watchersCaughtUp(reader, [watcher([], 4)]), true);
    assert.equal(watchersCaughtUp(reader, [{ ...watcher([], 2), target: { prefix: 'b/', exact: false } }]), true);
    assert.equal(watchersCaughtUp(reader, [{ ...watcher([], 0), start: -1 }]), true);
  });
});
