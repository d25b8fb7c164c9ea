// The bench's latency breakdown (bench/_latency-breakdown.ts) reads the agents' probe files:
// it finds the leader, measures each step between the marks of the same index (across agents,
// on their shared clock), and refuses a file that is not a probe record.
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { latencyBreakdown } from '../../bench/_latency-breakdown.js';
import { RecordingProbe } from '../../agent/observability/latency-probe.js';
import type { LatencyStage } from '../../agent/observability/latency-probe.js';

/** Writes a probe file for `node` whose marks are `times[index][stage]`. */
function probeFile(dir: string, node: string, times: Record<number, Partial<Record<LatencyStage, number>>>): void {
  let now = 0;
  const probe = new RecordingProbe(node, () => now);
  for (const [index, stages] of Object.entries(times))
    for (const [stage, t] of Object.entries(stages)) {
      now = t;
      probe.mark(stage as LatencyStage, Number(index));
    }
  probe.writeTo(dir);
}

describe('latency breakdown', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'coraft-breakdown-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('measures each step of a write from the marks of the leader and of its followers', () => {
    const leader = { propose: 100, ready: 100.5, sent: 101, synced: 102, ack: 103, committed: 103.25, applied: 104 };
    probeFile(dir, 'n1', { 7: leader });
    probeFile(dir, 'n2', { 7: { recv: 101.5, ready: 101.75, synced: 102.5, answered: 102.75 } });
    probeFile(dir, 'n3', {});
    const lines = latencyBreakdown(dir);
    assert.match(lines[0] ?? '', /leader n1, 1 writes/);
    const step = (name: string): string | undefined => lines.find((l) => l.startsWith(name));
    assert.match(step('L sent -> synced') ?? '', /\s1\.000\s/);
    assert.match(step('n2 L sent -> recv') ?? '', /\s0\.500\s/);
    assert.match(step('n2 ready -> synced') ?? '', /\s0\.750\s/);
    assert.match(step('n2 answered -> L ack') ?? '', /\s0\.250\s/);
    assert.match(step('L max(synced, ack) -> committed') ?? '', /\s0\.250\s/);
    assert.match(step('L propose -> applied (total)') ?? '', /\s4\.000\s/);
  });

  it("joins the client's record to the leader's writes by the time the endpoint received each", () => {
    probeFile(dir, 'n1', {
      7: { received: 100.25, propose: 100.5, applied: 104, responded: 104.5 },
      8: { received: 106, propose: 106.25, applied: 108, responded: 108.25 },
    });
    probeFile(dir, 'n2', {});
    const requests = [
      [100, 105],
      [105.5, 109],
    ];
    writeFileSync(
      join(dir, 'client.requests.json'),
      JSON.stringify({ dropped: 0, gc: [[104.6, 0.3, 1, 0]], requests }),
    );
    const lines = latencyBreakdown(dir);
    const step = (name: string): string | undefined => lines.find((l) => l.startsWith(name));
    assert.match(lines[1] ?? '', /client record: 2 of them matched/);
    // p50 of two values is the larger one (index floor(0.5 * 2) of the sorted two).
    assert.match(step('C sent -> L received') ?? '', /^\S.*\s0\.500\s/);
    assert.match(step('L applied -> responded') ?? '', /\s0\.500\s/);
    assert.match(step('L responded -> C answered') ?? '', /\s0\.750\s/);
    assert.match(step('C sent -> answered (client total)') ?? '', /\s5\.000\s/);
    const byClient = lines.findIndex((l) => l.startsWith('slowest 1 writes by client'));
    assert.ok(byClient > 0, 'a list of the slowest writes as the client saw them');
    assert.match(
      lines[byClient + 1] ?? '',
      /^ {2}of these, 1 overlap a GC pause \(the leader's 0, only another process's 1\)/,
    );
    assert.match(lines[byClient + 2] ?? '', /^ {2}7 5\.000: .*gc C:0\.3/);
  });

  it('says how many of the slowest writes overlap a GC pause, and which step made each of the others slow', () => {
    // 200 writes: propose, sent +0.25, synced +0.5, ack +0.5, committed, applied +6 (a long step, but as long in
    // every write: not what made any one slow). The slowest 1 % are two: 7 overlaps a leader's GC pause; 8's own
    // sync took 5 ms, 4.5 ms above its median.
    const stages = ['propose', 'sent', 'synced', 'ack', 'committed', 'applied'] as const;
    const marks = Array.from({ length: 200 }, (_, index) => {
      const t = index * 10;
      const syncMs = index === 8 ? 5 : 0.5;
      const extra = index === 7 ? 3 : 0;
      const done = t + 0.25 + Math.max(syncMs, 0.5) + extra;
      return [index, t, t + 0.25, t + 0.25 + syncMs, t + 0.75 + extra, done, done + 6];
    });
    writeFileSync(join(dir, 'n1.latency.json'), JSON.stringify({ node: 'n1', stages, marks, gc: [[71, 2, 1, 0]] }));
    writeFileSync(join(dir, 'n2.latency.json'), JSON.stringify({ node: 'n2', stages: [], marks: [], gc: [] }));
    const lines = latencyBreakdown(dir);
    const header = lines.findIndex((l) => l.startsWith('slowest 2 writes by L propose -> applied'));
    assert.ok(header > 0, lines.join('\n'));
    assert.equal(
      lines[header + 1],
      "  of these, 1 overlap a GC pause (the leader's 1, only another process's 0); the other 1, by the step " +
        'furthest above its median: L sent -> synced (own write) 1',
    );
  });

  it('averages each step over the writes around the p99 against its median over all writes', () => {
    // 200 writes of 6.75 ms (propose -> applied); writes 5 and 6 synced in 2.5 ms instead of 0.5, write 8 in 5 ms.
    // Ranked fastest first, the band (98.5-99.5 %: ranks 197 and 198) is writes 5 and 6, not 8 (rank 199).
    const stages = ['propose', 'sent', 'synced', 'ack', 'committed', 'applied'] as const;
    const marks = Array.from({ length: 200 }, (_, index) => {
      const t = index * 10;
      const syncMs = index === 8 ? 5 : index === 5 || index === 6 ? 2.5 : 0.5;
      const done = t + 0.25 + syncMs;
      return [index, t, t + 0.25, t + 0.25 + syncMs, t + 0.75, done, done + 6];
    });
    writeFileSync(join(dir, 'n1.latency.json'), JSON.stringify({ node: 'n1', stages, marks, gc: [] }));
    writeFileSync(join(dir, 'n2.latency.json'), JSON.stringify({ node: 'n2', stages: [], marks: [], gc: [] }));
    const lines = latencyBreakdown(dir);
    const header = lines.findIndex((l) => l.startsWith('p99 band by L propose -> applied: the 2 writes'));
    assert.ok(header > 0, lines.join('\n'));
    assert.match(lines[header] ?? '', /\(mean 8\.750 ms\)/);
    const row = (name: string): string | undefined => lines.slice(header).find((l) => l.trim().startsWith(name));
    assert.match(row('L sent -> synced (own write)') ?? '', /\s0\.500\s+2\.500\s+\+2\.000$/);
    assert.match(row('L max(synced, ack) -> committed') ?? '', /\s0\.000\s+0\.000\s+\+0\.000$/);
  });

  it('refuses a file that is not a probe record', () => {
    writeFileSync(join(dir, 'n1.latency.json'), JSON.stringify({ node: 'n1', stages: ['nope'], marks: [], gc: [] }));
    assert.throws(() => latencyBreakdown(dir), /not a latency probe record/);
  });
});
