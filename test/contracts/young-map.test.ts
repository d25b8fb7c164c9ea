// Proves why contracts/young-map.ts exists and what it does: an old Map that takes and drops
// short-lived entries allocates its new hash tables in V8's old generation, so the churn alone
// drives full collections, while the same churn on a Map swapped for a fresh one whenever it is
// empty drives few; and youngIfEmpty swaps exactly the empty Maps.
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { youngIfEmpty } from '../../contracts/young-map.js';

/** One entry in and out of a Map that lived through two full collections, a million times. */
const CHURN = `
const { PerformanceObserver, constants } = require('node:perf_hooks');
let full = 0;
new PerformanceObserver((l) => {
  for (const e of l.getEntries()) if (e.detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full += 1;
}).observe({ entryTypes: ['gc'] });
let map = new Map();
gc();
gc();
full = 0;
const swap = process.argv[1] === 'swap';
let k = 0;
(function step(round) {
  for (let i = 0; i < 50000; i += 1) {
    k += 1;
    map.set(k, i);
    map.delete(k);
    if (swap && map.size === 0) map = new Map();
  }
  if (round < 20) setImmediate(() => step(round + 1));
  else setTimeout(() => process.stdout.write(String(full)), 20);
})(0);
`;

function fullCollections(mode: 'keep' | 'swap'): number {
  const flags = ['--expose-gc', '--single-threaded-gc', '--max-semi-space-size=4', '--max-old-space-size=87'];
  const result = spawnSync(process.execPath, [...flags, '-e', CHURN, mode], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  return Number(result.stdout);
}

describe('youngIfEmpty', function () {
  this.timeout(120_000);

  it("keeps an old Map's churn out of the old generation", () => {
    const kept = fullCollections('keep');
    const swapped = fullCollections('swap');
    // Measured: 12 against 2 (the 2 are V8's own, at start-up).
    assert.ok(kept >= 8, `the old Map's churn alone ran full collections (${kept})`);
    assert.ok(swapped * 3 <= kept, `swapped when empty, the same churn ran few (${swapped} against ${kept})`);
  });

  it('swaps only an empty Map', () => {
    const full = new Map([[1, 'a']]);
    assert.equal(youngIfEmpty(full), full);
    const empty = new Map<number, string>();
    const fresh = youngIfEmpty(empty);
    assert.notEqual(fresh, empty);
    assert.equal(fresh.size, 0);
  });
});
