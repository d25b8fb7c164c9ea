// Proves the V8 flags the agent sets on itself (agent/runtime/v8-flags.ts): set at run time, as the
// agent does, they act as they do on the command line (the same count of full collections under
// the same growing heap, fewer than V8's own growth gives), and V8 keeps running.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { AGENT_V8_FLAGS, applyAgentV8Flags } from '../../../agent/runtime/v8-flags.js';

/** A heap that keeps growing and dying old; prints the full collections it took. */
const WORKLOAD = `
const flags = JSON.parse(process.argv[1]);
for (const f of flags) require('node:v8').setFlagsFromString(f);
const { PerformanceObserver, constants } = require('node:perf_hooks');
let full = 0;
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full += 1;
}).observe({ entryTypes: ['gc'] });
const keep = new Array(150000);
let k = 0;
let t = 0;
(function step() {
  for (let i = 0; i < 2000; i += 1) keep[k++ % keep.length] = { a: Buffer.alloc(16), b: 'x' + i + t };
  if (++t < 800) setImmediate(step);
  else setTimeout(() => process.stdout.write(String(full)), 20);
})();
`;

function fullCollections(nodeFlags: readonly string[], runtimeFlags: readonly string[]): number {
  // Single-threaded GC: without concurrent marking the counts do not depend on how busy the machine is (with it,
  // a loaded CI run counted 21 against 20).
  const heap = ['--max-old-space-size=87', '--max-semi-space-size=4', '--single-threaded-gc'];
  const result = spawnSync(process.execPath, [...heap, ...nodeFlags, '-e', WORKLOAD, JSON.stringify(runtimeFlags)], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  return Number(result.stdout);
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
