import type uPlot from 'uplot';
import { withAlpha } from '../../lib/colors';

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
        // Edges cost a stroke each; with many lines the fills say enough.
        const edges = all.length <= 8;
        all.forEach((ul, i) => {
          if (!isShown(i + 1)) return;
          if (ul.min && ul.max) {
            drawBand(u, ul.xs, ul.min, ul.max, withAlpha(ul.color, edges ? 0.15 : 0.1));
            if (edges) {
              // The edges, so a one-bucket spike shows as a line, not a sliver.
              drawLine(u, ul.xs, ul.max, withAlpha(ul.color, 0.45));
              drawLine(u, ul.xs, ul.min, withAlpha(ul.color, 0.45));
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
      const x = u.valToPos(xs[j], 'x', true), y = u.valToPos(hi[j] as number, 'y', true);
      if (j === start) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    for (let j = i - 1; j >= start; j--) ctx.lineTo(u.valToPos(xs[j], 'x', true), u.valToPos(lo[j] as number, 'y', true));
    ctx.closePath();
    ctx.fill();
  }
}

function drawLine(u: uPlot, xs: number[], ys: (number | null)[], stroke: string) {
  const ctx = u.ctx;
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
    const px = u.valToPos(xs[j], 'x', true), py = u.valToPos(y, 'y', true);
    if (pen) ctx.lineTo(px, py);
    else ctx.moveTo(px, py);
    pen = true;
  }
  ctx.stroke();
}
