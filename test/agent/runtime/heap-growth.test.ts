// Proves the heap's growth by entry size (agent/runtime/heap-growth.ts, issue 16). The growth
// becomes LARGE_PERCENT once a window of WINDOW_ENTRIES applied entries has a mean command size of
// LARGE_ENTRY_BYTES or more, goes back to the base once a window's mean is below SMALL_ENTRY_BYTES,
// and stays as it is between the two; the flag is set only when the growth changes. In child Nodes
// with the unit's heap flags: raised at run time, it acts from the next full collection (fewer of
// them, for a heap of an agent's size whose objects die old); and a flag set at run time
// goes into the cached data made after it (V8 hashes the flags in force), which a start at the base
// then refuses: so the agent changes it only once its code caches are written (code-cache.ts).
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as fc from 'fast-check';
import {
  HeapGrowth,
  LARGE_ENTRY_BYTES,
  LARGE_PERCENT,
  SMALL_ENTRY_BYTES,
  WINDOW_ENTRIES,
} from '../../../agent/runtime/heap-growth.js';
import { HEAP_GROWING_PERCENT } from '../../../agent/runtime/v8-flags.js';
import { NoopMetrics } from '../../../agent/observability/noop.js';
import { fcParams } from '../../fc-params.js';
import { fullCollectionsOf } from './fixtures/objects-dying-old.js';

const KIB = 1024;

function growth(): { readonly growth: HeapGrowth; readonly set: string[] } {
  const set: string[] = [];
  return {
    growth: new HeapGrowth({ setFlags: (flags) => set.push(flags), metrics: new NoopMetrics(), mayChange: () => true }),
    set,
  };
}

/** Notes one window of entries, all of `bytes`. */
function window(heap: HeapGrowth, bytes: number): void {
  for (let i = 0; i < WINDOW_ENTRIES; i += 1) heap.noteEntry(bytes);
}

/** Runs `script` in a child Node with `args`; returns its stdout. */
function child(script: string, args: readonly string[]): string {
  const result = spawnSync(process.execPath, ['-e', script, ...args], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

/**
 * argv[1] 'read': prints whether V8 refused the cached data in file argv[2]. 'changed' or 'same':
 * writes there the cached data of a script, made after the growth was set at run time to another
 * value, or to the same.
 */
const CODE_CACHE = `
const vm = require('node:vm');
const v8 = require('node:v8');
const fs = require('node:fs');
const [mode, file] = process.argv.slice(1);
v8.setFlagsFromString('--heap-growing-percent=${HEAP_GROWING_PERCENT}');
const source = 'function f(a) { return a + 1; } f(1);';
if (mode === 'read') {
  process.stdout.write(String(new vm.Script(source, { cachedData: fs.readFileSync(file) }).cachedDataRejected));
} else {
  const percent = mode === 'changed' ? ${LARGE_PERCENT} : ${HEAP_GROWING_PERCENT};
  new vm.Script('1').createCachedData();
  v8.setFlagsFromString('--heap-growing-percent=' + percent);
  fs.writeFileSync(file, new vm.Script(source).createCachedData());
}
`;

describe('heap growth by entry size', function () {
  this.timeout(120_000);

  it('starts at the base and sets nothing while entries stay small', () => {
    const { growth: heap, set } = growth();
    assert.equal(heap.percent(), HEAP_GROWING_PERCENT);
    for (let i = 0; i < 10; i += 1) window(heap, 4 * KIB);
    assert.deepEqual(set, []);
  });

  it('takes the large growth after a window of large entries, once, and the base again after small ones', () => {
    const { growth: heap, set } = growth();
    for (let i = 0; i < WINDOW_ENTRIES - 1; i += 1) heap.noteEntry(64 * KIB);
    assert.deepEqual(set, [], 'no decision before the window is full');
    heap.noteEntry(64 * KIB);
    assert.deepEqual(set, [`--heap-growing-percent=${LARGE_PERCENT}`]);
    assert.equal(heap.percent(), LARGE_PERCENT);
    window(heap, 64 * KIB);
    window(heap, SMALL_ENTRY_BYTES);
    assert.equal(set.length, 1, 'set only when the growth changes, and kept down to the small bound');
    window(heap, SMALL_ENTRY_BYTES - 1);
    assert.deepEqual(set, [
      `--heap-growing-percent=${LARGE_PERCENT}`,
      `--heap-growing-percent=${HEAP_GROWING_PERCENT}`,
    ]);
    assert.equal(heap.percent(), HEAP_GROWING_PERCENT);
  });

  it("decides on a window's mean: one large entry among small ones can tip it, just below the bound does not", () => {
    const { growth: heap, set } = growth();
    window(heap, LARGE_ENTRY_BYTES - 1);
    assert.deepEqual(set, []);
    for (let i = 0; i < WINDOW_ENTRIES - 1; i += 1) heap.noteEntry(0);
    heap.noteEntry(LARGE_ENTRY_BYTES * WINDOW_ENTRIES);
    assert.equal(heap.percent(), LARGE_PERCENT);
  });

  // The property: after each window the growth is the one that window's mean and the growth before it give, and the
  // flag was set exactly when the growth changed, to the new growth.
  it('property: each window ends with the growth its mean and the one before give; set only on a change', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 96 * KIB }), { maxLength: 12 * WINDOW_ENTRIES }), (sizes) => {
        const { growth: heap, set } = growth();
        let large = false;
        let flags = 0;
        sizes.forEach((bytes, i) => {
          heap.noteEntry(bytes);
          if ((i + 1) % WINDOW_ENTRIES !== 0) return;
          const chunk = sizes.slice(i + 1 - WINDOW_ENTRIES, i + 1);
          const mean = chunk.reduce((a, b) => a + b, 0) / WINDOW_ENTRIES;
          const was = large;
          large = mean >= LARGE_ENTRY_BYTES || (was && mean >= SMALL_ENTRY_BYTES);
          if (large !== was) flags += 1;
          assert.equal(heap.percent(), large ? LARGE_PERCENT : HEAP_GROWING_PERCENT);
          assert.equal(set.length, flags);
          if (large !== was) assert.equal(set.at(-1), `--heap-growing-percent=${heap.percent()}`);
        });
      }),
      fcParams(200, 'heap growth follows the window means'),
    );
  });

  it('raised at run time, acts from the next full collection: fewer of them (child Node, unit heap flags)', () => {
    const growth = (percent: number): number =>
      fullCollectionsOf({
        startFlags: [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`],
        laterFlags: [`--heap-growing-percent=${percent}`],
        keep: 60_000,
      });
    const base = growth(HEAP_GROWING_PERCENT);
    const large = growth(LARGE_PERCENT);
    assert.ok(base > 0, `the load runs full collections (${base})`);
    assert.ok(large < base, `fewer full collections at ${LARGE_PERCENT} % (${large}) than at the base (${base})`);
  });

  // So the agent changes it only once its caches are written (v8-flags.ts openRuntimeFlags).
  it('set at run time, goes into the cached data made after it, which a start at the base refuses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-heap-growth-'));
    try {
      const file = join(dir, 'cache');
      child(CODE_CACHE, ['changed', file]);
      assert.equal(child(CODE_CACHE, ['read', file]), 'true', 'a start at the base refuses it');
      child(CODE_CACHE, ['same', file]);
      assert.equal(child(CODE_CACHE, ['read', file]), 'false', 'the control: made at the base, it is used');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
