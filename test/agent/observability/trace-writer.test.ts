// Proves the restart marks of `coraft agent --trace`: a run's first line is its `restart`, then
// a `snapshot` line when it restored one from its disk; a second run appends its own `restart`;
// and a line the previous run left cut short (killed mid-write) cannot swallow it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TraceWriter } from '../../../agent/observability/trace-writer.js';

const CONFIG = { voters: ['n1'], learners: [], oldVoters: null, members: [] };

function lines(file: string): Record<string, unknown>[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('TraceWriter: restarts', () => {
  let dir = '';
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-trace-writer-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes restart first, then the snapshot restored from disk, and appends a new run after the old', async () => {
    const file = join(dir, 'trace.jsonl');
    const first = new TraceWriter(file, 'n1', () => 1);
    first.onRestart(null);
    first.onApply({ index: 1, term: 1, type: 'command', command: new Uint8Array([1]) });
    await first.close();
    const second = new TraceWriter(file, 'n1', () => 2);
    second.onRestart({ lastIncludedIndex: 7, lastIncludedTerm: 3, configuration: CONFIG });
    await second.close();
    assert.deepEqual(
      lines(file).map((e) => [e.t, e.type, e.index ?? null]),
      [
        [1, 'restart', null],
        [1, 'apply', 1],
        [2, 'restart', null],
        [2, 'snapshot', 7],
      ],
    );
    assert.deepEqual(lines(file)[3], { t: 2, type: 'snapshot', node: 'n1', index: 7, term: 3 });
  });

  it('starts on a new line when the last run left a line cut short', async () => {
    const file = join(dir, 'trace.jsonl');
    writeFileSync(file, '{"t":1,"type":"apply","node":"n1","index":1,"term":1,"dig');
    const writer = new TraceWriter(file, 'n1', () => 5);
    writer.onRestart(null);
    await writer.close();
    const text = readFileSync(file, 'utf8').split('\n');
    assert.equal(text.length, 3);
    assert.deepEqual(JSON.parse(text[1] ?? ''), { t: 5, type: 'restart', node: 'n1' });
    assert.equal(text[2], '');
  });
});
