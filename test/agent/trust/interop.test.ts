// Proves that outside DTLS clients still interoperate with real agents under link keys, and
// that a link key opens only its own link: against a provisioned fleet (coaps, in-process
// agents, memory storage), OpenSSL's s_client, libcoap's coap-client-openssl (`-u ID -k KEY`:
// link keys are printable for it) and node-dtls-client complete a handshake as gw1 with the
// gw1–gw2 link key toward gw2's peer port and get a CoAP answer, and fail with gw1's key for
// another link. The local endpoint's two identities are separate: the kv identity reads and
// writes keys but may not use the admin resources, the admin identity the reverse.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generate, parse } from 'coap-packet';
import { dtls } from 'node-dtls-client';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { provisionFleet } from '../../../agent/cli/provision.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';
import { Peer, hasCommand } from '../../transport/dtls/interop-helpers.js';
import { handshake } from './helpers.js';

const RAFT = { electionTimeoutMinMs: 300, electionTimeoutMaxMs: 600, heartbeatIntervalMs: 50 };

describe('interop with outside DTLS clients under link keys', function () {
  this.timeout(120_000);
  let dir: string;
  let base: number;
  const agents: Agent[] = [];
  const bundle = (id: string): string => join(dir, 'out', 'bundles', id);
  /** The gw1 link key with `peer`, as text (what libcoap's -k takes) and as hex (OpenSSL's -psk). */
  const link = (holder: string, peer: string): { text: string; hex: string } => {
    const hex =
      (JSON.parse(readFileSync(join(bundle(holder), 'keystore.json'), 'utf8')) as Record<string, string>)[peer] ??
      assert.fail('no link');
    return { text: Buffer.from(hex, 'hex').toString('latin1'), hex };
  };
  const endpointKey = (id: string, role: 'kv' | 'admin'): string =>
    Buffer.from(readFileSync(join(bundle(id), `endpoint-${role}.key`), 'utf8').trim(), 'hex').toString('latin1');
  const peerPort = (i: number): number => base + 2 * (i - 1);
  const endpointPort = (i: number): number => base + 2 * (i - 1) + 1;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-interop-'));
    base = await findFreePorts(6);
    const gateways = [1, 2, 3].map((i) => ({
      id: `gw${i}`,
      address: `127.0.0.1:${peerPort(i)}`,
      overrides: {
        endpoint: `127.0.0.1:${endpointPort(i)}`,
        listenHost: '127.0.0.1',
        dataDir: 'data',
        storage: 'memory',
        raft: RAFT,
        logging: { level: 'warning' },
      },
    }));
    writeFileSync(join(dir, 'fleet.json'), JSON.stringify({ cluster: 'interop', gateways }));
    provisionFleet(join(dir, 'fleet.json'), join(dir, 'out'));
    for (const g of gateways)
      agents.push(
        await Agent.start(
          loadAgentConfig(join(bundle(g.id), 'agent.json')),
          REAL_FACTORIES,
          new MemoryLogger(),
          new NoopMetrics(),
        ),
      );
  });

  after(async () => {
    for (const agent of agents) await agent.stop('test over');
    rmSync(dir, { recursive: true, force: true });
  });

  it('OpenSSL s_client: gw1 reaches gw2 with their link key only', async () => {
    assert.equal(await handshake(peerPort(2), 'gw1', link('gw1', 'gw2').hex), true);
    assert.equal(await handshake(peerPort(2), 'gw1', link('gw1', 'gw3').hex), false);
  });

  it("coap-client-openssl -u gw1 -k LINK gets an answer from gw2's peer port; not with other links", async function () {
    if (!hasCommand('coap-client-openssl')) this.skip();
    const run = async (key: string): Promise<string> => {
      const client = new Peer('coap-client-openssl', [
        '-m',
        'get',
        '-B',
        '5',
        '-u',
        'gw1',
        '-k',
        key,
        `coaps://127.0.0.1:${peerPort(2)}/raft/none`,
      ]);
      await client.exit(15_000);
      return client.output;
    };
    // The response code starts its line; libcoap's log lines start with a time stamp, whose
    // seconds (e.g. 54.048) once matched an unanchored /4\.04/.
    assert.match(await run(link('gw1', 'gw2').text), /^4\.04\b/m);
    assert.doesNotMatch(await run(link('gw1', 'gw3').text), /^4\.04\b/m);
  });

  it('node-dtls-client talks to gw2 with the gw1–gw2 link key, and is refused with another', async () => {
    const exchange = (key: string): Promise<string> =>
      new Promise((resolve) => {
        const socket = dtls.createSocket({
          type: 'udp4',
          address: '127.0.0.1',
          port: peerPort(2),
          psk: { gw1: key },
          timeout: 5000,
        });
        let settled = false;
        const done = (outcome: string, close: boolean): void => {
          if (settled) return;
          settled = true;
          resolve(outcome);
          // After an error the library has closed the socket itself.
          if (close) socket.close(() => undefined);
        };
        socket.on('connected', () =>
          socket.send(
            generate({
              messageId: 7,
              token: Buffer.from([1, 2]),
              code: 'GET',
              confirmable: true,
              options: [
                { name: 'Uri-Path', value: Buffer.from('raft') },
                { name: 'Uri-Path', value: Buffer.from('none') },
              ],
            }),
          ),
        );
        socket.on('message', (message: Buffer) => done(`answer ${parse(message).code}`, true));
        socket.on('error', (error: Error) => done(`error ${error.message}`, false));
      });
    assert.equal(await exchange(link('gw1', 'gw2').text), 'answer 4.04');
    assert.match(await exchange(link('gw1', 'gw3').text), /^error/);
  });

  it("the endpoint's kv identity may use /kv but not the admin resources; admin the reverse", async function () {
    if (!hasCommand('coap-client-openssl')) this.skip();
    const coap = async (identity: string, key: string, ...args: string[]): Promise<string> => {
      const client = new Peer('coap-client-openssl', ['-B', '5', '-u', identity, '-k', key, ...args]);
      await client.exit(15_000);
      return client.output;
    };
    const url = (path: string): string => `coaps://127.0.0.1:${endpointPort(1)}${path}`;
    const kv = endpointKey('gw1', 'kv');
    const admin = endpointKey('gw1', 'admin');
    assert.match(await coap('kv', kv, '-m', 'put', '-e', 'hello', url('/kv/greeting')), /"revision":\d+/);
    assert.match(await coap('kv', kv, '-m', 'get', url('/kv/greeting')), /hello/);
    assert.match(await coap('kv', kv, '-m', 'post', '-e', '{}', url('/members')), /^4\.03\b/m);
    assert.match(await coap('admin', admin, '-m', 'get', url('/kv/greeting')), /^4\.03\b/m);
    assert.match(await coap('admin', admin, '-m', 'get', url('/members')), /"members"/);
    assert.doesNotMatch(
      await coap('admin', kv, '-m', 'get', url('/members')),
      /"members"/,
      "the kv key is not the admin identity's",
    );
    assert.doesNotMatch(
      await coap('kv', endpointKey('gw2', 'kv'), '-m', 'get', url('/kv/greeting')),
      /hello/,
      "another gateway's endpoint key opens nothing here",
    );
  });
});
