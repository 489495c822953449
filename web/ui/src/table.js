// The table view of an instant query's result.
import { h, seriesName } from './dom.js';

/** Rows beyond this are not rendered (the count is still shown). */
const MAX_ROWS = 10000;

function histogramText(hist) {
  const buckets = (hist.buckets || []).map(([boundary, lo, hi, count]) => {
    const open = boundary === 1 || boundary === 3 ? '(' : '[';
    const close = boundary === 0 || boundary === 1 ? ']' : ')';
    return `${open}${lo}, ${hi}${close}: ${count}`;
  });
  return h(
    'div',
    { class: 'histogram' },
    h('div', {}, `count: ${hist.count}, sum: ${hist.sum}`),
    buckets.length ? h('div', { class: 'histogram-buckets' }, buckets.join('  ')) : null,
  );
}

function valueCell(sample) {
  if (sample.histogram) return histogramText(sample.histogram[1]);
  return sample.value[1];
}

function pointsCell(series) {
  const lines = [];
  for (const [t, v] of series.values || []) lines.push(`${v} @${t}`);
  for (const [t, hist] of series.histograms || []) lines.push(`count ${hist.count} sum ${hist.sum} @${t}`);
  return h('div', { class: 'points' }, lines.map((l) => h('div', {}, l)));
}

/** Renders `data` (`resultType`, `result`) as the result table. */
export function resultTable(data) {
  const { resultType, result } = data;
  let rows;
  switch (resultType) {
    case 'vector':
      rows = result.slice(0, MAX_ROWS).map((s) => [h('span', { class: 'series-name' }, seriesName(s.metric)), valueCell(s)]);
      break;
    case 'matrix':
      rows = result.slice(0, MAX_ROWS).map((s) => [h('span', { class: 'series-name' }, seriesName(s.metric)), pointsCell(s)]);
      break;
    case 'scalar':
      rows = [[h('span', { class: 'series-name' }, 'scalar'), result[1]]];
      break;
    case 'string':
      rows = [[h('span', { class: 'series-name' }, 'string'), result[1]]];
      break;
    default:
      rows = [];
  }
  const body = rows.length
    ? rows.map((r) => h('tr', {}, h('td', {}, r[0]), h('td', { class: 'value' }, r[1])))
    : [h('tr', {}, h('td', { colspan: 2, class: 'empty' }, 'Empty query result'))];
  return h(
    'div',
    {},
    Array.isArray(result) && result.length > MAX_ROWS && resultType !== 'scalar' && resultType !== 'string'
      ? h('div', { class: 'notice-box notice-warn' }, `Showing ${MAX_ROWS} of ${result.length} series.`)
      : null,
    h(
      'table',
      { class: 'data-table result-table' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Series'), h('th', {}, 'Value'))),
      h('tbody', {}, body),
    ),
  );
}

/** The number of series (or 1 for a scalar or string) a result holds. */
export function resultCount(data) {
  return Array.isArray(data.result) && (data.resultType === 'vector' || data.resultType === 'matrix')
    ? data.result.length
    : 1;
}
