import type uPlot from 'uplot';
import type { EdgeMarks } from './plotData';
import { scalePx } from './px';

/**
 * edgeMarksPlugin draws the values that have no place on the y axis where
 * the eye finds them: +Inf as ▲ on the top edge, −Inf as ▼ on the bottom
 * edge, NaN as × on the bottom edge, each at its x and in its line's
 * colour. The chart's note names them.
 */
export function edgeMarksPlugin(get: () => EdgeMarks[], colors: () => string[], isShown: (i: number) => boolean): uPlot.Plugin {
  return {
    hooks: {
      draw: (u: uPlot) => {
        const all = get();
        if (!all.some((m) => m.xs.length)) return;
        const ctx = u.ctx;
        const { left, top, width, height } = u.bbox;
        const r = 4 * devicePixelRatio;
        const bottom = top + height;
        const px = scalePx(u, 'x');
        ctx.save();
        ctx.lineWidth = 1.5 * devicePixelRatio;
        all.forEach((m, i) => {
          if (!isShown(i + 1) || !m.xs.length) return;
          const color = colors()[i];
          ctx.fillStyle = color;
          ctx.strokeStyle = color;
          const tri = new Path2D(), cross = new Path2D();
          for (let j = 0; j < m.xs.length; j++) {
            const x = px(m.xs[j]);
            if (!(x >= left - r && x <= left + width + r)) continue;
            switch (m.kinds[j]) {
              case '+inf':
                tri.moveTo(x, top);
                tri.lineTo(x + r, top + 1.7 * r);
                tri.lineTo(x - r, top + 1.7 * r);
                tri.closePath();
                break;
              case '-inf':
                tri.moveTo(x, bottom);
                tri.lineTo(x + r, bottom - 1.7 * r);
                tri.lineTo(x - r, bottom - 1.7 * r);
                tri.closePath();
                break;
              case 'nan':
                cross.moveTo(x - r * 0.8, bottom - r * 2.6);
                cross.lineTo(x + r * 0.8, bottom - r);
                cross.moveTo(x + r * 0.8, bottom - r * 2.6);
                cross.lineTo(x - r * 0.8, bottom - r);
                break;
            }
          }
          ctx.fill(tri);
          ctx.stroke(cross);
        });
        ctx.restore();
      },
    },
  };
}
