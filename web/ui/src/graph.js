// The graph view of a range query's result: uPlot lines or stacked areas, a legend with
// the series labels (click to hide or show a series), and a hover readout.
import uPlot from 'uplot';
import { formatTime, h, seriesName } from './dom.js';

/** Series colours: distinct hues, cycling with a darker shade. */
export function color(i, alpha = 1) {
  const base = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];
  const hex = base[i % base.length];
  const dark = Math.floor(i / base.length) % 3;
  const [r, g, b] = [1, 3, 5].map((o) => Math.round(parseInt(hex.slice(o, o + 2), 16) * (1 - dark * 0.25)));
  return `rgba(${r},${g},${b},${alpha})`;
}

/** Parses an API sample value (Go float text, `NaN`, `+Inf`, `-Inf`). */
function num(v) {
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return parseFloat(v);
}

/**
 * Aligns a matrix on the query's steps: x in seconds from `start` to `end` by `step`,
 * one array per series with null where it has no sample. Non-finite values are gaps.
 */
export function alignMatrix(result, start, end, step) {
  const xs = [];
  for (let t = start; t <= end + 1e-9; t += step) xs.push(Math.round(t * 1000) / 1000);
  const index = new Map(xs.map((t, i) => [t, i]));
  const ys = result.map((s) => {
    const col = new Array(xs.length).fill(null);
    for (const [t, v] of s.values || []) {
      const i = index.get(Math.round(t * 1000) / 1000);
      const n = num(v);
      if (i !== undefined && Number.isFinite(n)) col[i] = n;
    }
    for (const [t, hist] of s.histograms || []) {
      // Native histograms are drawn by their count, as Prometheus's graph does for sums.
      const i = index.get(Math.round(t * 1000) / 1000);
      const n = num(hist.count);
      if (i !== undefined && Number.isFinite(n)) col[i] = n;
    }
    return col;
  });
  return [xs, ys];
}

/** Cumulative sums for the stacked view: nulls stay gaps, and count as 0 below others. */
export function stack(ys) {
  const acc = ys.length ? new Array(ys[0].length).fill(0) : [];
  return ys.map((col) =>
    col.map((v, i) => {
      if (v === null) return null;
      acc[i] += v;
      return acc[i];
    }),
  );
}

/** uPlot points filter: the indices of values whose neighbours are both gaps. */
function isolated(u, seriesIdx) {
  const ys = u.data[seriesIdx];
  const out = [];
  for (let i = 0; i < ys.length; i++) {
    if (ys[i] !== null && (i === 0 || ys[i - 1] === null) && (i === ys.length - 1 || ys[i + 1] === null)) out.push(i);
  }
  return out;
}

function fmtValue(v) {
  if (v === null || v === undefined) return '–';
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e6 || a < 1e-3)) return v.toExponential(3);
  return String(Math.round(v * 1e6) / 1e6);
}

/**
 * Draws the graph of `data` (a matrix) for the range `start`..`end` (seconds) by `step`
 * into `el`. Returns a function that frees the chart.
 */
export function drawGraph(el, data, { start, end, step, stacked }) {
  const result = data.result || [];
  const names = result.map((s) => seriesName(s.metric));
  const [xs, raw] = alignMatrix(result, start, end, step);
  const ys = stacked ? stack(raw) : raw;

  const chartEl = h('div', { class: 'graph-chart' });
  const tooltip = h('div', { class: 'graph-tooltip', hidden: true });
  const legend = h('div', { class: 'graph-legend' });
  el.replaceChildren(h('div', { class: 'graph-area' }, chartEl, tooltip), legend);

  const series = [{}];
  names.forEach((name, i) => {
    series.push({
      label: name,
      stroke: color(i),
      width: 1.5,
      fill: stacked ? color(i, 0.35) : undefined,
      spanGaps: false,
      // Lines need two neighbouring points: draw the isolated ones as dots.
      points: { show: true, size: 5, filter: isolated },
    });
  });
  const bands = stacked ? names.slice(1).map((_, i) => ({ series: [i + 2, i + 1], fill: color(i + 1, 0.35) })) : [];
  if (stacked) series.forEach((s, i) => i > 1 && (s.fill = undefined));

  let focused = null;
  const width = () => Math.max(300, el.clientWidth || 800);
  const opts = {
    width: width(),
    height: 360,
    series,
    bands,
    legend: { show: false },
    cursor: { focus: { prox: 30 }, drag: { x: false, y: false } },
    focus: { alpha: 0.4 },
    scales: { x: { time: true, range: [start, end] } },
    axes: [{ stroke: '#555', grid: { stroke: '#eee' } }, { stroke: '#555', grid: { stroke: '#eee' }, size: 70 }],
    hooks: {
      setSeries: [(u, i, opts) => opts && opts.focus !== undefined && (focused = opts.focus ? i : null)],
      setCursor: [
        (u) => {
          const idx = u.cursor.idx;
          if (idx === null || idx === undefined) {
            tooltip.hidden = true;
            return;
          }
          // The focused series, or every shown series with a value here (largest first).
          const pick = focused && u.series[focused] && u.series[focused].show ? [focused] : names.map((_, i) => i + 1).filter((s) => u.series[s].show);
          const rows = pick
            .filter((s) => raw[s - 1][idx] !== null)
            .sort((a, b) => raw[b - 1][idx] - raw[a - 1][idx])
            .slice(0, 10);
          if (!rows.length) {
            tooltip.hidden = true;
            return;
          }
          tooltip.replaceChildren(
            h('div', { class: 'tooltip-time' }, `${formatTime(xs[idx] * 1000)} UTC`),
            ...rows.map((s) =>
              h(
                'div',
                { class: 'tooltip-row' },
                h('span', { class: 'swatch', style: `background:${color(s - 1)}` }),
                h('strong', {}, fmtValue(raw[s - 1][idx])),
                ' ',
                h('span', { class: 'tooltip-series' }, names[s - 1]),
              ),
            ),
          );
          tooltip.hidden = false;
          const left = u.cursor.left + u.over.offsetLeft;
          const flip = left > chartEl.clientWidth / 2;
          tooltip.style.left = flip ? '' : `${left + 12}px`;
          tooltip.style.right = flip ? `${chartEl.clientWidth - left + 12}px` : '';
          tooltip.style.top = `${u.cursor.top + u.over.offsetTop + 12}px`;
        },
      ],
    },
  };
  const plot = new uPlot(opts, [xs, ...ys], chartEl);

  legend.append(
    ...names.map((name, i) =>
      h(
        'div',
        {
          class: 'legend-item',
          title: 'Click to hide or show',
          onclick: (e) => {
            const show = !plot.series[i + 1].show;
            plot.setSeries(i + 1, { show });
            e.currentTarget.classList.toggle('legend-hidden', !show);
          },
        },
        h('span', { class: 'swatch', style: `background:${color(i)}` }),
        h('span', { class: 'legend-label' }, name),
      ),
    ),
  );

  const ro = new ResizeObserver(() => plot.setSize({ width: width(), height: 360 }));
  ro.observe(el);
  return () => {
    ro.disconnect();
    plot.destroy();
  };
}
