// Unit tests of the UI's pure helpers (no browser): node --test web/ui/tests/unit.mjs
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDuration, formatSeconds, formatTime, parseDuration, parseTime, seriesName } from '../src/dom.js';
import { parsePanels, serializePanels } from '../src/urlstate.js';
import { defaultStep } from '../src/step.js';

test('durations parse and print like Prometheus', () => {
  assert.equal(parseDuration('5m'), 300000);
  assert.equal(parseDuration('1h30m'), 5400000);
  assert.equal(parseDuration('2w'), 1209600000);
  assert.equal(parseDuration('1y'), 31536000000);
  assert.equal(parseDuration('250ms'), 250);
  assert.equal(parseDuration('15'), 15000);
  assert.equal(parseDuration('0.5'), 500);
  for (const bad of ['', 'h', '5x', '1h 5m', '-5m', '0s', '5m!']) assert.equal(parseDuration(bad), null, bad);
  assert.equal(formatDuration(5400000), '1h30m');
  assert.equal(formatDuration(1209600000), '2w');
  assert.equal(formatDuration(1500), '1s500ms');
  assert.equal(formatSeconds(0.0123), '12.3ms');
  assert.equal(formatSeconds(125.4), '2m5s');
});

test('times: Prometheus URL form, RFC 3339, Unix seconds', () => {
  const t = Date.UTC(2024, 0, 2, 3, 4, 5);
  assert.equal(formatTime(t), '2024-01-02 03:04:05');
  assert.equal(parseTime('2024-01-02 03:04:05'), t);
  assert.equal(parseTime('2024-01-02 03:04'), t - 5000);
  assert.equal(parseTime('2024-01-02T03:04:05Z'), t);
  assert.equal(parseTime(String(t / 1000)), t);
  assert.equal(parseTime('yesterday'), null);
  assert.equal(parseTime(''), null);
});

test('series names print like Prometheus', () => {
  assert.equal(seriesName({ __name__: 'up', job: 'a', instance: 'x:1' }), 'up{instance="x:1", job="a"}');
  assert.equal(seriesName({ __name__: 'up' }), 'up');
  assert.equal(seriesName({ job: 'q"uote\\' }), '{job="q\\"uote\\\\"}');
  assert.equal(seriesName({}), '{}');
});

test('classic URL state round-trips', () => {
  const panels = parsePanels('?g0.expr=rate(x%5B5m%5D)&g0.tab=0&g0.stacked=1&g0.range_input=2h&g0.end_input=2024-01-02%2003%3A04%3A05&g0.step_input=30&g1.expr=up&g1.tab=table');
  assert.equal(panels.length, 2);
  assert.deepEqual(panels[0], { expr: 'rate(x[5m])', tab: 'graph', range: 7200000, end: Date.UTC(2024, 0, 2, 3, 4, 5), step: 30000, stacked: true });
  assert.deepEqual(panels[1], { expr: 'up', tab: 'table', range: 3600000, end: null, step: null, stacked: false });
  assert.deepEqual(parsePanels(`?${serializePanels(panels)}`), panels);
  const q = new URLSearchParams(serializePanels(panels));
  assert.equal(q.get('g0.tab'), '0');
  assert.equal(q.get('g1.tab'), '1');
  assert.equal(q.get('g0.range_input'), '2h');
  assert.equal(q.get('g0.end_input'), '2024-01-02 03:04:05');
  assert.equal(q.get('g0.step_input'), '30');
  // Panels keep their numeric order; other parameters are ignored; no panels gives one.
  assert.deepEqual(parsePanels('?g10.expr=b&g2.expr=a&foo=1').map((p) => p.expr), ['a', 'b']);
  assert.deepEqual(parsePanels(''), [{ expr: '', tab: 'table', range: 3600000, end: null, step: null, stacked: false }]);
  assert.equal(parsePanels('?g0.tab=graph')[0].tab, 'graph');
  assert.equal(parsePanels('?g0.range_input=bogus')[0].range, 3600000);
});

test('default resolution: range/250, at least 1s', () => {
  assert.equal(defaultStep(3600000), 14000);
  assert.equal(defaultStep(60000), 1000);
  assert.equal(defaultStep(1209600000), 4838000);
});
