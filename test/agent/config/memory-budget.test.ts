// Proves the Raft log's memory budget (agent/config/memory-budget.ts, issue 17): when agent.json
// sets none of them, the applied, durable entry bytes the core keeps in memory (logResidentBytes,
// agent/core/log-window.ts) are at most a thirty-second of the V8 heap limit the agent runs with
// and the snapshot trigger's growth a half. Under the shipped unit's Node flags (measured in a
// child Node started with them) the log's resident payloads stay within 1/32 of the heap limit,
// the trigger can grow past the 16-21 MB store of 64 clients x 4 KiB (a cap of 12 MB wrote 1.7-2
// bytes of snapshot per byte of log), and the bytes kept behind a snapshot for a lagging follower
// keep their reference bound (32 MiB: they are on disk, read back when a follower needs them), so
// a follower some seconds behind catches up by appends; under an unflagged Node the reference
// defaults stay; values agent.json sets are kept as given.
import { strict as assert } from 'node:assert';
import { execFileSync } from 'node:child_process';
import { AGENT_RAFT_DEFAULTS, resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { RESIDENT_HEAP_SHARE, SNAPSHOT_HEAP_SHARE, raftDefaultsForHeap } from '../../../agent/config/memory-budget.js';
import { UNIT_NODE_FLAGS } from '../../../agent/fleet/memory-sizing.js';
import { validateRaftConfiguration } from '../../../contracts/raft-configuration.js';
import { rawAgentConfig } from './raw-config.js';

const MIB = 1024 * 1024;
const raw = rawAgentConfig;

/** The V8 heap limit of a Node started with the shipped unit's flags, bytes. */
function unitHeapLimit(): number {
  const script = "process.stdout.write(String(require('node:v8').getHeapStatistics().heap_size_limit))";
  return Number(execFileSync(process.execPath, [...UNIT_NODE_FLAGS, '-e', script], { encoding: 'utf8' }));
}

describe("the Raft log's memory budget", () => {
  it("bounds the log's resident payloads to 1/32 of the heap under the shipped unit's flags", () => {
    const heap = unitHeapLimit();
    assert.ok(heap > 32 * MIB && heap < 192 * MIB, `the unit's heap limit is ${heap}`);
    const { raft } = resolveAgentConfig(raw(), '/etc/coraft/agent.json', heap);
    assert.ok(raft.logResidentBytes <= heap / RESIDENT_HEAP_SHARE, `resident ${raft.logResidentBytes}`);
    assert.ok(
      raft.snapshotThresholdBytesMax <= heap / SNAPSHOT_HEAP_SHARE,
      `trigger ${raft.snapshotThresholdBytesMax}`,
    );
    assert.equal(raft.snapshotThresholdBytes, AGENT_RAFT_DEFAULTS.snapshotThresholdBytes, 'the reference trigger');
    assert.ok(raft.snapshotThresholdBytesMax >= 2 * 12_000_000, 'the trigger follows a store of 12 MB');
    assert.equal(
      raft.logRetainBytesMax,
      AGENT_RAFT_DEFAULTS.logRetainBytesMax,
      'the retained log is on disk: a follower seconds behind still catches up by appends',
    );
    assert.deepEqual(validateRaftConfiguration(raft), []);
  });

  it('keeps the reference bounds under a large heap, and never raises them', () => {
    const { raft } = resolveAgentConfig(raw(), '/etc/coraft/agent.json', 4096 * MIB);
    assert.deepEqual(raft, AGENT_RAFT_DEFAULTS);
    assert.deepEqual(raftDefaultsForHeap(AGENT_RAFT_DEFAULTS, Number.NaN), AGENT_RAFT_DEFAULTS);
  });

  it('keeps the bounds agent.json sets, whatever the heap', () => {
    const set = { snapshotThresholdBytes: 20_000_000, logRetainBytesMax: 40 * MIB };
    const { raft } = resolveAgentConfig(raw({ raft: set }), '/etc/coraft/agent.json', 64 * MIB);
    assert.equal(raft.snapshotThresholdBytes, set.snapshotThresholdBytes);
    assert.equal(raft.logRetainBytesMax, set.logRetainBytesMax);
  });

  it('gives a small heap a trigger of at least 1 MiB', () => {
    assert.equal(raftDefaultsForHeap(AGENT_RAFT_DEFAULTS, MIB).snapshotThresholdBytes, MIB);
    const raft = raftDefaultsForHeap(AGENT_RAFT_DEFAULTS, 4 * MIB);
    assert.equal(raft.snapshotThresholdBytes, (4 * MIB) / SNAPSHOT_HEAP_SHARE);
    assert.equal(raft.logRetainBytesMax, AGENT_RAFT_DEFAULTS.logRetainBytesMax);
    assert.equal(raft.logResidentBytes, MIB / 8);
  });
});
