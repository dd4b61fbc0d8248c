// uPlot options for trainyard's charts: faceted lines, theme colours,
// axes for steps, wall time, relative time, percent and bytes.
import uPlot from 'uplot';
import { cssVar } from '../../theme';
import { fmtBytes, fmtDuration, fmtNum } from '../../lib/format';
import type { XMode } from '../../lib/series';
import { xRange } from './plotData';

export type YUnit = 'number' | 'percent' | 'bytes';

export function fmtY(v: number | null | undefined, unit: YUnit = 'number'): string {
  if (v === null || v === undefined) return '—';
  if (!Number.isFinite(v)) return fmtNum(v); // NaN, +Inf, −Inf, whatever the unit
  if (unit === 'percent') return `${fmtNum(v)}%`;
  if (unit === 'bytes') return fmtBytes(v);
  return fmtNum(v);
}

export function fmtX(v: number, mode: XMode): string {
  if (mode === 'step') return `step ${Math.round(v).toLocaleString('en-US')}`;
  if (mode === 'relative') return fmtDuration(v);
  return new Date(v * 1000).toLocaleString();
}

interface Args {
  width: number;
  height: number;
  xMode: XMode;
  logY: boolean;
  yUnit?: YUnit;
  series: { label: string; color: string }[];
  plugins: uPlot.Plugin[];
  onDraw: (u: uPlot) => void;
  onCursor: (u: uPlot) => void;
  onSelect: (u: uPlot) => void;
  /** the y range to show (covering the min/max bands), or null to let uPlot choose */
  yRange: (u: uPlot) => [number, number] | null;
  /** per line (0-based), the indices of its points to draw as markers, or null for none */
  marked: (line: number, plotWidth: number) => number[] | null;
}

/**
 * Beyond this many lines a chart draws thin (1 px) lines: a software
 * canvas draws hairlines several times faster than wider lines, and 100
 * overlaid runs read better thin anyway.
 */
export const MANY_LINES = 8;

/** Relative-time ticks fall on whole seconds, minutes, hours and days. */
const DURATION_INCRS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800, 2592000];

/** Step ticks: 1, 2, 5, 10, 20, 50, … */
const STEP_INCRS = Array.from({ length: 16 }, (_, e) => [1, 2, 5].map((m) => m * 10 ** e)).flat();

export function chartOptions(a: Args): uPlot.Options {
  const axis = cssVar('--chart-axis') || '#666';
  const grid = cssVar('--chart-grid') || '#ddd';
  const common = { stroke: axis, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 }, font: '11px system-ui, sans-serif' };
  const xAxis: uPlot.Axis = { ...common };
  if (a.xMode === 'relative') {
    // Ticks fall on whole units: "10m", not "10m 0s".
    xAxis.values = (_u, splits) => splits.map((s) => (s == null ? '' : fmtDuration(s).replace(/ 0[smh]$/, '')));
    xAxis.incrs = DURATION_INCRS;
  } else if (a.xMode === 'step') {
    xAxis.values = (_u, splits) => splits.map((s) => (s == null ? '' : fmtNum(s)));
    xAxis.incrs = STEP_INCRS; // steps are whole numbers: no tick at step 2.5
  }
  // A log axis leaves its minor ticks unlabelled (null).
  const yAxis: uPlot.Axis = { ...common, size: 64, values: (_u, splits) => splits.map((s) => (s == null ? '' : fmtY(s, a.yUnit))) };
  return {
    mode: 2,
    width: a.width,
    height: a.height,
    legend: { show: false },
    padding: [8, 12, 0, 0],
    cursor: {
      drag: { x: true, y: false, setScale: false },
      points: { show: false },
    },
    scales: {
      x: { time: a.xMode === 'time', range: (_u, min, max) => xRange(min, max, a.xMode) },
      y: {
        distr: a.logY ? 3 : 1,
        range: (u, min, max) => {
          // Nothing drawable (every value NaN, say): an empty axis; the edge marks show what there is.
          const r = a.yRange(u) ?? (min != null && max != null ? [min, max] : a.logY ? [1, 10] : [0, 1]);
          if (a.logY) return uPlot.rangeLog(Math.max(r[0], 1e-300), Math.max(r[1], 1e-300), 10, true);
          return uPlot.rangeNum(r[0], r[1], 0.1, true);
        },
      },
    },
    axes: [xAxis, yAxis],
    series: [
      {},
      ...a.series.map(
        (s): uPlot.Series => ({
          label: s.label,
          stroke: s.color,
          width: a.series.length > MANY_LINES ? 1 : 1.5,
          // Markers for the points chosen by index (uPlot's own choice by
          // density reads mode 1's index range, which faceted data lacks).
          points: {
            size: 6,
            fill: s.color,
            show: false,
            filter: (u, si) => a.marked(si - 1, u.bbox.width / devicePixelRatio),
          },
          paths: uPlot.paths.linear!(),
          facets: [
            { scale: 'x', auto: true },
            { scale: 'y', auto: true },
          ],
        }),
      ),
    ],
    plugins: a.plugins,
    hooks: {
      draw: [a.onDraw],
      setCursor: [a.onCursor],
      setSelect: [a.onSelect],
    },
  };
}
