/**
 * Proves that a real agent (the bundle through bin/coraft.js: `npm run build` first) reports where
 * its start-up went when it is ready (issue 17): its "agent ready" log line carries the end of
 * every phase from Node's bootstrap to READY, in start-up order and each no earlier than the
 * one before, and the CPU time it used; the footprint bench prints these (bench/_startup-phases.ts).
 * And that an agent told to stop the moment it says it is ready stops cleanly (exit 0, not killed
 * by the signal): its SIGTERM handler is in place before "agent ready" (and READY=1 to systemd).
 */
import { strict as assert } from 'node:assert';
import { AgentProcesses } from '../../../agent/cli/agent-processes.js';
import { STARTUP_PHASES } from '../../../agent/observability/startup-phases.js';
import { StartupReports } from '../../../bench/_startup-phases.js';

describe('agent integration: start-up report', function () {
  this.timeout(60_000);
  let cluster: AgentProcesses | null = null;
  after(async () => {
    await cluster?.close();
  });

  it('logs every phase in order, and the CPU time, when ready', async () => {
    const reports = new StartupReports();
    cluster = await AgentProcesses.create({ nodes: 1, storage: 'wal', output: (id, chunk) => reports.add(id, chunk) });
    cluster.startAll();
    await cluster.waitForLeader(30_000);
    const report = reports.all().n1;
    assert.ok(report !== undefined, 'n1 logged "agent ready"');
    let previous = 0;
    for (const phase of STARTUP_PHASES) {
      const end = report.ends[phase];
      assert.ok(end !== undefined, `${phase} is reported`);
      assert.ok(end >= previous, `${phase} ends (${end} ms) no earlier than the phase before (${previous} ms)`);
      previous = end;
    }
    assert.ok(report.cpuMs !== null && report.cpuMs > 0, 'the CPU time is reported');
  });

  it('stops with exit 0 on a SIGTERM sent the moment it says it is ready', async () => {
    await cluster?.close();
    const sent: { stopped: Promise<number | null> | null } = { stopped: null };
    const onOutput = (id: string, chunk: string): void => {
      if (sent.stopped === null && chunk.includes('"agent ready"'))
        sent.stopped = cluster?.signal(id, 'SIGTERM') ?? null;
    };
    cluster = await AgentProcesses.create({ nodes: 1, storage: 'memory', output: onOutput });
    const exits: (number | null)[] = [];
    for (let attempt = 0; attempt < 3; attempt += 1) {
      sent.stopped = null;
      cluster.start('n1');
      const exited = await cluster.exited('n1');
      assert.ok(sent.stopped !== null, 'the agent said it was ready');
      exits.push(exited);
    }
    assert.deepEqual(exits, [0, 0, 0]);
  });
});
