/**
 * Proves, on a real agent process (coaps, LMDB) with `--trace`, that a restart is in the trace:
 * the first line of each run is its `restart`, the second run's next line is the `snapshot` it
 * restored from its disk, and the entries it then re-applies start right after that snapshot.
 * The project's trace checker passes the whole file (with those replays) and fails the same
 * file once the restart lines are taken out.
 */
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { adminKeyFile } from '../../../agent/cli/cluster-init.js';
import { checkTraceText } from '../../../agent/sim/trace-check.js';
import { coraft, endpointOf, startCluster } from './helpers.js';

interface Line {
  readonly type: string;
  readonly node: string;
  readonly index?: number;
}

describe('agent integration: --trace marks restarts', function () {
  this.timeout(90_000);
  const dir = mkdtempSync(join(tmpdir(), 'coraft-trace-restart-'));
  const file = join(dir, 'n1.jsonl');
  let cluster: AgentProcesses | null = null;

  after(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts every run with restart, then the snapshot restored from disk, before re-applying', async () => {
    ({ cluster } = await startCluster({ nodes: 1, agentArgs: () => ['--trace', file] }));
    const put = async (key: string): Promise<void> => {
      const run = await coraft('kv', 'put', key, 'v', '--endpoint', endpointOf(cluster as AgentProcesses, 'n1'));
      assert.equal(run.code, 0, run.stderr);
    };
    for (const key of ['a', 'b', 'c']) await put(key);
    const snap = await coraft(
      'snapshot',
      '--json',
      '--endpoint',
      endpointOf(cluster, 'n1'),
      '--admin-key',
      adminKeyFile(cluster.dir),
    );
    assert.equal(snap.code, 0, snap.stderr);
    const snapshotIndex = (JSON.parse(snap.stdout) as { snapshotIndex: number }).snapshotIndex;
    for (const key of ['d', 'e']) await put(key);
    assert.equal(await cluster.signal('n1', 'SIGTERM'), 0);
    cluster.start('n1');
    await cluster.waitForLeader(30_000);
    await put('f');
    assert.equal(await cluster.signal('n1', 'SIGTERM'), 0);

    const text = readFileSync(file, 'utf8');
    const lines = text
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as Line);
    assert.deepEqual([lines[0]?.type, lines[0]?.node], ['restart', 'n1'], 'the first line is the restart');
    const second = lines.findIndex((l, i) => i > 0 && l.type === 'restart');
    assert.ok(second > 0, 'the second run starts with its own restart line');
    assert.deepEqual([lines[second + 1]?.type, lines[second + 1]?.index], ['snapshot', snapshotIndex]);
    const reapplied = lines
      .slice(second)
      .filter((l) => l.type === 'apply')
      .map((l) => l.index);
    assert.equal(reapplied[0], snapshotIndex + 1, 're-applying starts right after the restored snapshot');

    const report = checkTraceText(text);
    assert.deepEqual(report.violations, []);
    assert.equal(report.restarts, 2);
    assert.ok(report.replays >= 2, 'the entries after the snapshot (d, e) were re-applied');
    const stripped = checkTraceText(
      text
        .split('\n')
        .filter((l) => !l.includes('"type":"restart"'))
        .join('\n'),
    );
    assert.ok(stripped.violationCount >= 2, 'without the restart lines the replays are double applies');
  });
});
