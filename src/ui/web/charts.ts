/**
 * Every chart of the page, drawn by uPlot (the one module that imports it).
 * Each chart's container records how many data series it drew
 * (data-series), which the browser tests read.
 */
import uPlot from 'uplot';

const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
export const color = (i: number) => PALETTE[i % PALETTE.length]!;

const charts = new WeakMap<HTMLElement, uPlot>();

function place(el: HTMLElement, opts: uPlot.Options, data: uPlot.AlignedData, series: number): uPlot {
  charts.get(el)?.destroy();
  el.textContent = '';
  const u = new uPlot(opts, data, el);
  charts.set(el, u);
  el.dataset.series = String(series);
  return u;
}

const width = (el: HTMLElement) => Math.max(320, Math.min(1100, el.clientWidth || 800));

export interface Line {
  label: string;
  steps: number[];
  values: number[];
}

/** Metric histories overlaid: one line per (run, metric), on the union of their steps. */
export function historyChart(el: HTMLElement, lines: Line[], title: string): void {
  const steps = [...new Set(lines.flatMap((l) => l.steps))].sort((a, b) => a - b);
  const at = new Map(steps.map((s, i) => [s, i]));
  const ys = lines.map((l) => {
    const y: Array<number | null> = new Array(steps.length).fill(null);
    l.steps.forEach((s, i) => (y[at.get(s)!] = l.values[i]!));
    return y;
  });
  place(
    el,
    {
      title,
      width: width(el),
      height: 300,
      scales: { x: { time: false } },
      // A sweep's 200 lines would bury the chart under their legend.
      legend: { show: lines.length <= 12 },
      axes: [{ label: 'step' }, {}],
      series: [{ label: 'step' }, ...lines.map((l, i) => ({ label: l.label, stroke: color(i), spanGaps: true, points: { show: steps.length < 60 } }))],
    },
    [steps, ...ys] as uPlot.AlignedData,
    lines.length,
  );
}

/** A metric against a parameter: each value's mean over its runs, the band of one standard deviation, and the min and max. */
export function paramChart(el: HTMLElement, xs: Array<{ x: number; label: string; values: number[] }>, param: string, metric: string): void {
  const sorted = [...xs].sort((a, b) => a.x - b.x);
  const mean = sorted.map((p) => p.values.reduce((s, v) => s + v, 0) / p.values.length);
  const std = sorted.map((p, i) => (p.values.length > 1 ? Math.sqrt(p.values.reduce((s, v) => s + (v - mean[i]!) ** 2, 0) / (p.values.length - 1)) : 0));
  const labels = new Map(sorted.map((p) => [p.x, p.label]));
  const categorical = sorted.some((p) => String(p.x) !== p.label);
  place(
    el,
    {
      title: `${metric} against ${param} (mean, ±1 sd, min and max over repeats)`,
      width: width(el),
      height: 300,
      scales: { x: { time: false } },
      axes: [{ label: param, ...(categorical ? { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => labels.get(t) ?? '') } : {}) }, { label: metric }],
      series: [
        { label: param },
        { label: `mean ${metric}`, stroke: color(0), width: 2 },
        { label: '-1 sd', stroke: 'rgba(31,119,180,0.3)' },
        { label: '+1 sd', stroke: 'rgba(31,119,180,0.3)' },
        { label: 'min', stroke: color(1), paths: () => null, points: { show: true, size: 6 } },
        { label: 'max', stroke: color(2), paths: () => null, points: { show: true, size: 6 } },
      ],
      bands: [{ series: [3, 2], fill: 'rgba(31,119,180,0.15)' }],
    },
    [sorted.map((p) => p.x), mean, mean.map((m, i) => m - std[i]!), mean.map((m, i) => m + std[i]!), sorted.map((p) => Math.min(...p.values)), sorted.map((p) => Math.max(...p.values))],
    5,
  );
}

/**
 * Parallel coordinates: one axis per parameter and the metric (each scaled to
 * its own range, its min and max in the axis name), one line per run, colored
 * by the metric.
 */
export function parallelChart(el: HTMLElement, axes: string[], runs: Array<{ label: string; values: Array<number | null> }>): void {
  const ranges = axes.map((_, k) => {
    const v = runs.map((r) => r.values[k]).filter((x): x is number => x !== null && Number.isFinite(x));
    return v.length ? [Math.min(...v), Math.max(...v)] : [0, 1];
  });
  const norm = (k: number, v: number | null) => (v === null ? null : ranges[k]![1] === ranges[k]![0] ? 0.5 : (v - ranges[k]![0]!) / (ranges[k]![1]! - ranges[k]![0]!));
  const last = axes.length - 1;
  const hue = (r: { values: Array<number | null> }) => {
    const t = norm(last, r.values[last] ?? null) ?? 0.5;
    return `hsl(${Math.round(240 - 240 * t)}, 70%, 45%)`;
  };
  const fmt = (x: number) => (Math.abs(x) >= 1000 || (x !== 0 && Math.abs(x) < 0.01) ? x.toExponential(2) : String(+x.toFixed(3)));
  place(
    el,
    {
      title: `parallel coordinates (color: ${axes[last]})`,
      width: width(el),
      height: 320,
      legend: { show: false },
      scales: { x: { time: false, range: [-0.05, last + 0.05] }, y: { range: [-0.05, 1.05] } },
      axes: [
        { values: (_u: uPlot, ticks: number[]) => ticks.map((t) => (Number.isInteger(t) && axes[t] !== undefined ? `${axes[t]} [${fmt(ranges[t]![0]!)}, ${fmt(ranges[t]![1]!)}]` : '')), splits: () => axes.map((_, i) => i), grid: { stroke: '#999', width: 1 } },
        { show: false },
      ],
      series: [{}, ...runs.map((r) => ({ label: r.label, stroke: hue(r), width: 1, points: { show: false } }))],
    },
    [axes.map((_, i) => i), ...runs.map((r) => axes.map((_, k) => norm(k, r.values[k] ?? null)))] as uPlot.AlignedData,
    runs.length,
  );
}
