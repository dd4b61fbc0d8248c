import type uPlot from 'uplot';

/** The parts of a uPlot that scalePx reads. */
export type PxSource = Pick<uPlot, 'bbox'> & { scales: Record<string, Pick<uPlot.Scale, 'min' | 'max' | 'distr'>> };

/**
 * scalePx is u.valToPos(v, key, true) (canvas pixels) as plain arithmetic,
 * for plugins that place hundreds of thousands of points: uPlot's own
 * function looks its scale up on every call. Linear and log scales.
 */
export function scalePx(u: PxSource, key: 'x' | 'y'): (v: number) => number {
  const sc = u.scales[key];
  const { left, top, width, height } = u.bbox;
  const log = sc.distr === 3;
  const lo = log ? Math.log10(sc.min!) : sc.min!;
  const span = (log ? Math.log10(sc.max!) : sc.max!) - lo;
  if (key === 'x') return log ? (v) => left + ((Math.log10(v) - lo) / span) * width : (v) => left + ((v - lo) / span) * width;
  const bottom = top + height;
  return log ? (v) => bottom - ((Math.log10(v) - lo) / span) * height : (v) => bottom - ((v - lo) / span) * height;
}
