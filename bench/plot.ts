/**
 * SVG plotting shared by the bench reports: the frame (white page, title, x axis), a y grid with
 * labels, a legend, and a line chart over time. bench/report.ts draws its latency bars on the
 * frame; bench/soak.ts draws memory and fds over a soak as lines; the scale benches draw their
 * curves with a log x axis. Plain strings, no dependency; `writeChart` puts the SVG and its PNG
 * (rsvg-convert) beside the markdown that links them.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';

/** Colours of the reports' series (Vega's category10, as the latency bars always had). */
export const PALETTE = [
  '#4c78a8',
  '#f58518',
  '#54a24b',
  '#e45756',
  '#bab0ac',
  '#b279a2',
  '#9d755d',
  '#72b7b2',
];

export interface Frame {
  width: number;
  height: number;
  /** x of the y axis and the right end of the plot area. */
  left: number;
  right: number;
  /** y of the x axis and the top of the plot area. */
  bottom: number;
  top: number;
}

/** The page, its title and the x axis line: the first elements of every chart. */
export function frameStart(f: Frame, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f.width}" height="${f.height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${f.width}" height="${f.height}" fill="white"/>`,
    `<text x="${f.width / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`,
    `<line x1="${f.left}" y1="${f.bottom}" x2="${f.right}" y2="${f.bottom}" stroke="black"/>`,
  ];
}

/** Horizontal grid lines with their values at 0, max/ticks, …, max. */
export function yGrid(f: Frame, max: number, ticks = 4, digits = 2): string[] {
  const el: string[] = [];
  for (let t = 0; t <= ticks; t++) {
    const v = (max * t) / ticks;
    const y = f.bottom - (v / max) * (f.bottom - f.top);
    el.push(`<text x="${f.left - 6}" y="${y + 4}" text-anchor="end">${v.toFixed(digits)}</text>`);
    el.push(`<line x1="${f.left}" y1="${y}" x2="${f.right}" y2="${y}" stroke="#ddd"/>`);
  }
  return el;
}

