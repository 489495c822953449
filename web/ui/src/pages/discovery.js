// Service discovery: per scrape pool, each target's discovered labels next to the labels
// after relabelling, dropped targets included.
import { api } from '../api.js';
import { h, labelBadges, replace, section, table, title } from '../dom.js';

export function render(root) {
  const body = h('div');
  replace(root, title('Service Discovery'), body);
  section(
    body,
    () => api('targets', { state: 'any' }),
    ({ data }) => {
      const pools = new Map();
      const pool = (name) => {
        if (!pools.has(name)) pools.set(name, { active: [], dropped: [] });
        return pools.get(name);
      };
      for (const t of data.activeTargets || []) pool(t.scrapePool).active.push(t);
      for (const t of data.droppedTargets || []) {
        const name = t.scrapePool || (t.discoveredLabels && t.discoveredLabels.job) || '(unknown)';
        pool(name).dropped.push(t);
      }
      for (const name of Object.keys(data.droppedTargetCounts || {})) pool(name);
      if (!pools.size) return h('div', { class: 'empty-result' }, 'No targets discovered.');
      const names = [...pools.keys()].sort();
      return [
        h('ul', { class: 'pool-index' }, names.map((n) => {
          const p = pools.get(n);
          const dropped = (data.droppedTargetCounts || {})[n] ?? p.dropped.length;
          return h('li', {}, h('a', { href: `#pool-${n}` }, n), ` (${p.active.length} / ${p.active.length + dropped} active targets)`);
        })),
        names.map((n) => {
          const p = pools.get(n);
          const rows = [
            ...p.active.map((t) => [labelBadges(t.discoveredLabels), labelBadges(t.labels)]),
            ...p.dropped.map((t) => [labelBadges(t.discoveredLabels), h('span', { class: 'badge badge-dropped' }, 'DROPPED')]),
          ];
          return h(
            'details',
            { class: 'pool', open: true, id: `pool-${n}`, dataset: { pool: n } },
            h('summary', {}, h('span', { class: 'pool-name' }, n)),
            rows.length ? table(['Discovered Labels', 'Target Labels'], rows, { class: 'data-table sd-table' }) : h('div', { class: 'empty-result' }, 'No targets.'),
          );
        }),
      ];
    },
  );
}
