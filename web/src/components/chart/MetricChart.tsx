import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { useTheme } from '../../theme';
import type { XMode } from '../../lib/series';
import { underlayPlugin } from './bandsPlugin';
import { edgeMarksPlugin } from './edgeMarksPlugin';
import { buildPlot, markedPoints, nearestIndex, undrawableNote, visibleRange, type PlotLine } from './plotData';
import { chartOptions, type YUnit } from './options';
import { ChartLegend, type LegendRow } from './ChartLegend';

export interface MetricChartProps {
  lines: PlotLine[];
  width: number;
  height?: number;
  xMode: XMode;
  logY: boolean;
  smoothing: number;
  yUnit?: YUnit;
  /** a drag-zoom on the x axis (null: reset), for fetching detail */
  onZoom?: (range: [number, number] | null) => void;
  /** every line has its data: the first draw then sets the performance marks */
  complete: boolean;
}

let firstChartMarked = false;

/**
 * MetricChart draws lines with uPlot, each with its own x values, over the
 * min/max band of the server's downsampling. The figure carries
 * data-series-count and data-drawn for tests; the first complete draw on a
 * page sets the performance mark "trainyard:first-chart".
 */
export function MetricChart({ lines, width, height = 220, xMode, logY, smoothing, yUnit, onZoom, complete }: MetricChartProps) {
  const holder = useRef<HTMLDivElement>(null);
  const figure = useRef<HTMLDivElement>(null);
  const plotRef = useRef<uPlot | null>(null);
  const applied = useRef<{ data: unknown; hidden: Set<number>; width: number; height: number; complete: boolean }>({
    data: null,
    hidden: new Set(),
    width: 0,
    height: 0,
    complete: false,
  });
  const { theme } = useTheme();
  const [hidden, setHidden] = useState<Set<number>>(new Set());
  const [cursorIdx, setCursorIdx] = useState<{ x: number } | null>(null);
  const built = useMemo(() => buildPlot(lines, xMode, logY, smoothing), [lines, xMode, logY, smoothing]);
  const builtRef = useRef(built);
  builtRef.current = built;
  const hiddenRef = useRef(hidden);
  hiddenRef.current = hidden;
  const zoomRef = useRef(onZoom);
  zoomRef.current = onZoom;
  const completeRef = useRef(complete);
  completeRef.current = complete;
  const structure = `${lines.length}|${lines.map((l) => l.color + l.label).join(',')}|${xMode}|${logY}|${theme}|${height}|${yUnit}`;

  useLayoutEffect(() => {
    if (!holder.current || width <= 0) return;
    let raf = 0;
    let marked = false;
    let lastRange: { args: readonly unknown[]; range: [number, number] | null } | undefined;
    const opts = chartOptions({
      width, height, xMode, logY, yUnit,
      series: lines.map((l) => ({ label: l.label, color: l.color })),
      plugins: [
        underlayPlugin(() => builtRef.current.underlays, (i) => !hiddenRef.current.has(i - 1)),
        edgeMarksPlugin(() => builtRef.current.edges, () => lines.map((l) => l.color), (i) => !hiddenRef.current.has(i - 1)),
      ],
      marked: (i, plotWidth) => markedPoints(builtRef.current, i, plotWidth),
      onDraw: () => {
        const el = figure.current;
        if (!el || !completeRef.current || marked) return;
        marked = true;
        el.dataset.drawn = 'true';
        performance.mark('trainyard:chart-drawn', { detail: { series: lines.length } });
        if (!firstChartMarked) {
          firstChartMarked = true;
          performance.mark('trainyard:first-chart', { detail: { series: lines.length } });
        }
      },
      onCursor: (u) => {
        cancelAnimationFrame(raf);
        raf = requestAnimationFrame(() => {
          const left = u.cursor.left ?? -1;
          setCursorIdx(left < 0 ? null : { x: u.posToVal(left, 'x') });
        });
      },
      yRange: (u) => {
        // uPlot asks on every redraw; the answer changes only with these four.
        const args = [builtRef.current, hiddenRef.current, u.scales.x.min, u.scales.x.max] as const;
        if (!lastRange || args.some((a, i) => a !== lastRange!.args[i])) lastRange = { args, range: visibleRange(...args) };
        return lastRange.range;
      },
      onSelect: (u) => {
        const { left, width: w } = u.select;
        if (w < 4) return;
        const range: [number, number] = [u.posToVal(left, 'x'), u.posToVal(left + w, 'x')];
        u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
        u.setScale('x', { min: range[0], max: range[1] });
        if (xMode === 'step') zoomRef.current?.([Math.floor(range[0]), Math.ceil(range[1])]);
      },
    });
    const u = new uPlot(opts, built.facets as unknown as uPlot.AlignedData, holder.current);
    plotRef.current = u;
    // What this plot now shows, so that the effects below change only what differs:
    // each redundant setData, setSize or redraw is a whole redraw of every line.
    hiddenRef.current.forEach((i) => u.setSeries(i + 1, { show: false })); // lines hidden before a rebuild stay hidden
    applied.current = { data: built, hidden: new Set(hiddenRef.current), width, height, complete: completeRef.current };
    const reset = () => zoomRef.current?.(null);
    u.over.addEventListener('dblclick', reset);
    return () => {
      cancelAnimationFrame(raf);
      u.over.removeEventListener('dblclick', reset);
      u.destroy();
      plotRef.current = null;
    };
    // Rebuilt when the structure changes; data and size are pushed below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [structure, width > 0]);

  useEffect(() => {
    const u = plotRef.current, a = applied.current;
    if (!u || a.data === built) return;
    a.data = built;
    u.setData(built.facets as unknown as uPlot.AlignedData);
  }, [built]);

  useEffect(() => {
    const u = plotRef.current, a = applied.current;
    if (!u || width <= 0 || (a.width === width && a.height === height)) return;
    Object.assign(a, { width, height });
    u.setSize({ width, height });
  }, [width, height]);

  useEffect(() => {
    const u = plotRef.current, a = applied.current;
    if (!u) return;
    const changed = lines.map((_, i) => i).filter((i) => hidden.has(i) !== a.hidden.has(i));
    if (changed.length === 0) return;
    a.hidden = new Set(hidden);
    u.batch(() => changed.forEach((i) => u.setSeries(i + 1, { show: !hidden.has(i) })));
  }, [hidden, lines]);

  useEffect(() => {
    const u = plotRef.current, a = applied.current;
    if (!u || !complete || a.complete) return;
    a.complete = true;
    u.redraw(false); // the draw that sets the performance marks
  }, [complete]);

  // The legend shows values as logged: NaN and ±Inf by name, not as gaps.
  const legend: LegendRow[] = lines.map((l, i) => {
    let value: number | null = null;
    const vals = built.values[i] ?? [];
    if (cursorIdx) {
      const j = nearestIndex(built.xs[i], cursorIdx.x);
      value = j >= 0 ? vals[j] : null;
    } else if (vals.length) {
      value = vals[vals.length - 1];
    }
    return { id: l.id, label: l.label, color: l.color, value, hidden: hidden.has(i) };
  });

  const note = undrawableNote(built.undrawable);

  const toggle = (i: number) =>
    setHidden((h) => {
      const n = new Set(h);
      if (n.has(i)) n.delete(i);
      else n.add(i);
      return n;
    });

  return (
    <div
      ref={figure}
      className="chart"
      data-series-count={lines.length}
      data-lone-points={built.lone.reduce((n, l) => n + l.length, 0)}
      data-edge-marks={built.edges.reduce((n, e) => n + e.xs.length, 0)}
    >
      <div ref={holder} className="chart-plot" />
      {note && <p className="chart-note small muted">{note}</p>}
      <ChartLegend rows={legend} atCursor={cursorIdx?.x} xMode={xMode} yUnit={yUnit} onToggle={toggle} />
    </div>
  );
}
