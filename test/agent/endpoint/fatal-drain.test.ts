// Proves what a client's write in flight gets when its agent stops on a fatal error (a full disk):
// on a real one-node agent (memory storage whose next write fails as a full disk does, loopback
// CoAP endpoint), a PUT sent with libcoap's coap-client is answered 5.04, never 2.0x, with one
// diagnostic that says once that it may or may not have been applied (the endpoint drains its
// answers before it stops); the agent stops, and `coraft agent` would exit 74 (EX_IOERR, its code
// for a persistence error).
import { strict as assert } from 'node:assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { untilStopped } from '../../../agent/cli/agent-command.js';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { initCluster } from '../../../agent/cli/cluster-init.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { Agent, EXIT } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';
import { PersistenceError } from '../../../contracts/errors.js';
import type { PersistenceEngine } from '../../../contracts/persistence.js';

/** Runs libcoap's coap-client-notls (it exits 0 on 4.xx/5.xx too) and returns what it printed. */
function coapClient(...args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('coap-client-notls', ['-B', '20', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', () => resolve(text.trim()));
  });
}

describe('local endpoint: a write in flight when the agent stops on a fatal error', function () {
  this.timeout(60_000);
  const signals = ['SIGTERM', 'SIGINT'] as const;
  let dir: string;
  let before: Map<NodeJS.Signals, NodeJS.SignalsListener[]>;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-fatal-drain-'));
    before = new Map(signals.map((s) => [s, process.listeners(s)]));
  });
  afterEach(() => {
    // Remove only the listeners untilStopped added.
    for (const s of signals)
      for (const listener of process.listeners(s))
        if (!(before.get(s) ?? []).includes(listener)) process.off(s, listener);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is answered 5.04 saying once that it may or may not have been applied, and the agent exits 74', async () => {
    const [node] = initCluster({
      dir: join(dir, 'cluster'),
      nodes: 1,
      basePort: await findFreePorts(2),
      transport: 'coap',
      storage: 'memory',
      force: true,
      configOverrides: () => ({ logging: { level: 'critical' } }),
    });
    assert.ok(node);
    const agent = await Agent.start(
      loadAgentConfig(node.config),
      REAL_FACTORIES,
      new MemoryLogger(),
      new NoopMetrics(),
    );
    let stopped: Promise<number> | null = null;
    try {
      const deadline = Date.now() + 20_000;
      while (!agent.node.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(agent.node.isLeader(), 'the one-node cluster elected itself');
      const url = `coap://${node.endpoint}/kv/k`;
      assert.match(await coapClient('-m', 'put', '-e', 'before', url), /^\{"revision":\d+/);

      stopped = untilStopped(agent, new MemoryLogger());
      // The disk fills up: the next write of the log fails as LMDB's does (STORAGE_FULL).
      const storage = Reflect.get(agent, 'storage') as PersistenceEngine;
      storage.persist = () =>
        Promise.reject(new PersistenceError('STORAGE_FULL', `the file system of ${dir} is full (0 bytes free)`));
      const answer = await coapClient('-m', 'put', '-e', 'in flight', url);
      const stoppedText = 'the node stopped before the outcome of the command at index \\d+ was known';
      assert.match(answer, new RegExp(`^5\\.04 ${stoppedText}; it may or may not have been applied$`));
      assert.equal(answer.match(/\bmay\b/g)?.length, 2, 'said once: "may or may not", no "may still"');
      assert.equal(await stopped, EXIT.ioError, 'the exit code of a persistence error');
      assert.equal(agent.node.isRunning(), false);
    } finally {
      if (stopped === null) await agent.stop('test over');
    }
  });
});
