// An agent started with CORAFT_LATENCY_PROBE=DIR marks, beside the node's stages, when each
// client write's datagram reached its local endpoint (`received`) and when the answer left
// (`responded`), and writes them to DIR/<node>.latency.json when it stops: on a real one-node
// agent (loopback CoAP endpoint, memory storage), a PUT's index carries received <= propose <=
// applied <= responded.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findFreePorts } from '../../../agent/cli/agent-processes.js';
import { initCluster } from '../../../agent/cli/cluster-init.js';
import { EndpointClient, endpointTarget } from '../../../agent/cli/endpoint-client.js';
import { loadAgentConfig } from '../../../agent/config/agent-config.js';
import { MemoryLogger, NoopMetrics } from '../../../agent/observability/noop.js';
import { Agent } from '../../../agent/runtime/agent.js';
import { REAL_FACTORIES } from '../../../agent/runtime/factories.js';

describe("the latency probe at an agent's local endpoint", function () {
  this.timeout(60_000);
  let dir: string;
  const saved = process.env.CORAFT_LATENCY_PROBE;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-endpoint-probe-'));
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.CORAFT_LATENCY_PROBE;
    else process.env.CORAFT_LATENCY_PROBE = saved;
    rmSync(dir, { recursive: true, force: true });
  });

  it('marks when a write reached the endpoint and when its answer left', async () => {
    const [node] = initCluster({
      dir: join(dir, 'cluster'),
      nodes: 1,
      basePort: await findFreePorts(2),
      transport: 'coap',
      storage: 'memory',
      force: true,
      configOverrides: () => ({ logging: { level: 'warning' } }),
    });
    assert.ok(node);
    const probeDir = join(dir, 'probe');
    process.env.CORAFT_LATENCY_PROBE = probeDir;
    mkdirSync(probeDir);
    const agent = await Agent.start(
      loadAgentConfig(node.config),
      REAL_FACTORIES,
      new MemoryLogger(),
      new NoopMetrics(),
    );
    const client = new EndpointClient(endpointTarget(node.endpoint, 10_000));
    try {
      const deadline = Date.now() + 20_000;
      while (!agent.node.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const answer = await client.request({ method: 'PUT', path: ['kv', 'k'], payload: new Uint8Array([7]) });
      assert.ok(answer.code >= 0x40 && answer.code < 0x60, `PUT answered ${answer.code}`);
    } finally {
      await client.close();
      await agent.stop('test over');
    }
    const record: unknown = JSON.parse(readFileSync(join(probeDir, `${node.id}.latency.json`), 'utf8'));
    const stages = Reflect.get(record as object, 'stages') as string[];
    const marks = Reflect.get(record as object, 'marks') as (number | null)[][];
    const at = (row: (number | null)[], stage: string): number | null => row[1 + stages.indexOf(stage)] ?? null;
    const written = marks.filter((row) => at(row, 'received') !== null);
    assert.equal(written.length, 1, 'one write reached the endpoint');
    const [row] = written;
    assert.ok(row);
    const times = ['received', 'propose', 'applied', 'responded'].map((stage) => at(row, stage));
    assert.ok(
      times.every((t, i) => t !== null && (i === 0 || t >= (times[i - 1] ?? Infinity))),
      `received <= propose <= applied <= responded: ${JSON.stringify(times)}`,
    );
  });
});