/** A row of coloured squares with names, `step` px apart, starting at (x, y). */
export function legend(
  items: { name: string; color: string }[],
  x: number,
  y: number,
  step = 110,
): string[] {
  return items.flatMap((it, i) => [
    `<rect x="${x + i * step}" y="${y}" width="12" height="12" fill="${it.color}"/>`,
    `<text x="${x + i * step + 18}" y="${y + 10}">${escapeXml(it.name)}</text>`,
  ]);
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export interface LineSeries {
  name: string;
  /** [x, y] in data units, x ascending. */
  points: [number, number][];
  color?: string;
  /** Drawn against the right-hand axis (e.g. fds beside MB). */
  right?: boolean;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel: string;
  /** Label of the right-hand axis when some series use it. */
  rightLabel?: string;
  series: LineSeries[];
  /** Vertical markers (phase boundaries) at these x values. */
  marks?: { x: number; label: string }[];
  /** x on a log10 scale (positive x only), ticks at the powers of ten: curves vs scale. */
  xLog?: boolean;
}

/** Lines over a shared x axis, left axis from 0, optional right axis from 0. */
export function lineSvg(c: LineChart): string {
  // Legend rows of four under the x axis label.
  const rows = Math.ceil(c.series.length / 4);
  const f: Frame = {
    width: 820,
    height: 396 + rows * 18,
    left: 70,
    right: 750,
    bottom: 350,
    top: 40,
  };
  const all = (right: boolean) =>
    c.series.filter((s) => Boolean(s.right) === right).flatMap((s) => s.points);
  const tx = (x: number) => (c.xLog ? Math.log10(x) : x);
  const xs = c.series.flatMap((s) => s.points.map((p) => tx(p[0])));
  const xMin = c.xLog ? Math.floor(Math.min(...xs)) : Math.min(...xs, 0);
  const xMax = c.xLog ? Math.max(Math.ceil(Math.max(...xs)), xMin + 1) : Math.max(...xs, xMin + 1);
  const niceMax = (pts: [number, number][]) => {
    const m = Math.max(1, ...pts.map((p) => p[1]));
    const mag = 10 ** Math.floor(Math.log10(m));
    return Math.ceil((m * 1.1) / mag) * mag;
  };
  const lMax = niceMax(all(false));
  const rMax = niceMax(all(true));
  const px = (x: number) => f.left + ((tx(x) - xMin) / (xMax - xMin)) * (f.right - f.left);
  const py = (y: number, max: number) => f.bottom - (y / max) * (f.bottom - f.top);
  const el = frameStart(f, c.title);
  el.push(...yGrid(f, lMax, 5, lMax >= 50 ? 0 : 1));
  el.push(
    `<text x="16" y="${(f.top + f.bottom) / 2}" text-anchor="middle" transform="rotate(-90 16 ${(f.top + f.bottom) / 2})">${escapeXml(c.yLabel)}</text>`,
    `<text x="${(f.left + f.right) / 2}" y="${f.bottom + 34}" text-anchor="middle">${escapeXml(c.xLabel)}</text>`,
  );
  if (c.xLog) {
    for (let e = xMin; e <= xMax; e++) {
      el.push(
        `<text x="${px(10 ** e)}" y="${f.bottom + 16}" text-anchor="middle">${(10 ** e).toLocaleString('en')}</text>`,
        `<line x1="${px(10 ** e)}" y1="${f.top}" x2="${px(10 ** e)}" y2="${f.bottom}" stroke="#eee"/>`,
      );
    }
  } else {
    for (let t = 0; t <= 6; t++) {
      const x = xMin + ((xMax - xMin) * t) / 6;
      el.push(
        `<text x="${px(x)}" y="${f.bottom + 16}" text-anchor="middle">${x.toFixed(xMax - xMin < 6 ? 1 : 0)}</text>`,
      );
    }
  }
  if (all(true).length > 0) {
    for (let t = 0; t <= 5; t++) {
      const v = (rMax * t) / 5;
      el.push(
        `<text x="${f.right + 6}" y="${py(v, rMax) + 4}" text-anchor="start">${v.toFixed(0)}</text>`,
      );
    }
    el.push(
      `<text x="${f.width - 12}" y="${(f.top + f.bottom) / 2}" text-anchor="middle" transform="rotate(90 ${f.width - 12} ${(f.top + f.bottom) / 2})">${escapeXml(c.rightLabel ?? '')}</text>`,
    );
  }
  for (const m of c.marks ?? []) {
    el.push(
      `<line x1="${px(m.x)}" y1="${f.top}" x2="${px(m.x)}" y2="${f.bottom}" stroke="#888" stroke-dasharray="4 3"/>`,
      `<text x="${px(m.x) + 4}" y="${f.top + 12}">${escapeXml(m.label)}</text>`,
    );
  }
  const colored = c.series.map((s, i) => ({
    ...s,
    color: s.color ?? PALETTE[i % PALETTE.length]!,
  }));
  for (const s of colored) {
    const max = s.right ? rMax : lMax;
    const d = s.points.map((p) => `${px(p[0]).toFixed(1)},${py(p[1], max).toFixed(1)}`).join(' ');
    el.push(
      `<polyline fill="none" stroke="${s.color}" stroke-width="1.5"${s.right ? ' stroke-dasharray="6 3"' : ''} points="${d}"/>`,
    );
    // A curve of a few measured points shows them (a soak's 10 s samples are too dense).
    if (s.points.length <= 12)
      for (const p of s.points)
        el.push(
          `<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1], max).toFixed(1)}" r="3" fill="${s.color}"/>`,
        );
  }
  for (let r = 0; r < rows; r++)
    el.push(...legend(colored.slice(r * 4, r * 4 + 4), f.left, f.bottom + 46 + r * 18, 170));
  el.push('</svg>');
  return el.join('\n');
}

/**
 * Writes `<base>.svg` and its PNG (`png`, default `<base>.png`) through `rsvg-convert`
 * (librsvg2-bin, which `scripts/install.sh --bench` installs); returns their file names for the
 * report's links. Without the tool there is no PNG: `log` says so and the report links the SVG.
 */
export function writeChart(
  base: string,
  svg: string,
  log: (line: string) => void,
  png = `${base}.png`,
): { svg: string; png?: string } {
  const svgFile = `${base}.svg`;
  writeFileSync(svgFile, svg.endsWith('\n') ? svg : svg + '\n');
  try {
    execFileSync('rsvg-convert', ['-o', png, svgFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    return { svg: basename(svgFile), png: basename(png) };
  } catch (err) {
    log(`no PNG of ${basename(svgFile)} (${(err as Error).message}); install librsvg2-bin`);
    return { svg: basename(svgFile) };
  }
}
