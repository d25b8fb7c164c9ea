// Proves the V8 flags the agent sets on itself (agent/runtime/v8-flags.ts): set at run time, as the
// agent does, they act as they do on the command line (the same count of full collections under
// the same growing heap, fewer than V8's own growth gives), and V8 keeps running.
import { strict as assert } from 'node:assert';
import { AGENT_V8_FLAGS, applyAgentV8Flags } from '../../../agent/runtime/v8-flags.js';
import { fullCollectionsOf } from './fixtures/objects-dying-old.js';

function fullCollections(nodeFlags: readonly string[], startFlags: readonly string[]): number {
  return fullCollectionsOf({ nodeFlags, startFlags, keep: 150_000 });
}

describe('V8 flags the agent sets on itself', function () {
  this.timeout(120_000);

  it('act at run time as on the command line', () => {
    const own = fullCollections([], []);
    const atRunTime = fullCollections([], AGENT_V8_FLAGS);
    const onCommandLine = fullCollections(AGENT_V8_FLAGS, []);
    assert.ok(own > 0 && atRunTime > 0);
    assert.equal(atRunTime, onCommandLine);
    assert.ok(atRunTime < own, `fewer full collections with the flags (${atRunTime}) than without (${own})`);
  });

  it('are applied one by one through the setter given, unless the command line sets one itself', () => {
    const set: string[] = [];
    applyAgentV8Flags((flag) => set.push(flag), ['--max-old-space-size=87']);
    assert.deepEqual(set, [...AGENT_V8_FLAGS]);
    set.length = 0;
    applyAgentV8Flags((flag) => set.push(flag), ['--heap-growing-percent=80', '--expose-gc']);
    applyAgentV8Flags((flag) => set.push(flag), ['--heap_growing_percent=80', '--expose_gc']);
    assert.deepEqual(set, [], "the operator's own value wins");
  });
});
