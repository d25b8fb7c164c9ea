// Proves the pieces of the libcoap chaos workload (issue 13) and runs a short round of it:
// - coap-client's output is read right (it exits 0 whatever happens): a payload is a 2.xx, a
//   `d.dd diagnostic` line an error, silence no answer, and its own log lines are no payload;
//   a write's 4.xx is a `fail`, its 5.xx or silence `info`; a read's 4.04 is an absent key.
// - the replay check catches a put that took effect twice, and accepts a retry the state
//   machine answered from its session (same revision); after compaction it starts from the
//   node's snapshot (KV image beside the trust state);
// - a short round (12 s; the 45-second rounds are `npm run chaos -- --workload libcoap
//   --seconds 45 --repeat 20`) of real coap-client processes against three agents whose leader is
//   killed and restarted and a follower paused passes every check. Needs `npm run build`;
//   skipped without coap-client-notls.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LogEntry } from '../../contracts/log.js';
import { KvStateMachine, encodeKvCommand } from '../../agent/kv/index.js';
import { encodeNodeState } from '../../agent/trust/trust-codec.js';
import type { KvSession } from '../../agent/kv/index.js';
import { WalPersistenceEngine } from '../../storage/wal/wal-engine.js';
import { runChaos } from './harness.js';
import { LIBCOAP_CLIENT, parseLibcoapOutput, readCompletion, writeCompletion } from './libcoap-clients.js';
import { checkSingleApply } from './single-apply.js';
import { formatSummary } from './summary.js';

function putEntry(index: number, value: string, session: KvSession | null): LogEntry {
  return {
    term: 1,
    index,
    type: 'command',
    command: encodeKvCommand({
      op: 'put',
      key: 'k',
      value: new TextEncoder().encode(value),
      returnPrevious: false,
      session,
      timeMs: index,
    }),
  };
}

async function writeLog(dir: string, entries: readonly LogEntry[]): Promise<void> {
  const engine = await WalPersistenceEngine.open({ path: join(dir, 'data'), createDirectory: true });
  await engine.persist({
    snapshot: null,
    truncateFrom: null,
    entries,
    compactBefore: null,
    hardState: { currentTerm: 1, votedFor: null },
  });
  await engine.close();
}

function hasLibcoap(): boolean {
  try {
    execFileSync(LIBCOAP_CLIENT, ['-h'], { stdio: 'ignore', timeout: 5000 });
    return true;
  } catch (error) {
    return !(error instanceof Error && 'code' in error && error.code === 'ENOENT');
  }
}

describe('libcoap chaos workload', function () {
  this.timeout(120_000);

  it('reads coap-client output: payloads, error lines, silence, log lines', () => {
    assert.deepEqual(parseLibcoapOutput('{"revision":3}\n', ''), { kind: 'success', payload: '{"revision":3}' });
    assert.deepEqual(parseLibcoapOutput('', '5.03 no leader\n'), {
      kind: 'error',
      code: '5.03',
      diagnostic: 'no leader',
    });
    assert.deepEqual(parseLibcoapOutput('', '4.04\n'), { kind: 'error', code: '4.04', diagnostic: '' });
    assert.deepEqual(parseLibcoapOutput('', ''), { kind: 'none' });
    assert.deepEqual(
      parseLibcoapOutput('Dec 03 09:30:08.762 WARN ** 127.0.0.1:48109 <-> 127.0.0.1:1 UDP : ICMP\n', ''),
      { kind: 'none' },
    );
    assert.deepEqual(parseLibcoapOutput('Dec 03 09:30:08.762 WARN ** x\nv9\n', ''), { kind: 'success', payload: 'v9' });
    assert.deepEqual(writeCompletion({ kind: 'error', code: '4.00', diagnostic: '' }), { type: 'fail' });
    assert.deepEqual(writeCompletion({ kind: 'error', code: '5.04', diagnostic: '' }), { type: 'info' });
    assert.deepEqual(writeCompletion({ kind: 'none' }), { type: 'info' });
    assert.deepEqual(readCompletion({ kind: 'error', code: '4.04', diagnostic: '' }), { type: 'ok', value: null });
    assert.deepEqual(readCompletion({ kind: 'none' }), { type: 'fail' });
  });

  it('the replay check catches a put that took effect twice and accepts a deduplicated retry', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-single-apply-'));
    try {
      await writeLog(join(dir, 'twice'), [putEntry(1, 'v1', null), putEntry(2, 'v2', null), putEntry(3, 'v1', null)]);
      const session = { clientId: '@n1/b.0', seq: 1, ackedBelow: 1 };
      await writeLog(join(dir, 'once'), [
        putEntry(1, 'v1', session),
        putEntry(2, 'v2', null),
        putEntry(3, 'v1', session),
      ]);
      const twice = await checkSingleApply(new Map([['twice', join(dir, 'twice')]]), 3);
      assert.equal(twice.entriesReplayed, 3);
      assert.deepEqual(twice.violations, ['twice: the put of "v1" took effect twice, at index 1 and again at index 3']);
      const once = await checkSingleApply(new Map([['once', join(dir, 'once')]]), 3);
      assert.deepEqual(once.violations, []);
      assert.equal(once.duplicatesAnswered, 1);
      const cut = await checkSingleApply(new Map([['twice', join(dir, 'twice')]]), 2);
      assert.deepEqual(cut.violations, [], 'entries beyond the index every node applied are not judged');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the replay check starts from a node-state snapshot when the log was compacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'coraft-single-apply-'));
    try {
      const kv = new KvStateMachine();
      kv.apply(putEntry(1, 'v1', null));
      kv.apply(putEntry(2, 'v2', null));
      const configuration = {
        voters: ['n1'],
        learners: [],
        oldVoters: null,
        members: [{ id: 'n1', address: '127.0.0.1:1' }],
      };
      const engine = await WalPersistenceEngine.open({ path: join(dir, 'n1', 'data'), createDirectory: true });
      await engine.persist({
        snapshot: null,
        truncateFrom: null,
        entries: [putEntry(1, 'v1', null), putEntry(2, 'v2', null)],
        compactBefore: null,
        hardState: { currentTerm: 1, votedFor: null },
      });
      const snapshot = {
        lastIncludedIndex: 2,
        lastIncludedTerm: 1,
        configuration,
        data: encodeNodeState(kv.snapshot(), new Uint8Array([0xa0])),
      };
      await engine.persist({
        snapshot,
        truncateFrom: null,
        entries: [putEntry(3, 'v9', null), putEntry(4, 'v9', null)],
        compactBefore: 3,
        hardState: null,
      });
      await engine.close();
      const check = await checkSingleApply(new Map([['n1', join(dir, 'n1')]]), 4);
      assert.equal(check.entriesReplayed, 2);
      assert.deepEqual(check.violations, ['n1: the put of "v9" took effect twice, at index 3 and again at index 4']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('coap-client processes keep every guarantee while the leader is killed and a follower paused', async function () {
    if (!hasLibcoap()) this.skip();
    const summary = await runChaos({
      workload: 'libcoap',
      seed: 20261203,
      nodes: 3,
      clients: 6,
      keyCount: 8,
      durationMs: 12_000,
      leaderKill: { cycles: 1 },
    });
    const text = formatSummary(summary).join('\n');
    assert.ok(summary.ok, text);
    assert.deepEqual(
      summary.faults.map((f) => f.kind),
      ['kill-leader', 'pause'],
      text,
    );
    assert.ok(summary.counts.ok > 20, `only ${summary.counts.ok} operations succeeded\n${text}`);
    assert.ok(summary.entriesReplayed > 0, text);
  });
});
