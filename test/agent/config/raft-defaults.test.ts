// Proves the agent's Raft timing defaults (AGENT_RAFT_DEFAULTS, issue 17: CPU at rest): an
// agent.json without `raft` runs a 200 ms heartbeat on a 20 ms tick with a 600-1,200 ms election
// timeout (three heartbeat intervals and up, below etcd's 1,000 ms) and a 300 ms peer RPC
// deadline, no longer than the shortest election timeout (issue 16: a follower's answer waits
// for its sync, slow under load), which the Raft configuration's own checks accept; a field of
// agent.json replaces its default and leaves the others; the simulator's reference defaults are
// left as they were.
import { strict as assert } from 'node:assert';
import { AGENT_RAFT_DEFAULTS, resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { DEFAULT_RAFT_CONFIGURATION, validateRaftConfiguration } from '../../../contracts/raft-configuration.js';
import { rawAgentConfig } from './raw-config.js';

const raw = rawAgentConfig;

describe("the agent's Raft timing", () => {
  it('heartbeats every 200 ms on a 20 ms tick by default, and the defaults are valid', () => {
    const { raft } = resolveAgentConfig(raw(), '/etc/coraft/agent.json');
    assert.deepEqual(raft, AGENT_RAFT_DEFAULTS);
    assert.equal(raft.heartbeatIntervalMs, 200);
    assert.equal(raft.tickIntervalMs, 20);
    assert.ok(raft.electionTimeoutMinMs >= 3 * raft.heartbeatIntervalMs, 'three heartbeats per election timeout');
    assert.ok(raft.electionTimeoutMinMs < 1000, "a dead leader is noticed before etcd's default would");
    assert.equal(raft.rpcTimeoutMs, 300);
    assert.ok(raft.rpcTimeoutMs <= raft.electionTimeoutMinMs);
    assert.deepEqual(validateRaftConfiguration(AGENT_RAFT_DEFAULTS), []);
    assert.equal(DEFAULT_RAFT_CONFIGURATION.heartbeatIntervalMs, 50, 'the reference defaults stay');
    assert.equal(DEFAULT_RAFT_CONFIGURATION.rpcTimeoutMs, 100, 'the reference defaults stay');
  });

  it('lets agent.json replace one field and keeps the other defaults', () => {
    const { raft } = resolveAgentConfig(raw({ raft: { heartbeatIntervalMs: 50 } }), '/etc/coraft/agent.json');
    assert.equal(raft.heartbeatIntervalMs, 50);
    assert.equal(raft.electionTimeoutMinMs, AGENT_RAFT_DEFAULTS.electionTimeoutMinMs);
  });
});
