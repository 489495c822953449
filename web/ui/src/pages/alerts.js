// Alerts: alerting rules grouped by rule group, with state counts and their active alerts.
import { api } from '../api.js';
import { ago, badge, h, labelBadges, replace, section, table, title } from '../dom.js';
import { ruleText } from './rules.js';

const STATES = ['inactive', 'pending', 'firing'];

export function render(root) {
  const body = h('div');
  replace(root, title('Alerts'), body);
  section(
    body,
    () => api('rules', { type: 'alert' }),
    ({ data }) => {
      const groups = (data.groups || []).filter((g) => (g.rules || []).some((r) => r.type === 'alerting'));
      const counts = { inactive: 0, pending: 0, firing: 0 };
      for (const g of groups) for (const r of g.rules) if (r.type === 'alerting') counts[r.state] = (counts[r.state] || 0) + 1;
      const summary = h(
        'div',
        { class: 'state-counts' },
        STATES.map((s) => h('span', { class: `state-count state-${s}` }, `${s[0].toUpperCase()}${s.slice(1)} (${counts[s]})`)),
      );
      if (!groups.length) return [summary, h('div', { class: 'empty-result' }, 'No alerting rules configured.')];
      return [
        summary,
        groups.map((g) => {
          const rules = g.rules.filter((r) => r.type === 'alerting');
          const gc = STATES.map((s) => [s, rules.filter((r) => r.state === s).length]).filter(([, n]) => n);
          return h(
            'div',
            { class: 'alert-group' },
            h('h2', {}, g.name, h('span', { class: 'muted' }, ` ${g.file}`), gc.map(([s, n]) => h('span', { class: `state-count state-${s}` }, `${s} (${n})`))),
            rules.map((r) =>
              h(
                'details',
                { class: `alert-rule rule-${r.state}` },
                h('summary', {}, badge(r.state), ' ', h('strong', {}, r.name), h('span', { class: 'muted' }, ` (${(r.alerts || []).length} active)`)),
                h('pre', { class: 'rule-text' }, ruleText(r)),
                (r.alerts || []).length
                  ? table(
                      ['Labels', 'State', 'Active Since', 'Value'],
                      r.alerts.map((a) => [labelBadges(a.labels), badge(a.state), a.activeAt ? ago(a.activeAt) : '', a.value]),
                    )
                  : null,
              ),
            ),
          );
        }),
      ];
    },
  );
}
