/**
 * Proves that `coraft agent` refuses to start on a broken setup with one clear message on
 * stderr and the documented exit code (EXIT in agent/runtime/agent.ts): a malformed or invalid
 * configuration, a missing key file, a local endpoint open beyond loopback without endpoint
 * keys, listen.peer equal to listen.endpoint, and a configuration from before link keys exit 78
 * (EX_CONFIG) naming the file or field; a busy
 * endpoint or peer port, or a listen.peer host that does not resolve, exits 69 (EX_UNAVAILABLE)
 * naming the address; a bad command line (an
 * unknown option, no --config) exits 2, as every other coraft command does, and the unit's
 * RestartPreventExitStatus lists that code so that systemd does not restart it. Each case runs the real
 * CLI on a node written by `coraft cluster init`.
 */
import { strict as assert } from 'node:assert';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { EXIT } from '../../../agent/runtime/agent.js';
import { CLI_EXIT } from '../../../agent/cli/args.js';
import { coraft } from './helpers.js';

function bindUdp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(port, '127.0.0.1', () => resolve(socket));
  });
}

describe('agent integration: start-up failures', function () {
  this.timeout(30_000);
  let dir: string;
  let config: string;
  let basePort: number;

  beforeEach(async function () {
    dir = mkdtempSync(join(tmpdir(), 'coraft-startup-'));
    basePort = await findFreePorts(2);
    const init = await coraft('cluster', 'init', '--nodes', '1', '--dir', dir, '--base-port', String(basePort));
    assert.equal(init.code, 0, init.stderr);
    config = join(dir, 'n1', 'agent.json');
  });

  afterEach(function () {
    rmSync(dir, { recursive: true, force: true });
  });

  it('exits 2 on a bad command line (an unknown option, or no --config), as every command does', async function () {
    const unknown = await coraft('agent', '--conifg', config);
    assert.equal(unknown.code, CLI_EXIT.usage, unknown.stderr);
    assert.equal(EXIT.usage, CLI_EXIT.usage);
    const status = await coraft('status', '--conifg', config);
    assert.equal(status.code, unknown.code, status.stderr);
    assert.match(unknown.stderr, /^coraft agent: Unknown option '--conifg'/);
    const missing = await coraft('agent');
    assert.equal(missing.code, EXIT.usage, missing.stderr);
    assert.match(missing.stderr, /^coraft agent: --config FILE is required/);
    const unit = readFileSync(join(import.meta.dirname, '../../../systemd/coraft.service'), 'utf8');
    const prevent = (/^RestartPreventExitStatus=(.*)$/m.exec(unit)?.[1] ?? '').split(/\s+/);
    assert.deepEqual(prevent.sort(), [String(CLI_EXIT.usage), String(EXIT.config)].sort(), 'no restart on 2 or 78');
  });

  it('exits 78 on a configuration that is not JSON', async function () {
    writeFileSync(config, '{"nodeId": "n1",');
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config);
    assert.match(run.stderr, /^coraft agent: invalid configuration:\n {2}- .*agent\.json is not valid JSON/);
  });

  it('exits 78 on a configuration with a wrong field, naming it', async function () {
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    writeFileSync(config, JSON.stringify({ ...parsed, transport: 'carrier-pigeon' }));
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config);
    assert.match(run.stderr, /invalid configuration:\n {2}- transport: /);
  });

  it('exits 78 when a key file is missing, naming it', async function () {
    unlinkSync(join(dir, 'n1', 'node.secret'));
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config);
    assert.match(run.stderr, /psk\.nodeSecretFile: cannot read secret file .*node\.secret: ENOENT/);
  });

  it('exits 78 when the local endpoint listens beyond loopback without endpoint keys', async function () {
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    writeFileSync(
      config,
      JSON.stringify({ ...parsed, listen: { peer: `127.0.0.1:${basePort}`, endpoint: `0.0.0.0:${basePort + 1}` } }),
    );
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config);
    assert.match(
      run.stderr,
      /listen\.endpoint: 0\.0\.0\.0 is reachable beyond this host; such an endpoint needs endpointKeys/,
    );
  });

  it('exits 78 when listen.peer is listen.endpoint, naming both', async function () {
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as Record<string, unknown>;
    const endpoint = `127.0.0.1:${basePort + 1}`;
    writeFileSync(config, JSON.stringify({ ...parsed, listen: { peer: endpoint, endpoint } }));
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config, run.stderr);
    assert.match(run.stderr, /- listen\.peer \(127\.0\.0\.1:\d+\) and listen\.endpoint \(127\.0\.0\.1:\d+\): the same/);
  });

  it('exits 78 on a configuration from before link keys (one shared keystore, psk.keyFile)', async function () {
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as { psk: Record<string, unknown> };
    writeFileSync(join(dir, 'n1', 'n1.key'), `${'ab'.repeat(16)}\n`);
    writeFileSync(config, JSON.stringify({ ...parsed, psk: { ...parsed.psk, keyFile: 'n1.key' } }));
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.config);
    assert.match(run.stderr, /psk\.keyFile: removed; each pair of members has its own link key/);
  });

  it('exits 69 when the host of listen.peer does not resolve, naming the field', async function () {
    const parsed = JSON.parse(readFileSync(config, 'utf8')) as { listen: Record<string, string> };
    // .invalid never resolves (RFC 6761); an offline resolver fails it too (EAI_AGAIN), also 69.
    const listen = { ...parsed.listen, peer: `gw1.invalid:${basePort}` };
    writeFileSync(config, JSON.stringify({ ...parsed, listen }));
    const run = await coraft('agent', '--config', config);
    assert.equal(run.code, EXIT.unavailable, run.stderr);
    assert.match(run.stderr, /^coraft agent: listen\.peer: cannot resolve the host "gw1\.invalid"/m);
  });

  it('exits 69 when the endpoint port is taken, naming the address', async function () {
    const squatter = await bindUdp(basePort + 1);
    try {
      const run = await coraft('agent', '--config', config);
      assert.equal(run.code, EXIT.unavailable);
      assert.match(
        run.stderr,
        new RegExp(`^coraft agent: cannot bind udp 127\\.0\\.0\\.1:${basePort + 1}: .*EADDRINUSE`),
      );
    } finally {
      squatter.close();
    }
  });

  it('exits 69 when the peer port is taken, naming the address', async function () {
    const squatter = await bindUdp(basePort);
    try {
      const run = await coraft('agent', '--config', config);
      assert.equal(run.code, EXIT.unavailable);
      assert.match(
        run.stderr,
        new RegExp(`127\\.0\\.0\\.1:${basePort}\\b.*EADDRINUSE|EADDRINUSE.*127\\.0\\.0\\.1:${basePort}\\b`),
      );
    } finally {
      squatter.close();
    }
  });
});
