// A minimal valid agent.json for one node on coap, resolved by the agent's own config loader.
import { join } from 'node:path';
import { resolveAgentConfig } from '../../../agent/config/agent-config.js';
import type { AgentConfig } from '../../../agent/config/agent-config.js';

/** The config of a one-node cluster in `dir` (data in `dir/data`), with `extra` fields of agent.json. */
export function minimalConfig(dir: string, extra: Readonly<Record<string, unknown>> = {}): AgentConfig {
  const raw = {
    nodeId: 'n1',
    dataDir: 'data',
    listen: { peer: '127.0.0.1:5700', endpoint: '127.0.0.1:5701' },
    members: [{ id: 'n1', address: '127.0.0.1:5700' }],
    transport: 'coap',
    ...extra,
  };
  return resolveAgentConfig(raw, join(dir, 'agent.json'));
}
