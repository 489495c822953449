// The expression browser's state in the URL, compatible with Prometheus's classic links:
// g<N>.expr, g<N>.tab (0|graph, 1|table), g<N>.range_input, g<N>.end_input,
// g<N>.step_input, g<N>.stacked.
import { formatDuration, formatTime, parseDuration, parseTime } from './dom.js';

/** The default graph range: one hour. */
export const DEFAULT_RANGE = 3600000;

/** A new panel's options. */
export function newPanel(expr = '') {
  return { expr, tab: 'table', range: DEFAULT_RANGE, end: null, step: null, stacked: false };
}

/** Reads the panels from a query string; at least one panel. */
export function parsePanels(search) {
  const params = new URLSearchParams(search);
  const byIndex = new Map();
  for (const [key, value] of params) {
    const m = /^g(\d+)\.(.+)$/.exec(key);
    if (!m) continue;
    const i = Number(m[1]);
    if (!byIndex.has(i)) byIndex.set(i, newPanel());
    const p = byIndex.get(i);
    switch (m[2]) {
      case 'expr':
        p.expr = value;
        break;
      case 'tab':
        p.tab = value === '0' || value === 'graph' ? 'graph' : 'table';
        break;
      case 'range_input': {
        const r = parseDuration(value);
        if (r) p.range = r;
        break;
      }
      case 'end_input':
        p.end = parseTime(value);
        break;
      case 'step_input': {
        const s = parseDuration(value);
        if (s) p.step = s;
        break;
      }
      case 'stacked':
        p.stacked = value === '1' || value === 'true';
        break;
    }
  }
  const panels = [...byIndex.keys()].sort((a, b) => a - b).map((i) => byIndex.get(i));
  return panels.length ? panels : [newPanel()];
}

/** Writes the panels as a query string (without the `?`). */
export function serializePanels(panels) {
  const params = new URLSearchParams();
  panels.forEach((p, i) => {
    params.set(`g${i}.expr`, p.expr);
    params.set(`g${i}.tab`, p.tab === 'graph' ? '0' : '1');
    params.set(`g${i}.stacked`, p.stacked ? '1' : '0');
    params.set(`g${i}.range_input`, formatDuration(p.range));
    if (p.end !== null) params.set(`g${i}.end_input`, formatTime(p.end));
    if (p.step !== null) params.set(`g${i}.step_input`, String(p.step / 1000));
  });
  return params.toString();
}
