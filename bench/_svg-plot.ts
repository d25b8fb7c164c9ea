/**
 * A small SVG line plot for the bench report: one or more series of (x, y) points on linear or
 * logarithmic axes, with ticks, a label per point and a legend. No dependency; the output is a
 * standalone SVG document.
 */

/** One point; `label` is written beside it (e.g. the client count). */
export interface PlotPoint {
  readonly x: number;
  readonly y: number;
  readonly label?: string;
}

/** One line. `dashed` draws it dashed (e.g. p99 beside a solid p50). */
export interface PlotSeries {
  readonly name: string;
  readonly points: readonly PlotPoint[];
  readonly dashed?: boolean;
  /** Index into the palette; default the series' position. */
  readonly colour?: number;
}

/** What to draw. */
export interface LinePlot {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly PlotSeries[];
  /** Logarithmic axes. Default false. */
  readonly logX?: boolean;
  readonly logY?: boolean;
}

const WIDTH = 760;
const HEIGHT = 480;
const MARGIN = { left: 80, right: 190, top: 40, bottom: 60 } as const;
const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'] as const;

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function format(value: number): string {
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e6) return `${+(value / 1e6).toPrecision(3)}M`;
  if (abs >= 1e3) return `${+(value / 1e3).toPrecision(3)}k`;
  return String(+value.toPrecision(3));
}

/** Tick values: powers of ten (log) or 1-2-5 steps (linear) covering [min, max]. */
function ticks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e += 1) out.push(10 ** e);
    return out;
  }
  const span = max - min || 1;
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? power * 10;
  const out: number[] = [];
  for (let v = Math.floor(min / step) * step; v <= max + step / 2; v += step) out.push(v);
  return out;
}

/** A scale from data to pixels over [from, to], with its ticks. */
function scale(
  values: readonly number[],
  from: number,
  to: number,
  log: boolean,
): { map: (v: number) => number; ticks: number[] } {
  const usable = log ? values.filter((v) => v > 0) : values;
  let min = usable.length > 0 ? Math.min(...usable) : log ? 1 : 0;
  let max = usable.length > 0 ? Math.max(...usable) : 1;
  if (!log) min = Math.min(0, min);
  if (max <= min) max = log ? min * 10 : min + 1;
  const t = ticks(min, max, log);
  const lo = t[0] ?? min;
  const hi = t[t.length - 1] ?? max;
  const f = (v: number): number => (log ? Math.log10(Math.max(v, lo)) : v);
  const map = (v: number): number => from + ((f(v) - f(lo)) / (f(hi) - f(lo) || 1)) * (to - from);
  return { map, ticks: t };
}

/** Draws the plot as an SVG document. */
export function renderLinePlot(plot: LinePlot): string {
  const xs = plot.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = plot.series.flatMap((s) => s.points.map((p) => p.y));
  const x = scale(xs, MARGIN.left, WIDTH - MARGIN.right, plot.logX === true);
  const y = scale(ys, HEIGHT - MARGIN.bottom, MARGIN.top, plot.logY === true);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" ` +
      `font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15">${escape(plot.title)}</text>`,
  ];
  for (const t of x.ticks) {
    const px = x.map(t).toFixed(1);
    parts.push(`<line x1="${px}" y1="${MARGIN.top}" x2="${px}" y2="${HEIGHT - MARGIN.bottom}" stroke="#eee"/>`);
    parts.push(`<text x="${px}" y="${HEIGHT - MARGIN.bottom + 16}" text-anchor="middle">${format(t)}</text>`);
  }
  for (const t of y.ticks) {
    const py = y.map(t).toFixed(1);
    parts.push(`<line x1="${MARGIN.left}" y1="${py}" x2="${WIDTH - MARGIN.right}" y2="${py}" stroke="#eee"/>`);
    parts.push(
      `<text x="${MARGIN.left - 6}" y="${py}" text-anchor="end" dominant-baseline="middle">${format(t)}</text>`,
    );
  }
  parts.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${WIDTH - MARGIN.left - MARGIN.right}" ` +
      `height="${HEIGHT - MARGIN.top - MARGIN.bottom}" fill="none" stroke="#333"/>`,
  );
  parts.push(
    `<text x="${(MARGIN.left + WIDTH - MARGIN.right) / 2}" y="${HEIGHT - 18}" ` +
      `text-anchor="middle">${escape(plot.xLabel)}</text>`,
  );
  parts.push(
    `<text transform="translate(20 ${(MARGIN.top + HEIGHT - MARGIN.bottom) / 2}) rotate(-90)" ` +
      `text-anchor="middle">${escape(plot.yLabel)}</text>`,
  );
  plot.series.forEach((series, i) => {
    const colour = PALETTE[(series.colour ?? i) % PALETTE.length] ?? '#000';
    const points = series.points.map((p) => `${x.map(p.x).toFixed(1)},${y.map(p.y).toFixed(1)}`).join(' ');
    parts.push(
      `<polyline points="${points}" fill="none" stroke="${colour}" ` +
        `stroke-width="2"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    for (const p of series.points) {
      const px = x.map(p.x).toFixed(1);
      const py = y.map(p.y).toFixed(1);
      parts.push(`<circle cx="${px}" cy="${py}" r="3" fill="${colour}"/>`);
      if (p.label !== undefined)
        parts.push(
          `<text x="${px}" y="${(Number(py) - 7).toFixed(1)}" font-size="10" fill="${colour}" ` +
            `text-anchor="middle">${escape(p.label)}</text>`,
        );
    }
    const ly = MARGIN.top + 10 + i * 18;
    parts.push(
      `<line x1="${WIDTH - MARGIN.right + 12}" y1="${ly}" x2="${WIDTH - MARGIN.right + 36}" y2="${ly}" ` +
        `stroke="${colour}" stroke-width="2"${series.dashed === true ? ' stroke-dasharray="6 4"' : ''}/>`,
    );
    parts.push(
      `<text x="${WIDTH - MARGIN.right + 42}" y="${ly}" dominant-baseline="middle">${escape(series.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
