// Small DOM helpers shared by the pages.

/**
 * Creates an element. `attrs` keys: `class`, `text`, `on<event>` handlers, `dataset`,
 * properties such as `value`/`checked`, anything else as an attribute. Children may be
 * nodes, strings, numbers, arrays or null.
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'text') el.textContent = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value' || k === 'checked' || k === 'selected') el[k] = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

/** Replaces the children of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** The visible error box: the API's errorType and error, or the network error. */
export function errorBox(err) {
  const type = err && err.type ? err.type : 'error';
  const msg = err && err.message ? err.message : String(err);
  return h('div', { class: 'error-box', role: 'alert' }, h('strong', {}, `${type}: `), msg);
}

/** A box for the API's warnings (`warn`) or infos (`info`). */
export function noticeBox(kind, items) {
  if (!items || !items.length) return null;
  return h(
    'div',
    { class: `notice-box notice-${kind}` },
    items.map((t) => h('div', {}, h('strong', {}, kind === 'warn' ? 'Warning: ' : 'Info: '), t)),
  );
}

/** A loading placeholder. */
export function loading(what = 'Loading…') {
  return h('div', { class: 'loading' }, what);
}

/**
 * Renders an async page section: shows a spinner, awaits `load()`, then puts `render(data)`
 * or the error box into `el`. Never leaves the section blank.
 */
export async function section(el, load, render) {
  replace(el, loading());
  try {
    const data = await load();
    replace(el, render(data));
  } catch (e) {
    replace(el, errorBox(e));
  }
}

/** Seconds as a short human duration: `12.3ms`, `1.52s`, `3m4s`. */
export function formatSeconds(s) {
  if (!Number.isFinite(s)) return String(s);
  if (s < 1e-3) return `${(s * 1e6).toFixed(0)}µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 0.01 ? 2 : 1)}ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 3 : 1)}s`;
  return formatDuration(Math.round(s) * 1000);
}

/** Milliseconds as a Prometheus duration (`1h30m`, `2w`, `500ms`). */
export function formatDuration(ms) {
  if (ms === 0) return '0s';
  const units = [
    ['y', 31536000000],
    ['w', 604800000],
    ['d', 86400000],
    ['h', 3600000],
    ['m', 60000],
    ['s', 1000],
    ['ms', 1],
  ];
  let out = '';
  for (const [u, n] of units) {
    if (ms >= n) {
      out += `${Math.floor(ms / n)}${u}`;
      ms %= n;
    }
  }
  return out;
}

/** Parses a Prometheus duration (`5m`, `1h30m`, `2w`) or plain seconds into milliseconds. */
export function parseDuration(text) {
  const s = String(text).trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000);
  const re = /(\d+)(ms|y|w|d|h|m|s)/y;
  const units = { y: 31536000000, w: 604800000, d: 86400000, h: 3600000, m: 60000, s: 1000, ms: 1 };
  let total = 0;
  let m;
  re.lastIndex = 0;
  while (re.lastIndex < s.length && (m = re.exec(s))) total += Number(m[1]) * units[m[2]];
  if (!s || re.lastIndex !== s.length || total <= 0) return null;
  return total;
}

/** How long ago an RFC 3339 time was, as `12.3s ago`; `never` for Go's zero time. */
export function ago(iso) {
  const t = Date.parse(iso);
  if (!Number.isFinite(t) || t <= 0 || iso.startsWith('0001-')) return 'never';
  const d = (Date.now() - t) / 1000;
  return d < 0 ? 'just now' : `${formatSeconds(d)} ago`;
}

/** Milliseconds since the epoch as `YYYY-MM-DD HH:mm:ss` UTC (Prometheus's URL form). */
export function formatTime(ms) {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** Parses `YYYY-MM-DD HH:mm[:ss]` (UTC), RFC 3339 or Unix seconds into milliseconds. */
export function parseTime(text) {
  const s = String(text).trim();
  if (!s) return null;
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(parseFloat(s) * 1000);
  const m = /^(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?$/.exec(s);
  if (m) {
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), Math.round(+(m[7] || 0) * 1000));
  }
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : null;
}

/** Go's `%q`-like quoting for label values (JSON's escapes are the same for printable text). */
export function quote(v) {
  return JSON.stringify(v);
}

/** A series' labels as Prometheus prints them: `name{a="b", c="d"}`. */
export function seriesName(metric) {
  const m = metric || {};
  const name = m.__name__ || '';
  const labels = Object.keys(m)
    .filter((k) => k !== '__name__')
    .sort()
    .map((k) => `${k}=${quote(m[k])}`);
  if (!labels.length) return name || '{}';
  return `${name}{${labels.join(', ')}}`;
}

/** Labels as a row of small badges. */
export function labelBadges(labels) {
  return h(
    'div',
    { class: 'labels' },
    Object.keys(labels || {})
      .sort()
      .map((k) => h('span', { class: 'label-badge' }, `${k}=${quote(labels[k])}`)),
  );
}

/** A health/state badge (`up`, `down`, `ok`, `err`, `firing`...). */
export function badge(state) {
  const s = String(state || 'unknown').toLowerCase();
  return h('span', { class: `badge badge-${s}` }, s.toUpperCase());
}

/** A simple table: `head` is a list of column titles, `rows` lists of cells. */
export function table(head, rows, attrs = {}) {
  return h(
    'table',
    { class: 'data-table', ...attrs },
    h('thead', {}, h('tr', {}, head.map((c) => h('th', {}, c)))),
    h('tbody', {}, rows.map((r) => (r instanceof Node ? r : h('tr', {}, r.map((c) => h('td', {}, c)))))),
  );
}

/** A page title. */
export function title(text, ...extra) {
  return h('h1', { class: 'page-title' }, text, extra);
}
