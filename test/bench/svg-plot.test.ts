// Proves the bench report's SVG plot module draws what it is given: one polyline and one legend
// entry per series (dashed when asked), a marker and label per point, escaped text, point
// positions that follow the data on linear and log axes, and no failure on empty series.
import { strict as assert } from 'node:assert';
import { renderLinePlot } from '../../bench/_svg-plot.js';

function polylines(svg: string): { points: number[][]; dashed: boolean }[] {
  return [...svg.matchAll(/<polyline points="([^"]*)"[^>]*?( stroke-dasharray="[^"]*")?\/>/g)].map((m) => ({
    points: (m[1] ?? '')
      .split(' ')
      .filter((p) => p !== '')
      .map((p) => p.split(',').map(Number)),
    dashed: m[2] !== undefined,
  }));
}

describe('bench svg plot', () => {
  it('draws one line per series, dashed when asked, with labelled points', () => {
    const svg = renderLinePlot({
      title: 'a <b> & c',
      xLabel: 'ops/s',
      yLabel: 'ms',
      series: [
        {
          name: 'p50',
          points: [
            { x: 10, y: 1, label: '1c' },
            { x: 100, y: 2, label: '16c' },
          ],
        },
        {
          name: 'p99',
          points: [
            { x: 10, y: 5 },
            { x: 100, y: 50 },
          ],
          dashed: true,
        },
      ],
      logY: true,
    });
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /a &lt;b&gt; &amp; c/);
    const lines = polylines(svg);
    assert.equal(lines.length, 2);
    assert.deepEqual(
      lines.map((l) => l.dashed),
      [false, true],
    );
    assert.equal((svg.match(/<circle /g) ?? []).length, 4);
    assert.match(svg, />16c</);
    // More throughput is further right; more latency is higher up (smaller y in SVG).
    const [p50, p99] = lines;
    assert.ok((p50?.points[1]?.[0] ?? 0) > (p50?.points[0]?.[0] ?? 0));
    assert.ok((p99?.points[1]?.[1] ?? 0) < (p99?.points[0]?.[1] ?? 0));
    assert.ok((p99?.points[0]?.[1] ?? 0) < (p50?.points[0]?.[1] ?? 0));
  });

  it('draws an empty plot without failing', () => {
    const svg = renderLinePlot({
      title: 't',
      xLabel: 'x',
      yLabel: 'y',
      series: [{ name: 'none', points: [] }],
      logX: true,
      logY: true,
    });
    assert.match(svg, /<\/svg>\n$/);
    assert.doesNotMatch(svg, /NaN|Infinity/);
  });
});
