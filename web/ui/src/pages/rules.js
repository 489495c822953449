// Rules: every rule group with its rules, health, last error, last evaluation and
// evaluation time.
import { api } from '../api.js';
import { ago, badge, formatDuration, formatSeconds, h, replace, section, table, title } from '../dom.js';

/** A rule's definition as YAML-like text. */
export function ruleText(r) {
  const lines = [r.type === 'alerting' ? `alert: ${r.name}` : `record: ${r.name}`, `expr: ${r.query}`];
  if (r.type === 'alerting' && r.duration) lines.push(`for: ${formatDuration(Math.round(r.duration * 1000))}`);
  if (r.type === 'alerting' && r.keepFiringFor) lines.push(`keep_firing_for: ${formatDuration(Math.round(r.keepFiringFor * 1000))}`);
  for (const [key, obj] of [['labels', r.labels], ['annotations', r.annotations]]) {
    const keys = Object.keys(obj || {});
    if (!keys.length) continue;
    lines.push(`${key}:`);
    for (const k of keys.sort()) lines.push(`  ${k}: ${JSON.stringify(obj[k])}`);
  }
  return lines.join('\n');
}

export function render(root) {
  const body = h('div');
  replace(root, title('Rules'), body);
  section(
    body,
    () => api('rules'),
    ({ data }) => {
      const groups = data.groups || [];
      if (!groups.length) return h('div', { class: 'empty-result' }, 'No rule groups configured.');
      return groups.map((g) =>
        h(
          'details',
          { class: 'pool rule-group', open: true },
          h(
            'summary',
            {},
            h('span', { class: 'pool-name' }, g.name),
            h('span', { class: 'muted' }, ` ${g.file} · every ${formatDuration(Math.round(g.interval * 1000))} · last evaluation ${ago(g.lastEvaluation)} · took ${formatSeconds(g.evaluationTime)}`),
          ),
          table(
            ['Rule', 'State', 'Error', 'Last Evaluation', 'Evaluation Time'],
            (g.rules || []).map((r) => [
              h('pre', { class: 'rule-text' }, ruleText(r)),
              badge(r.health),
              r.lastError ? h('span', { class: 'error-text' }, r.lastError) : '',
              ago(r.lastEvaluation),
              formatSeconds(r.evaluationTime),
            ]),
            { class: 'data-table rules-table' },
          ),
        ),
      );
    },
  );
}

