// Proves the witness settings of agent.json and `cluster init`: `cluster init --nodes 2
// --witnesses 1` writes two full members and a witness (n3, marked "witness": true in every
// members list), each agent.json resolves to the same witness list and n3 alone knows it is the
// witness; a joiner witness is told so by the top-level "witness"; and agent.json with witnesses
// that make up a quorum (or a bad witness field) is refused with a message naming members.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import { resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { initCluster, runClusterCommand } from '../../../agent/cli/cluster-init.js';
import { ConfigError } from '../../../contracts/errors.js';
import { makeTempDir, removeDir } from '../../storage/helpers.js';

function problemsOf(raw: unknown, file: string): readonly string[] {
  try {
    resolveAgentConfig(raw, file);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('agent.json: witnesses', () => {
  let dir: string;

  beforeEach(() => {
    dir = makeTempDir('coraft-witness-config-');
  });

  afterEach(() => removeDir(dir));

  it('cluster init --nodes 2 --witnesses 1 writes two members and a witness', async () => {
    const write = sinon.stub(process.stdout, 'write').returns(true);
    try {
      assert.equal(await runClusterCommand(['init', '--nodes', '2', '--witnesses', '1', '--dir', dir]), 0);
    } finally {
      write.restore();
    }
    const printed = write
      .getCalls()
      .map((c) => String(c.args[0]))
      .join('');
    assert.match(printed, /n3: witness /);
    for (const id of ['n1', 'n2', 'n3']) {
      const file = join(dir, id, 'agent.json');
      const raw: unknown = JSON.parse(readFileSync(file, 'utf8'));
      const members = (raw as { members: { id: string; witness?: boolean }[] }).members;
      assert.deepEqual(
        members.map((m) => [m.id, m.witness === true]),
        [
          ['n1', false],
          ['n2', false],
          ['n3', true],
        ],
      );
      const config = resolveAgentConfig(raw, file);
      assert.deepEqual(config.witnesses, ['n3']);
      assert.equal(config.witness, id === 'n3');
    }
  });

  it('tells a joiner witness it is one with the top-level witness field', () => {
    const nodes = initCluster({
      dir,
      nodes: 2,
      witnesses: 1,
      initialMembers: 2,
      basePort: 6100,
      transport: 'coaps',
      storage: 'wal',
      force: true,
    });
    const joiner = nodes.find((n) => n.id === 'n3');
    assert.ok(joiner?.witness);
    const raw: unknown = JSON.parse(readFileSync(joiner.config, 'utf8'));
    assert.equal((raw as { witness?: boolean }).witness, true);
    const config = resolveAgentConfig(raw, joiner.config);
    assert.equal(config.witness, true);
    assert.deepEqual(config.witnesses, []);
  });

  it('refuses witnesses that make up a quorum, and a witness field that is not a boolean', () => {
    assert.throws(
      () =>
        initCluster({ dir, nodes: 1, witnesses: 2, basePort: 6100, transport: 'coaps', storage: 'wal', force: true }),
      /--witnesses: witnesses make up a quorum/,
    );
    initCluster({ dir, nodes: 2, witnesses: 1, basePort: 6100, transport: 'coaps', storage: 'wal', force: true });
    const file = join(dir, 'n1', 'agent.json');
    const raw = JSON.parse(readFileSync(file, 'utf8')) as { members: { id: string; witness?: unknown }[] };
    const two = { ...raw, members: raw.members.map((m) => (m.id === 'n1' ? m : { ...m, witness: true })) };
    assert.match(problemsOf(two, file).join('\n'), /members: witnesses make up a quorum of the voters/);
    const bad = { ...raw, members: raw.members.map((m) => ({ ...m, witness: 'yes' })) };
    assert.match(problemsOf(bad, file).join('\n'), /witness/);
  });
});
