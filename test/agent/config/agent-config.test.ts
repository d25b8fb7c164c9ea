// Proves that agent.json's log-retention settings (raft.logRetainEntries, logRetainEntriesMax,
// logRetainBytesMax, beside snapshotThresholdBytes) default to the documented values, pass
// through when valid, and are refused with an error that names each bad field and its limit,
// every problem at once. The agent.json under test is the one `cluster init` writes.
import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import sinon from 'sinon';
import { resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { runClusterCommand } from '../../../agent/cli/cluster-init.js';
import { ConfigError } from '../../../contracts/errors.js';
import { PEER_WHOLE_BODY_BYTES_MAX } from '../../../transport/coap/config.js';
import { makeTempDir, removeDir } from '../../storage/helpers.js';

/** Writes a one-node cluster with `cluster init` and returns its agent.json, path and parsed. */
async function initAgentJson(): Promise<{ dir: string; file: string; base: Record<string, unknown> }> {
  const dir = makeTempDir('coraft-agent-config-');
  const write = sinon.stub(process.stdout, 'write').returns(true);
  try {
    assert.equal(await runClusterCommand(['init', '--nodes', '1', '--dir', dir, '--force']), 0);
  } finally {
    write.restore();
  }
  const file = join(dir, 'n1', 'agent.json');
  return { dir, file, base: JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> };
}

/** The problems of the ConfigError (CONFIG_INVALID) that `raw` is refused with. */
function problemsOf(file: string, raw: unknown): readonly string[] {
  try {
    resolveAgentConfig(raw, file);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.problems;
  }
  return assert.fail('the configuration was accepted');
}

describe('agent.json: log retention settings', () => {
  let dir: string;
  let file: string;
  let base: Record<string, unknown>;

  before(async () => ({ dir, file, base } = await initAgentJson()));

  after(() => removeDir(dir));

  function withRaft(raft: Record<string, unknown>): unknown {
    return { ...base, raft };
  }

  it('defaults to 5,000 entries kept, at most 50,000 or 32 MiB, snapshots every 10 MB', () => {
    const raft = resolveAgentConfig(withRaft({}), file).raft;
    assert.equal(raft.logRetainEntries, 5000);
    assert.equal(raft.logRetainEntriesMax, 50_000);
    assert.equal(raft.logRetainBytesMax, 32 * 1024 * 1024);
    assert.equal(raft.snapshotThresholdBytes, 10_000_000);
  });

  it('takes valid settings as given', () => {
    const settings = {
      logRetainEntries: 100,
      logRetainEntriesMax: 100,
      logRetainBytesMax: 0,
      snapshotThresholdBytes: 2048,
    };
    const raft = resolveAgentConfig(withRaft(settings), file).raft;
    assert.deepEqual(
      {
        logRetainEntries: raft.logRetainEntries,
        logRetainEntriesMax: raft.logRetainEntriesMax,
        logRetainBytesMax: raft.logRetainBytesMax,
        snapshotThresholdBytes: raft.snapshotThresholdBytes,
      },
      settings,
    );
  });

  it('refuses a retain count above its bound, naming the field and the limit', () => {
    assert.deepEqual(problemsOf(file, withRaft({ logRetainEntries: 60_000 })), [
      'raft.logRetainEntries: expected an integer from 0 to 50000, got 60000',
    ]);
    assert.deepEqual(problemsOf(file, withRaft({ logRetainEntries: 10, logRetainEntriesMax: 5 })), [
      'raft.logRetainEntries: expected an integer from 0 to 5, got 10',
    ]);
    assert.deepEqual(problemsOf(file, withRaft({ snapshotThresholdBytes: 100 })), [
      `raft.snapshotThresholdBytes: expected an integer from 1024 to ${Number.MAX_SAFE_INTEGER}, got 100`,
    ]);
  });

  it('refuses negative, fractional and non-numeric values, every one of them', () => {
    const problems = problemsOf(
      file,
      withRaft({ logRetainEntries: -1, logRetainEntriesMax: 1.5, logRetainBytesMax: '1' }),
    );
    assert.deepEqual(problems, [
      'raft.logRetainEntries: must be >= 0',
      'raft.logRetainEntriesMax: must be integer',
      'raft.logRetainBytesMax: must be integer',
    ]);
  });
});

// peerWholeBodyBytesMax: the peer client's whole-body limit (one datagram, one DTLS record),
// documented in deploy/README.md; the transport built from the configuration carries it
// (test/agent/runtime/factories.test.ts) and the AOT validator enforces its bounds.
describe('agent.json: peerWholeBodyBytesMax', () => {
  let dir: string;
  let file: string;
  let base: Record<string, unknown>;

  before(async () => ({ dir, file, base } = await initAgentJson()));

  after(() => removeDir(dir));

  it('defaults to one DTLS record (PEER_WHOLE_BODY_BYTES_MAX) and takes a value within 1024..16256', () => {
    assert.equal(resolveAgentConfig(base, file).peerWholeBodyBytesMax, PEER_WHOLE_BODY_BYTES_MAX);
    assert.equal(PEER_WHOLE_BODY_BYTES_MAX, 16_256);
    assert.equal(resolveAgentConfig({ ...base, peerWholeBodyBytesMax: 1152 }, file).peerWholeBodyBytesMax, 1152);
    assert.equal(resolveAgentConfig({ ...base, peerWholeBodyBytesMax: 16_256 }, file).peerWholeBodyBytesMax, 16_256);
  });

  it('refuses a value outside 1024..16256 or not an integer, naming the field', () => {
    assert.deepEqual(problemsOf(file, { ...base, peerWholeBodyBytesMax: 1023 }), [
      'peerWholeBodyBytesMax: must be >= 1024',
    ]);
    assert.deepEqual(problemsOf(file, { ...base, peerWholeBodyBytesMax: 16_257 }), [
      'peerWholeBodyBytesMax: must be <= 16256',
    ]);
    assert.deepEqual(problemsOf(file, { ...base, peerWholeBodyBytesMax: '9000' }), [
      'peerWholeBodyBytesMax: must be integer',
    ]);
  });
});

describe('agent.json from before link keys (one node key, psk.keyFile)', () => {
  let dir: string;
  let file: string;
  let base: Record<string, unknown>;

  before(async () => ({ dir, file, base } = await initAgentJson()));

  after(() => removeDir(dir));

  it('says first that psk.keyFile was removed and to re-provision, though the schema refuses the file', () => {
    // What `cluster init` wrote before link keys: no nodeSecretFile, no cluster, a shared node key.
    const { cluster: _cluster, ...rest } = base;
    const old = { ...rest, psk: { identity: 'n1', keyFile: 'n1.key', keystoreFile: 'keystore.json' } };
    const problems = problemsOf(file, old);
    assert.match(problems[0] ?? '', /^psk\.keyFile: removed; each pair of members has its own link key.*re-provision/);
    assert.ok(problems.includes('psk: missing required field "nodeSecretFile"'), problems.join('\n'));
  });
});
