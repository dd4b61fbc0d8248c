import type uPlot from 'uplot';
import { withAlpha } from '../../lib/colors';
import { MANY_LINES } from './options';
import { scalePx } from './px';

/** Underlay is drawn beneath a series' line: its min/max band and, when smoothed, the raw line. */
export interface Underlay {
  color: string;
  xs: number[];
  min?: (number | null)[];
  max?: (number | null)[];
  raw?: (number | null)[];
}

/**
 * underlayPlugin draws, under each series, the band between the min and max
 * of the server's downsampling buckets (so spikes that the bucket's last
 * value hides stay visible) and the unsmoothed line, faint.
 */
export function underlayPlugin(get: () => Underlay[], isShown: (i: number) => boolean): uPlot.Plugin {
  return {
    hooks: {
      drawAxes: (u: uPlot) => {
        const ctx = u.ctx;
        const { left, top, width, height } = u.bbox;
        ctx.save();
        ctx.beginPath();
        ctx.rect(left, top, width, height);
        ctx.clip();
        const all = get();
        const few = all.length <= MANY_LINES;
        all.forEach((ul, i) => {
          if (!isShown(i + 1)) return;
          if (ul.min && ul.max) {
            if (few) {
              drawBand(u, ul.xs, ul.min, ul.max, withAlpha(ul.color, 0.15));
              // The edges, so a one-bucket spike shows as a line, not a sliver.
              drawLine(u, ul.xs, ul.max, withAlpha(ul.color, 0.45));
              drawLine(u, ul.xs, ul.min, withAlpha(ul.color, 0.45));
            } else {
              // Many lines: a hairline from min to max per bucket. Buckets are
              // about a pixel apart, so this reads as the band, and a software
              // canvas draws it many times faster than a filled polygon.
              drawWhiskers(u, ul.xs, ul.min, ul.max, withAlpha(ul.color, 0.18));
            }
          }
          if (ul.raw) drawLine(u, ul.xs, ul.raw, withAlpha(ul.color, 0.3));
        });
        ctx.restore();
      },
    },
  };
}

function drawBand(u: uPlot, xs: number[], lo: (number | null)[], hi: (number | null)[], fill: string) {
  const ctx = u.ctx;
  const px = scalePx(u, 'x'), py = scalePx(u, 'y');
  ctx.fillStyle = fill;
  let i = 0;
  const n = xs.length;
  // one polygon per run of points without gaps
  while (i < n) {
    while (i < n && (lo[i] == null || hi[i] == null)) i++;
    const start = i;
    while (i < n && lo[i] != null && hi[i] != null) i++;
    if (i - start < 1) continue;
    ctx.beginPath();
    for (let j = start; j < i; j++) {
      const x = px(xs[j]), y = py(hi[j] as number);
      if (j === start) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    for (let j = i - 1; j >= start; j--) ctx.lineTo(px(xs[j]), py(lo[j] as number));
    ctx.closePath();
    ctx.fill();
  }
}

function drawWhiskers(u: uPlot, xs: number[], lo: (number | null)[], hi: (number | null)[], stroke: string) {
  const ctx = u.ctx;
  const px = scalePx(u, 'x'), py = scalePx(u, 'y');
  ctx.strokeStyle = stroke;
  ctx.lineWidth = 1;
  ctx.beginPath();
  for (let j = 0; j < xs.length; j++) {
    const a = lo[j], b = hi[j];
    if (a == null || b == null) continue;
    const y0 = py(a), y1 = py(b);
    if (y0 - y1 < 2) continue; // the line through the bucket covers a whisker this short
    const x = Math.round(px(xs[j])) + 0.5; // on a pixel column: crisp, and no blending of two
    ctx.moveTo(x, y0);
    ctx.lineTo(x, y1);
  }
  ctx.stroke();
}

function drawLine(u: uPlot, xs: number[], ys: (number | null)[], stroke: string) {
  const ctx = u.ctx;
  const px = scalePx(u, 'x'), py = scalePx(u, 'y');
  ctx.strokeStyle = stroke;
  ctx.lineWidth = 1 * devicePixelRatio;
  ctx.beginPath();
  let pen = false;
  for (let j = 0; j < xs.length; j++) {
    const y = ys[j];
    if (y == null) {
      pen = false;
      continue;
    }
    const x = px(xs[j]), yy = py(y);
    if (pen) ctx.lineTo(x, yy);
    else ctx.moveTo(x, yy);
    pen = true;
  }
  ctx.stroke();
}
