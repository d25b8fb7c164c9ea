// "agent started" names where the agent listens in a form an operator can paste: an IPv6 host in
// brackets ([::1]:5684), not "::1:5684", whose port cannot be told from the address.
import { strict as assert } from 'node:assert';
import { logStarted } from '../../../agent/runtime/agent-observer.js';
import { MemoryLogger } from '../../../agent/observability/noop.js';
import type { AgentConfig } from '../../../agent/config/agent-config.js';

function config(peerHost: string, endpointHost: string): AgentConfig {
  const fields = {
    nodeId: 'n1',
    listenPeer: { host: peerHost, port: 5684 },
    listenEndpoint: { host: endpointHost, port: 5683 },
    transport: 'coaps',
    codec: 'cbor',
    storage: 'wal',
  };
  return fields as unknown as AgentConfig;
}

describe('agent started', () => {
  it('writes an IPv6 listen address in brackets and an IPv4 one as it is', () => {
    const logger = new MemoryLogger();
    logStarted(config('::', '127.0.0.1'), logger);
    logStarted(config('::1', 'localhost'), logger);
    const fields = logger.records.map((record) => [record.fields.peer, record.fields.endpoint]);
    assert.deepEqual(fields, [
      ['[::]:5684', '127.0.0.1:5683'],
      ['[::1]:5684', 'localhost:5683'],
    ]);
  });
});
