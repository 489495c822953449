// Flags: the command-line flags in a filterable table.
import { api } from '../api.js';
import { h, replace, section, table, title } from '../dom.js';

export function render(root) {
  const body = h('div');
  const filter = h('input', { class: 'input filter', type: 'search', placeholder: 'Filter by flag name or value' });
  replace(root, title('Command-Line Flags'), h('div', { class: 'toolbar' }, filter), body);
  section(
    body,
    () => api('status/flags'),
    ({ data }) => {
      const rows = Object.keys(data)
        .sort()
        .map((k) => h('tr', { dataset: { search: `${k} ${data[k]}`.toLowerCase() } }, h('td', { class: 'mono' }, `--${k}`), h('td', { class: 'mono' }, data[k])));
      filter.addEventListener('input', () => {
        const q = filter.value.trim().toLowerCase();
        for (const r of rows) r.hidden = q !== '' && !r.dataset.search.includes(q);
      });
      return table(['Flag', 'Value'], rows, { class: 'data-table flags-table' });
    },
  );
}
