import { useMemo, useRef, useState } from 'react';
import type { Run, Sweep, Trial } from '../../api/types';
import { EChart, cssVar, type EChartOption } from '../../components/EChart';
import { MetricChart } from '../../components/chart/MetricChart';
import { SeriesChart, type ChartLine, type ChartView } from '../../components/chart/SeriesChart';
import { useWidth } from '../../components/chart/useSize';
import { seriesColor } from '../../lib/colors';
import { fmtNum } from '../../lib/format';
import { lineOf } from '../run/runLines';
import { bestSoFar, isLogScale, paramNames, parallelRows, scatterPoints, type Mode } from './sweepData';

const STEP_VIEW: ChartView = { xMode: 'step', logY: false, smoothing: 0 };

/** BestSoFar draws the best completed trial's value as trials end (uPlot). */
export function BestSoFar({ sweep, trials }: { sweep: Sweep; trials: Trial[] }) {
  const body = useRef<HTMLDivElement>(null);
  const width = useWidth(body);
  const b = useMemo(() => bestSoFar(trials, sweep.mode as Mode), [trials, sweep.mode]);
  const lines = useMemo(
    () => [
      {
        id: 'best',
        label: `best ${sweep.metric}`,
        color: seriesColor(0),
        t0: 0,
        data: { key: 'best', total: b.x.length, downsampled: false, steps: b.x, values: b.y, times: b.x },
      },
    ],
    [b, sweep.metric],
  );
  return (
    <section className="card chart-card" aria-label="Chart best so far">
      <header className="chart-head">
        <h3>Best {sweep.metric} so far</h3>
        <span className="muted small">by trials ended</span>
      </header>
      <div ref={body} className="chart-body">
        {b.y.some((v) => !Number.isNaN(v)) ? (
          <MetricChart lines={lines} width={width} height={220} xMode="step" logY={false} smoothing={0} complete />
        ) : (
          <p className="muted chart-loading">No trial has completed yet.</p>
        )}
      </div>
    </section>
  );
}

/**
 * TrialCurves overlays the sweep's metric of every trial (each segment's
 * run in the trial's colour), live as the runs log.
 */
export function TrialCurves({ sweep, trials, runs }: { sweep: Sweep; trials: Trial[]; runs: Map<string, Run> }) {
  const lines = useMemo(() => {
    const out: ChartLine[] = [];
    for (const t of trials) {
      (t.jobs ?? []).forEach((id, seg) => {
        const run = runs.get(id);
        if (!run || !run.metrics[sweep.metric]) return;
        const l = lineOf(run, sweep.metric, seg === 0 ? `trial ${t.number}` : `trial ${t.number} (${seg + 1})`, t.number - 1);
        out.push({ ...l, color: seriesColor(t.number - 1) });
      });
    }
    return out;
  }, [trials, runs, sweep.metric]);
  if (lines.length === 0) return <p className="muted">The trials' curves appear as they report {sweep.metric}.</p>;
  return <SeriesChart title={`${sweep.metric} of each trial`} lines={lines} view={STEP_VIEW} height={260} />;
}

/** ParallelPlot shows every trial's parameters and metric as a line across axes (ECharts). */
export function ParallelPlot({ sweep, trials }: { sweep: Sweep; trials: Trial[] }) {
  const option = useMemo<EChartOption | null>(() => {
    const { dims, rows, numbers } = parallelRows(trials, sweep.metric);
    if (rows.length === 0) return null;
    const axis = cssVar('--chart-axis');
    const vals = rows.map((r) => r[r.length - 1] as number).filter(Number.isFinite);
    return {
      tooltip: { trigger: 'item', formatter: (p: { dataIndex: number }) => `trial ${numbers[p.dataIndex]}` },
      parallelAxis: dims.map((d, i) => ({
        dim: i,
        name: d.name,
        type: d.categories ? 'category' : isLogScale(rows.map((r) => r[i] as number).filter(Number.isFinite)) ? 'log' : 'value',
        data: d.categories,
        nameTextStyle: { color: axis },
        axisLabel: { color: axis },
        axisLine: { lineStyle: { color: axis } },
        scale: true,
      })),
      parallel: { left: 50, right: 90, top: 40, bottom: 30 },
      visualMap: {
        type: 'continuous', dimension: dims.length - 1, min: Math.min(...vals), max: Math.max(...vals), calculable: true,
        inverse: sweep.mode === 'max', right: 0, top: 'middle', itemHeight: 120, textStyle: { color: axis }, formatter: (v: number) => fmtNum(v),
        inRange: { color: ['#1a9850', '#fee08b', '#d73027'] },
      },
      series: [{ type: 'parallel', lineStyle: { width: 1.5, opacity: 0.7 }, data: rows }],
    };
  }, [trials, sweep.metric, sweep.mode]);
  if (!option) return <p className="muted">Parallel coordinates appear once trials report {sweep.metric}.</p>;
  return (
    <section className="card" aria-label="Parallel coordinates">
      <h3>Parameters and {sweep.metric}</h3>
      <EChart option={option} height={340} label={`Parallel coordinates of the trials' parameters and ${sweep.metric}`} />
    </section>
  );
}

/** ParamScatter plots one parameter (chosen) against the metric (ECharts). */
export function ParamScatter({ sweep, trials }: { sweep: Sweep; trials: Trial[] }) {
  const params = paramNames(trials);
  const [chosen, setChosen] = useState('');
  const param = params.includes(chosen) ? chosen : params[0] ?? '';
  const option = useMemo<EChartOption | null>(() => {
    if (!param) return null;
    const { points, categorical } = scatterPoints(trials, param);
    if (points.length === 0) return null;
    const axis = cssVar('--chart-axis'), grid = cssVar('--chart-grid');
    const xs = points.map((p) => p[0]);
    const axisStyle = { axisLabel: { color: axis }, axisLine: { lineStyle: { color: axis } }, splitLine: { lineStyle: { color: grid } }, nameTextStyle: { color: axis } };
    return {
      grid: { left: 60, right: 20, top: 20, bottom: 45 },
      tooltip: { trigger: 'item', formatter: (p: { value: [unknown, number, number] }) => `trial ${p.value[2]}: ${param} ${String(p.value[0])}, ${sweep.metric} ${fmtNum(p.value[1])}` },
      xAxis: categorical
        ? { type: 'category', name: param, nameLocation: 'middle', nameGap: 28, data: [...new Set(xs.map(String))].sort(), ...axisStyle }
        : { type: isLogScale(xs as number[]) ? 'log' : 'value', name: param, nameLocation: 'middle', nameGap: 28, scale: true, ...axisStyle },
      yAxis: { type: 'value', name: sweep.metric, scale: true, ...axisStyle },
      series: [{ type: 'scatter', symbolSize: 9, itemStyle: { color: cssVar('--accent'), opacity: 0.8 }, data: points }],
    };
  }, [trials, param, sweep.metric]);
  return (
    <section className="card" aria-label="Scatter">
      <header className="chart-head">
        <h3>
          {sweep.metric} against{' '}
          <select value={param} onChange={(e) => setChosen(e.target.value)} aria-label="Parameter">
            {params.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </h3>
      </header>
      {option ? <EChart option={option} height={300} label={`Scatter of ${param} against ${sweep.metric}`} /> : <p className="muted">No trial has reported {sweep.metric} yet.</p>}
    </section>
  );
}
