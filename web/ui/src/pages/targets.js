// Targets: active targets grouped by scrape pool, with health, labels, last scrape,
// duration and last error.
import { api } from '../api.js';
import { ago, badge, formatSeconds, h, labelBadges, replace, section, table, title } from '../dom.js';

export function render(root) {
  const body = h('div');
  const filter = h('input', { class: 'input filter', type: 'search', placeholder: 'Filter by endpoint or labels' });
  const unhealthy = h('input', { type: 'checkbox' });
  replace(
    root,
    title('Targets'),
    h('div', { class: 'toolbar' }, filter, h('label', { class: 'check' }, unhealthy, ' Unhealthy only')),
    body,
  );
  let data = null;
  const pools = () => {
    const q = filter.value.trim().toLowerCase();
    const byPool = new Map();
    for (const t of data.activeTargets) {
      if (!byPool.has(t.scrapePool)) byPool.set(t.scrapePool, []);
      byPool.get(t.scrapePool).push(t);
    }
    const out = [];
    for (const [pool, all] of [...byPool].sort((a, b) => a[0].localeCompare(b[0]))) {
      const up = all.filter((t) => t.health === 'up').length;
      const shown = all.filter(
        (t) =>
          (!unhealthy.checked || t.health !== 'up') &&
          (!q || t.scrapeUrl.toLowerCase().includes(q) || JSON.stringify(t.labels).toLowerCase().includes(q)),
      );
      if (!shown.length) continue;
      out.push(
        h(
          'details',
          { class: 'pool', open: true, dataset: { pool } },
          h('summary', {}, h('span', { class: 'pool-name' }, pool), h('span', { class: `pool-count ${up === all.length ? 'ok' : 'bad'}` }, `(${up}/${all.length} up)`)),
          table(
            ['Endpoint', 'State', 'Labels', 'Last Scrape', 'Scrape Duration', 'Error'],
            shown.map((t) => [
              h('a', { href: t.scrapeUrl, class: 'endpoint' }, t.scrapeUrl),
              badge(t.health),
              labelBadges(t.labels),
              ago(t.lastScrape),
              t.lastScrape.startsWith('0001-') ? '–' : formatSeconds(t.lastScrapeDuration),
              t.lastError ? h('span', { class: 'error-text' }, t.lastError) : '',
            ]),
            { class: 'data-table targets-table' },
          ),
        ),
      );
    }
    return out.length ? out : h('div', { class: 'empty-result' }, data.activeTargets.length ? 'No targets match.' : 'No active targets.');
  };
  const draw = () => replace(body, pools());
  filter.addEventListener('input', () => data && draw());
  unhealthy.addEventListener('change', () => data && draw());
  section(
    body,
    () => api('targets', { state: 'active' }),
    (b) => {
      data = b.data;
      return pools();
    },
  );
}
