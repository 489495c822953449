// TSDB status: head statistics and the cardinality tables.
import { api } from '../api.js';
import { h, replace, section, table, title } from '../dom.js';

const TABLES = [
  ['seriesCountByMetricName', 'series count by metric names', 'Name', 'Count'],
  ['labelValueCountByLabelName', 'label names with value count', 'Name', 'Count'],
  ['memoryInBytesByLabelName', 'label names with high memory usage', 'Name', 'Bytes'],
  ['seriesCountByLabelValuePair', 'series count by label value pairs', 'Name', 'Count'],
];

function time(ms) {
  return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : 'no data';
}

const LIMITS = [10, 20, 50, 100, 1000];

export function render(root) {
  const body = h('div');
  const fromUrl = Number(new URLSearchParams(location.search).get('limit'));
  let limit = LIMITS.includes(fromUrl) ? fromUrl : 10;
  const select = h(
    'select',
    { class: 'input limit-select' },
    LIMITS.map((n) => h('option', { value: String(n), selected: n === limit }, `Top ${n}`)),
  );
  select.addEventListener('change', () => {
    limit = Number(select.value);
    history.replaceState(null, '', limit === 10 ? location.pathname : `${location.pathname}?limit=${limit}`);
    load();
  });
  replace(root, title('TSDB Status'), h('div', { class: 'toolbar' }, h('label', {}, 'Cardinality tables: ', select)), body);
  const load = () => section(
    body,
    () => api('status/tsdb', { limit }),
    ({ data }) => {
      const hs = data.headStats || {};
      const empty = !hs.numSeries;
      return [
        h('h2', {}, 'Head Stats'),
        table(
          ['Number of Series', 'Number of Chunks', 'Number of Label Pairs', 'Current Min Time', 'Current Max Time'],
          [[hs.numSeries, hs.chunkCount, hs.numLabelPairs, empty ? 'no data' : time(hs.minTime), empty ? 'no data' : time(hs.maxTime)]],
          { class: 'data-table head-stats' },
        ),
        TABLES.map(([key, heading, c1, c2]) => [
          h('h2', {}, `Top ${limit} ${heading}`),
          table([c1, c2], (data[key] || []).map((r) => [h('span', { class: 'mono' }, r.name), r.value]), { class: 'data-table cardinality', dataset: { table: key } }),
        ]),
      ];
    },
  );
  load();
}
