// Proves that a started agent (the default coaps transport, no metrics) loads only what it
// runs (issue 17: idle memory and start-up time): not Ajv (its configuration validator is
// compiled ahead of time), not the metrics backends (prom-client, hot-shots), not the
// simulator, not the other CLI commands, not the HTTP peer transports with node:http,
// node:https and TLS, and not node:child_process (only systemd-notify needs it). A real agent process (dist/, through
// bin/coraft.js: `npm run build` first) runs with a preload that records every module the
// ES module loader loads, written out when the agent exits.
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';

/** Records each URL the ESM loader loads (CommonJS entry points included) into $CORAFT_LOADED at exit. */
const PRELOAD = `
import { register } from 'node:module';
import { writeFileSync } from 'node:fs';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const loaded = [];
port1.on('message', (url) => loaded.push(url));
port1.unref();
const hooks = 'let port; export function initialize(data) { port = data.port; }' +
  'export async function load(url, context, next) { port.postMessage(url); return next(url, context); }';
register('data:text/javascript,' + encodeURIComponent(hooks), import.meta.url, {
  data: { port: port2 },
  transferList: [port2],
});
process.on('exit', () => writeFileSync(process.env.CORAFT_LOADED, loaded.join('\\n')));
`;

/** What an agent at rest must not load, as a part of the module's URL. */
const NOT_LOADED = [
  '/node_modules/ajv/',
  '/node_modules/prom-client/',
  '/node_modules/hot-shots/',
  '/dist/agent/sim/',
  '/dist/agent/observability/metrics.js',
  '/dist/agent/cli/provision.js',
  '/dist/agent/cli/cluster-init.js',
  '/dist/agent/cli/demo',
  '/dist/agent/cli/sim.js',
  '/dist/agent/cli/client-commands.js',
  '/dist/agent/cli/client-common.js',
  '/dist/agent/cli/kv-list.js',
  '/dist/agent/cli/txn-command.js',
  '/dist/agent/cli/lease-command.js',
  '/dist/agent/cli/watch-command.js',
  '/dist/agent/cli/admin-commands.js',
  '/dist/agent/fleet/',
  '/dist/transport/http/',
  '/dist/transport/index.js',
  'node:http',
  'node:child_process',
];

describe('what a started agent loads', function () {
  this.timeout(60_000);
  let dir: string;
  let cluster: AgentProcesses | null = null;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-imports-'));
    writeFileSync(join(dir, 'preload.mjs'), PRELOAD);
  });
  after(async () => {
    await cluster?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('leaves Ajv, the metrics backends, the simulator and the other commands unloaded', async () => {
    const record = join(dir, 'loaded.txt');
    cluster = await AgentProcesses.create({
      nodes: 1,
      storage: 'memory',
      nodeArgs: ['--import', join(dir, 'preload.mjs')],
      agentEnv: () => ({ CORAFT_LOADED: record }),
    });
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    await cluster.signal('n1', 'SIGTERM');
    const loaded = readFileSync(record, 'utf8').split('\n');
    // The record is complete: it holds the agent's own modules and its dependencies.
    for (const part of ['/dist/agent/runtime/agent.js', '/dist/transport/dtls/server.js', '/node_modules/cbor-x/'])
      assert.ok(
        loaded.some((url) => url.includes(part)),
        `${part} is recorded`,
      );
    for (const part of NOT_LOADED) {
      const found = loaded.filter((url) => url.includes(part));
      assert.deepEqual(found, [], `${part} is not loaded`);
    }
  });
});
