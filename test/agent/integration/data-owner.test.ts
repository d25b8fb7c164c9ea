/**
 * Proves with the real CLI (`npm run build` first) that an agent serves only its own data folder
 * (agent/runtime/data-owner.ts): its first start records the folder as its node's, of its
 * cluster; another member's agent pointed at that folder (a copy, a mixed-up path) and the same
 * node id of another cluster are refused before the storage opens, with exit 78 (EX_CONFIG, which
 * the unit's RestartPreventExitStatus does not restart) and one line naming both owners and what
 * to do; a folder of an older version (no record) is adopted with an info line and protected
 * from then on; a damaged record is refused with exit 74 and left as it was. The nodes come from
 * `coraft cluster init` (coaps, wal), on free loopback ports.
 */
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORAFT_BIN, findFreePorts } from '../../../agent/cli/agent-processes.js';
import { EXIT } from '../../../agent/runtime/agent.js';
import { coraft, waitFor, type Run } from './helpers.js';

/** Starts `coraft agent --config FILE`, stops it with SIGTERM once it is ready; returns its run. */
async function startAndStop(config: string): Promise<Run> {
  const child = spawn(process.execPath, [CORAFT_BIN, 'agent', '--config', config], { stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const closed = new Promise<number | null>((resolve) => child.once('close', resolve));
  try {
    await waitFor('agent ready', () => stdout.includes('"agent ready"'), 20_000, 50);
  } finally {
    child.kill('SIGTERM');
  }
  return { code: await closed, stdout, stderr };
}

/** Writes `config` again with `fields` changed. */
function edit(config: string, fields: Readonly<Record<string, unknown>>): void {
  const parsed = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
  writeFileSync(config, JSON.stringify({ ...parsed, ...fields }));
}

describe('agent integration: the data folder is its own node’s', function () {
  this.timeout(60_000);
  let dir: string;
  let folder: string;
  let clusterA: string;

  before(async function () {
    dir = mkdtempSync(join(tmpdir(), 'coraft-owner-'));
    const ports = await findFreePorts(6);
    for (const [name, nodes, port] of [
      ['a', '2', ports],
      ['b', '1', ports + 4],
    ] as const) {
      const init = await coraft(
        'cluster',
        'init',
        '--nodes',
        nodes,
        '--dir',
        join(dir, name),
        '--base-port',
        `${port}`,
      );
      assert.equal(init.code, 0, init.stderr);
    }
    clusterA = (JSON.parse(readFileSync(join(dir, 'a', 'n1', 'agent.json'), 'utf8')) as { cluster: string }).cluster;
    folder = join(dir, 'a', 'n1', 'data');
  });

  after(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('records the folder as its node’s on the first start', async function () {
    const run = await startAndStop(join(dir, 'a', 'n1', 'agent.json'));
    assert.equal(run.code, EXIT.ok, run.stderr);
    assert.match(run.stdout, /had no owner record; recorded it as this node's/);
    const record = JSON.parse(readFileSync(join(folder, 'owner.json'), 'utf8')) as unknown;
    assert.deepEqual(record, { format: 1, cluster: clusterA, nodeId: 'n1' });
  });

  it('refuses another member’s folder with exit 78 and one line naming both', async function () {
    const config = join(dir, 'a', 'n2', 'agent.json');
    edit(config, { dataDir: folder });
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config, run.stderr);
    const line =
      `dataDir: data folder ${folder} belongs to node n1 of cluster ${clusterA}, ` +
      `this agent is node n2 of cluster ${clusterA}: point dataDir at n2's own folder\n`;
    assert.ok(run.stderr.includes(line), run.stderr);
    assert.equal(existsSync(join(dir, 'a', 'n2', 'data')), false);
  });

  it('refuses the folder of the same node id of another cluster with exit 78', async function () {
    const config = join(dir, 'b', 'n1', 'agent.json');
    edit(config, { dataDir: folder });
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config, run.stderr);
    assert.match(
      run.stderr,
      new RegExp(`belongs to node n1 of cluster ${clusterA}, this agent is node n1 of cluster local-`),
    );
    assert.match(run.stderr, /point dataDir at n1's folder of this cluster/);
  });

  it('adopts a folder of an older version (no record), then protects it', async function () {
    rmSync(join(folder, 'owner.json'));
    const run = await startAndStop(join(dir, 'a', 'n1', 'agent.json'));
    assert.equal(run.code, EXIT.ok, run.stderr);
    const adopted = run.stdout.split('\n').find((line) => line.includes('had no owner record'));
    assert.ok(adopted !== undefined, run.stdout);
    assert.equal((JSON.parse(adopted) as { level: unknown }).level, 30, 'logged at info');
    const other = await coraft('agent', '--config', join(dir, 'a', 'n2', 'agent.json'));
    assert.equal(other.code, EXIT.config, other.stderr);
    assert.match(other.stderr, /belongs to node n1 of cluster .*, this agent is node n2/);
  });

  it('refuses a damaged record with exit 74 and does not rewrite it', async function () {
    for (const text of ['', '{"nodeId": "n1"']) {
      writeFileSync(join(folder, 'owner.json'), text);
      const run = await coraft('agent', '--config', join(dir, 'a', 'n1', 'agent.json'));
      assert.equal(run.code, EXIT.ioError, run.stderr);
      assert.match(run.stderr, /owner\.json is damaged .* it is not rewritten/);
      assert.equal(readFileSync(join(folder, 'owner.json'), 'utf8'), text);
    }
  });
});
