// Proves the chaos harness's own checks on hand-made inputs: traces that agree pass and traces
// that apply different entries at one index fail; a replay after a restart line passes and the
// same replay without it fails; a final value that is the last acknowledged
// write (or a write concurrent with it, or of unknown outcome) passes, and a lost acknowledged
// write fails.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { HistoryOperation } from '../../agent/sim/history.js';
import { checkAcknowledgedWrites, compareTraces } from './checks.js';

function apply(node: string, index: number, term: number, digest: string): string {
  return JSON.stringify({ t: index, type: 'apply', node, index, term, digest });
}

function write(
  client: string,
  id: number,
  value: string | null,
  invokeMs: number,
  completeMs: number,
  status: 'ok' | 'info' | 'fail' = 'ok',
): HistoryOperation {
  return {
    client,
    id,
    op: value === null ? 'delete' : 'put',
    key: 'k',
    value,
    output: null,
    invokeMs,
    completeMs: status === 'info' ? Infinity : completeMs,
    status,
  };
}

describe('chaos checks', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-chaos-checks-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts traces that agree, skipping a line cut short', () => {
    writeFileSync(join(dir, 'a'), [apply('a', 1, 1, 'x'), apply('a', 2, 1, 'y'), '{"t":3,"ty'].join('\n'));
    writeFileSync(
      join(dir, 'b'),
      [
        apply('b', 1, 1, 'x'),
        JSON.stringify({ type: 'leader', term: 2 }),
        apply('b', 2, 1, 'y'),
        apply('b', 3, 2, 'z'),
      ].join('\n'),
    );
    const check = compareTraces(
      new Map([
        ['a', join(dir, 'a')],
        ['b', join(dir, 'b')],
      ]),
    );
    assert.deepEqual(check.violations, []);
    assert.equal(check.indexesCompared, 2);
    assert.equal(check.linesSkipped, 1);
    assert.deepEqual(check.lastApplied, { a: 2, b: 3 });
  });

  it('rejects traces that apply different entries at one index', () => {
    writeFileSync(join(dir, 'a'), [apply('a', 1, 1, 'x'), apply('a', 2, 1, 'y')].join('\n'));
    writeFileSync(join(dir, 'b'), [apply('b', 1, 1, 'x'), apply('b', 2, 2, 'w')].join('\n'));
    const check = compareTraces(
      new Map([
        ['a', join(dir, 'a')],
        ['b', join(dir, 'b')],
      ]),
    );
    assert.equal(check.violations.length, 1);
    assert.match(check.violations[0] ?? '', /^index 2:/);
  });

  it('accepts a node that re-applies after its restart line, and rejects the same re-apply without it', () => {
    const restart = JSON.stringify({ t: 0, type: 'restart', node: 'a' });
    const snapshot = JSON.stringify({ t: 0, type: 'snapshot', node: 'a', index: 1, term: 1 });
    writeFileSync(
      join(dir, 'a'),
      [restart, apply('a', 1, 1, 'x'), apply('a', 2, 1, 'y'), restart, snapshot, apply('a', 2, 1, 'y')].join('\n'),
    );
    const replayed = compareTraces(new Map([['a', join(dir, 'a')]]));
    assert.deepEqual(replayed.violations, []);
    writeFileSync(
      join(dir, 'a'),
      [restart, apply('a', 1, 1, 'x'), apply('a', 2, 1, 'y'), apply('a', 2, 1, 'y')].join('\n'),
    );
    const doubled = compareTraces(new Map([['a', join(dir, 'a')]]));
    assert.equal(doubled.violations.length, 1);
    assert.match(doubled.violations[0] ?? '', /^a applied index 2 twice/);
  });

  it('accepts the last acknowledged write, a concurrent one, or one of unknown outcome', () => {
    const ops = [
      write('c1', 1, 'a', 0, 10),
      write('c2', 2, 'b', 20, 30),
      write('c3', 3, 'c', 25, 40),
      write('c4', 4, 'd', 50, 0, 'info'),
    ];
    for (const final of ['b', 'c', 'd'])
      assert.deepEqual(checkAcknowledgedWrites(ops, new Map([['k', final]])), [], final);
  });

  it('rejects a lost acknowledged write, and a failed write as the final value', () => {
    const ops = [
      write('c1', 1, 'a', 0, 10),
      write('c2', 2, 'b', 20, 30),
      write('c3', 3, 'x', 25, 26, 'fail'),
      write('c4', 4, null, 40, 45),
    ];
    assert.equal(checkAcknowledgedWrites(ops, new Map([['k', 'b']])).length, 1);
    assert.equal(checkAcknowledgedWrites(ops, new Map([['k', 'x']])).length, 1);
    assert.deepEqual(checkAcknowledgedWrites(ops, new Map([['k', null]])), []);
  });
});
