// Proves that agent.json's two listen addresses may not take the same UDP socket: listen.peer
// equal to listen.endpoint, or one of them on a wildcard host with the other's port, is refused
// at load time naming both fields (exit 78 in coraft agent), not found at bind time as a busy
// port (69). Port 0 twice, and a TCP peer transport (http) beside the UDP endpoint, still load.
// A host name where a UDP socket binds an address (listen.endpoint; listen.peer with plain coap)
// is refused at load time too (78), not met as a broken invariant at bind time (70).
import { strict as assert } from 'node:assert';
import { resolveAgentConfig } from '../../../agent/config/agent-config.js';
import { ConfigError } from '../../../contracts/errors.js';
import { rawAgentConfig } from './raw-config.js';

const FILE = '/etc/coraft/agent.json';

function load(peer: string, endpoint: string, transport = 'coap'): ReturnType<typeof resolveAgentConfig> {
  return resolveAgentConfig(rawAgentConfig({ listen: { peer, endpoint }, transport }), FILE);
}

describe('agent.json: listen.peer and listen.endpoint', () => {
  const sharedPort = (error: unknown): boolean =>
    error instanceof ConfigError &&
    error.code === 'CONFIG_INVALID' &&
    /^listen\.peer \(.*\) and listen\.endpoint \(.*\): the same UDP port; /.test(error.problems[0] ?? '');

  it('refuses the same host and port for both, naming both fields', () => {
    assert.throws(() => load('127.0.0.1:7001', '127.0.0.1:7001'), sharedPort);
    assert.throws(() => load('127.0.0.1:7001', '127.0.0.1:7001', 'coaps'), sharedPort);
  });

  it('refuses a wildcard host on the port of the other', () => {
    assert.throws(() => load('0.0.0.0:7001', '127.0.0.1:7001'), sharedPort);
    assert.throws(() => load('[::]:7001', '127.0.0.1:7001'), sharedPort);
  });

  it('refuses a host name where a UDP socket binds an address', () => {
    const notIp = (field: string) => (error: unknown) =>
      error instanceof ConfigError &&
      new RegExp(`^${field}: the host "gw1.local" is not an IP address`).test(error.problems[0] ?? '');
    assert.throws(() => load('127.0.0.1:7000', 'gw1.local:7001'), notIp('listen.endpoint'));
    assert.throws(() => load('127.0.0.1:7000', 'gw1.local:7001', 'coaps'), notIp('listen.endpoint'));
    assert.throws(() => load('gw1.local:7000', '127.0.0.1:7001'), notIp('listen.peer'));
    // coaps looks its peer host up (agent/runtime/listen-host.ts): the name passes this check.
    assert.throws(() => load('gw1.local:7000', '127.0.0.1:7001', 'coaps'), /psk: required/);
    assert.equal(load('[::1]:7000', '127.0.0.1:7001').listenPeer.host, '::1');
  });

  it('takes distinct ports, port 0 twice, and a TCP peer transport on the same port', () => {
    assert.equal(load('127.0.0.1:7000', '127.0.0.1:7001').listenPeer.port, 7000);
    assert.equal(load('127.0.0.1:0', '127.0.0.1:0').listenEndpoint.port, 0);
    assert.equal(load('127.0.0.1:7001', '127.0.0.1:7001', 'http').listenPeer.port, 7001);
  });
});
