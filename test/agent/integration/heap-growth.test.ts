/**
 * Proves that a real agent (the bundle through bin/coraft.js: `npm run build` first) sets its heap's
 * growth from the entries it applies (agent/runtime/heap-growth.ts, issue 16), as its
 * `agent_heap_growing_percent` gauge reports (metrics to an EMF file): the large growth after
 * windows of 32 KiB values, the base again after small ones; and that a growth given on Node's
 * command line (an operator's drop-in) is left alone, the gauge never set.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { HEAP_GROWING_PERCENT } from '../../../agent/runtime/v8-flags.js';
import { LARGE_PERCENT, WINDOW_ENTRIES } from '../../../agent/runtime/heap-growth.js';
import { waitFor } from './helpers.js';

/** The gauge's values in the EMF file, in the order flushed. */
function gaugeValues(file: string): number[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.includes('agent_heap_growing_percent'))
    .map((line) => Number(Reflect.get(JSON.parse(line) as object, 'agent_heap_growing_percent')));
}

/** A one-agent cluster whose metrics go to an EMF file, flushed every 100 ms. */
async function oneAgent(nodeArgs: readonly string[]): Promise<{ cluster: AgentProcesses; emf: string }> {
  const cluster = await AgentProcesses.create({ nodes: 1, storage: 'memory', nodeArgs });
  const { config, dir } = cluster.agent('n1').init;
  const emf = join(dir, 'metrics.emf');
  const agentJson: unknown = JSON.parse(readFileSync(config, 'utf8'));
  Reflect.set(agentJson as object, 'metrics', { kind: 'cloudwatch-emf', emfFile: emf, flushIntervalMs: 100 });
  writeFileSync(config, JSON.stringify(agentJson));
  cluster.startAll();
  await cluster.waitForLeader(30_000);
  return { cluster, emf };
}

/** Writes `count` values of `bytes` to agent n1. */
async function write(cluster: AgentProcesses, count: number, bytes: number): Promise<void> {
  const payload = new Uint8Array(bytes).fill(0x61);
  for (let i = 0; i < count; i += 1) {
    const response = await cluster.agent('n1').client.request({ method: 'PUT', path: ['kv', `k${i % 8}`], payload });
    assert.equal(response.code >> 5, 2, `write ${i} answered ${response.code}`);
  }
}

describe('agent integration: heap growth by entry size', function () {
  this.timeout(120_000);
  let cluster: AgentProcesses | null = null;
  afterEach(async () => {
    await cluster?.close();
    cluster = null;
  });

  it('takes the large growth under large values and the base again under small ones', async () => {
    const started = await oneAgent([]);
    cluster = started.cluster;
    await write(cluster, 2 * WINDOW_ENTRIES, 32 * 1024);
    await waitFor('the large growth', () => (gaugeValues(started.emf).at(-1) === LARGE_PERCENT ? true : null));
    await write(cluster, 2 * WINDOW_ENTRIES, 100);
    await waitFor('the base growth', () => (gaugeValues(started.emf).at(-1) === HEAP_GROWING_PERCENT ? true : null));
  });

  it("leaves a growth given on Node's command line alone", async () => {
    const started = await oneAgent(['--heap-growing-percent=80']);
    cluster = started.cluster;
    await write(cluster, 2 * WINDOW_ENTRIES, 32 * 1024);
    // The metrics are flushed every 100 ms: a gauge set would be in the file by now.
    await new Promise((resolve) => setTimeout(resolve, 500));
    assert.deepEqual(gaugeValues(started.emf), []);
    assert.ok(existsSync(started.emf), 'the agent flushed its other metrics');
  });
});
