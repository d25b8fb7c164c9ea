// Proves what the vs-etcd bench reports and in which order it measures (bench/_vs-etcd-report.ts,
// bench/_vs-etcd-plot.ts): coraft/etcd ratios (none without etcd), one table row per system and
// point with issue 16's goals beside the ratios, the default grid's skipped points named, an
// ABBA slice order in which each system leads equally often, and the suite's plots and table
// read back from the bench's JSON, with malformed points left out.
import { strict as assert } from 'node:assert';
import type { LoadFigures } from '../../bench/_closed-loop.js';
import { renderVsEtcdPlots, vsEtcdSection, vsPlotPoints } from '../../bench/_vs-etcd-plot.js';
import { figuresTable, gridPoints, ratiosTable, sliceOrder, vsRatios } from '../../bench/_vs-etcd-report.js';
import type { VsPoint } from '../../bench/_vs-etcd-report.js';

function figures(
  clients: number,
  valueBytes: number,
  writesPerSecond: number,
  p99Ms: number,
  cpu: number,
): LoadFigures {
  const member = (id: string): LoadFigures['members'][number] => ({
    id,
    cpuSeconds: 1,
    rssPeakBytes: 80 * 2 ** 20,
    rssAnonPeakBytes: 40 * 2 ** 20,
    writeBytes: 4096,
    writeCallBytes: 4096,
    cpuSecondsPer1000Writes: cpu / 3,
  });
  return {
    clients,
    valueBytes,
    durationMs: 10_000,
    writes: writesPerSecond * 10,
    errors: 0,
    writesPerSecond,
    p50Ms: p99Ms / 4,
    p99Ms,
    p999Ms: p99Ms * 1.5,
    maxMs: p99Ms * 2,
    cpuSecondsPer1000Writes: cpu,
    members: [member('a'), member('b'), member('c')],
    snapshotSends: 0,
  };
}

function point(clients: number, valueBytes: number, coraft: LoadFigures, etcd: LoadFigures | null): VsPoint {
  return { clients, valueBytes, coraft, etcd, ratios: vsRatios(coraft, etcd) };
}

describe('bench vs-etcd report', () => {
  it('gives coraft over etcd, and no ratio without etcd', () => {
    assert.deepEqual(vsRatios(figures(64, 256, 1766, 79, 1.2), figures(64, 256, 5575, 26, 0.6)), {
      writesPerSecond: 0.32,
      p99: 3.04,
      cpuPerWrite: 2,
    });
    assert.deepEqual(vsRatios(figures(1, 256, 559, 5.2, 1), null), {
      writesPerSecond: null,
      p99: null,
      cpuPerWrite: null,
    });
  });

  it('prints a row per system and point, and the ratios with their goals', () => {
    const points = [
      point(1, 256, figures(1, 256, 559, 5.2, 1), figures(1, 256, 777, 2.5, 0.5)),
      point(64, 4096, figures(64, 4096, 609, 82, 2), null),
    ];
    const rows = figuresTable(points).split('\n');
    assert.equal(rows.length, 2 + 3);
    assert.match(
      rows[2] ?? '',
      /^1 x 256 B\s+coraft\s+559\s+1\.3\s+5\.2\s+7\.8\s+1\s+0\.33\/0\.33\/0\.33\s+80\/80\/80\s+40\/40\/40\s+0\s+0$/,
    );
    assert.match(rows[3] ?? '', /^1 x 256 B\s+etcd\s+777 /);
    assert.match(rows[4] ?? '', /^64 x 4 KiB\s+coraft\s+609 /);
    const ratios = ratiosTable([
      ...points,
      point(64, 256, figures(64, 256, 1766, 79, 1.2), figures(64, 256, 5575, 26, 0.6)),
    ]).split('\n');
    assert.equal(ratios.length, 2 + 2);
    assert.match(ratios[2] ?? '', /^1 x 256 B\s+0\.72\s+2\.08\s+2\s+>= 1\.0; <= 1; <= 1$/);
    assert.match(ratios[3] ?? '', /^64 x 256 B\s+0\.32\s+3\.04\s+2\s+>= 1\.2; <= 1; <= 1$/);
  });

  it('runs the grid by value size then clients, naming what it skips', () => {
    const grid = gridPoints([1, 256], [256, 65_536], (c, v) => c >= 256 && v >= 65_536);
    assert.deepEqual(grid.run, [
      { clients: 1, valueBytes: 256 },
      { clients: 256, valueBytes: 256 },
      { clients: 1, valueBytes: 65_536 },
    ]);
    assert.deepEqual(grid.skipped, ['256 x 64 KiB']);
  });

  it('alternates which system goes first: ABBA within a point, and each point starts with the other system', () => {
    for (let p = 0; p < 6; p += 1) {
      const firsts = [0, 1].map((s) => sliceOrder(p, s)[0]);
      assert.deepEqual([...firsts].sort(), ['coraft', 'etcd']);
      assert.notEqual(sliceOrder(p + 1, 0)[0], sliceOrder(p, 0)[0]);
      assert.deepEqual([...sliceOrder(p, 0)].sort(), ['coraft', 'etcd']);
    }
  });

  it('reads the points back from JSON for the suite, plots both systems and tabulates the ratios', () => {
    const points = [
      point(1, 256, figures(1, 256, 559, 5.2, 1), figures(1, 256, 777, 2.5, 0.5)),
      point(16, 256, figures(16, 256, 900, 40, 1), figures(16, 256, 1800, 20, 0.5)),
    ];
    const json: unknown = JSON.parse(
      JSON.stringify({
        benchmark: 'vs-etcd',
        points: [...points, { clients: 'x' }, { clients: 64, valueBytes: 256, coraft: { writesPerSecond: 'fast' } }],
      }),
    );
    const read = vsPlotPoints(json);
    assert.equal(read.length, 4);
    assert.deepEqual(read[1], { system: 'etcd', clients: 1, valueBytes: 256, writesPerSecond: 777, p99Ms: 2.5 });
    assert.deepEqual(vsPlotPoints({ points: 'none' }), []);
    const svg = renderVsEtcdPlots(read);
    for (const doc of [svg.throughput, svg.p99]) {
      const lines = [...doc.matchAll(/<polyline [^>]*\/>/g)].map((m) => m[0]);
      assert.equal(lines.length, 2);
      assert.equal(lines.filter((l) => l.includes('stroke-dasharray')).length, 1);
    }
    const section = vsEtcdSection(read, { throughput: 't.svg', p99: 'p.svg' });
    assert.ok(section.includes('![writes per second by clients](t.svg)'));
    assert.ok(section.includes('| 16 | 256 B | 900 | 1,800 | 0.5 | 40 | 20 | 2 |'));
  });
});
