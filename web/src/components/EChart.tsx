// ECharts for what uPlot does not draw (parallel coordinates, scatter of
// hyperparameters), imported piece by piece so the bundle carries only
// these charts and the canvas renderer.
import { ParallelChart, ScatterChart } from 'echarts/charts';
import { GridComponent, ParallelComponent, TooltipComponent, VisualMapComponent } from 'echarts/components';
import * as echarts from 'echarts/core';
import { CanvasRenderer } from 'echarts/renderers';
import { useEffect, useRef } from 'react';
import { useTheme } from '../theme';

echarts.use([ParallelChart, ScatterChart, GridComponent, ParallelComponent, TooltipComponent, VisualMapComponent, CanvasRenderer]);

export type EChartOption = echarts.EChartsCoreOption;

/** cssVar reads a colour of the current theme. */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}

/**
 * EChart draws option into a box of the given height, redrawing when the
 * option or the theme changes and resizing with its container. label names
 * the figure for screen readers.
 */
export function EChart({ option, height = 320, label }: { option: EChartOption; height?: number; label: string }) {
  const box = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  const { theme } = useTheme();
  useEffect(() => {
    if (!box.current) return;
    const c = echarts.init(box.current, undefined, { renderer: 'canvas' });
    chart.current = c;
    const ro = new ResizeObserver(() => c.resize());
    ro.observe(box.current);
    return () => {
      ro.disconnect();
      c.dispose();
      chart.current = null;
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption({ textStyle: { color: cssVar('--fg') }, backgroundColor: 'transparent', animation: false, ...option }, true);
  }, [option, theme]);
  return <div ref={box} className="echart" role="img" aria-label={label} style={{ height }} />;
}
