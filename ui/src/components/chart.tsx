// A live time-series chart (uPlot). Each series has a colour and its own dash pattern, and the
// legend says each series' name and latest value in words: readable without colour.
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';

export interface SeriesSpec {
  label: string;
  color: string;
  dash?: number[];
  /** Filled area under the line (a faint tint of its colour). */
  fill?: string;
}

export interface ChartProps {
  title: string;
  series: SeriesSpec[];
  /** [times (s since epoch), ...one array per series] */
  data: number[][];
  format: (v: number) => string;
  /** The y axis starts at 0 and grows to at least this. */
  minMax?: number;
  /** Counts: whole-number ticks only. */
  integer?: boolean;
  height?: number;
}

const MIN_WINDOW_S = 60;
const MAX_WINDOW_S = 300;
const INTEGER_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 50_000, 100_000];
const AXIS = { stroke: '#64748b', grid: { stroke: '#eef1f5', width: 1 }, ticks: { stroke: '#e2e8f0', width: 1 }, font: '11px system-ui, sans-serif' };

export function Chart({ title, series, data, format, minMax = 1, integer = false, height = 170 }: ChartProps): JSX.Element {
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    const el = box.current!;
    const opts: uPlot.Options = {
      width: Math.max(200, el.clientWidth),
      height,
      legend: { show: false },
      cursor: { drag: { x: false, y: false }, points: { size: 6 } },
      scales: {
        // A sliding window as long as the history (1 to 5 minutes): a chart opened a few
        // seconds ago is not a sliver at the right edge of an empty 5-minute frame.
        x: {
          time: true,
          range: (u) => {
            const xs = u.data[0];
            const end = xs.length ? xs[xs.length - 1]! : Date.now() / 1000;
            const first = xs.length ? xs[0]! : end;
            return [end - Math.min(MAX_WINDOW_S, Math.max(MIN_WINDOW_S, end - first)), end];
          },
        },
        y: { range: (_u, _min, max) => [0, Math.max(minMax, (max || 0) * 1.15)] },
      },
      axes: [
        { ...AXIS, space: 70 },
        { ...AXIS, size: 56, incrs: integer ? INTEGER_STEPS : undefined, values: (_u, ticks) => ticks.map((t) => format(t)) },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label,
          stroke: s.color,
          width: 2,
          dash: s.dash,
          fill: s.fill,
          points: { show: false },
          value: (_u: uPlot, v: number | null) => (v === null ? '–' : format(v)),
        })),
      ],
    };
    plot.current = new uPlot(opts, data as uPlot.AlignedData, el);
    const ro = new ResizeObserver(() => plot.current?.setSize({ width: Math.max(200, el.clientWidth), height }));
    ro.observe(el);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is built once; data updates go through setData below.
  }, []);

  useEffect(() => {
    plot.current?.setData(data as uPlot.AlignedData);
  }, [data]);

  const latest = series.map((_, i) => {
    const col = data[i + 1] ?? [];
    return col.length ? col[col.length - 1]! : null;
  });
  return (
    <figure class="chart" aria-label={title} data-points={data[0]?.length ?? 0} data-latest={latest.map((v) => v ?? '').join(',')}>
      <figcaption>
        <span class="chart-title">{title}</span>
        <span class="legend">
          {series.map((s, i) => (
            <span class="legend-item" key={s.label}>
              <svg width="22" height="8" aria-hidden="true">
                <line x1="1" y1="4" x2="21" y2="4" stroke={s.color} stroke-width="2.5" stroke-dasharray={s.dash?.join(' ')} />
              </svg>
              {s.label} <b>{latest[i] === null ? '–' : format(latest[i]!)}</b>
            </span>
          ))}
        </span>
      </figcaption>
      <div class="chart-canvas" ref={box} />
    </figure>
  );
}
