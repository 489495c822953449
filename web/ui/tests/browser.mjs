// Real-browser test of the Narthex UI: Debian's headless Chromium driven by playwright-core.
//
//   node web/ui/tests/browser.mjs <base-url> <screenshot-dir>
//
// The server must scrape itself as job `prometheus` (so `up` exists) and have been running
// for a few scrapes. Every page is loaded and checked against what the API says; the
// expression browser is exercised end to end (autocompletion, table, graph, a bad query,
// the URL state surviving a reload). One PNG per page goes to <screenshot-dir>. Exits
// non-zero with a message naming the failed check.
import { chromium } from 'playwright-core';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [baseArg, shotDir] = process.argv.slice(2);
if (!baseArg || !shotDir) {
  console.error('usage: node browser.mjs <base-url> <screenshot-dir>');
  process.exit(2);
}
const base = baseArg.endsWith('/') ? baseArg : `${baseArg}/`;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT = 15000;
mkdirSync(shotDir, { recursive: true });

let step = 'start';
const log = (msg) => console.log(`[browser] ${msg}`);
function check(cond, msg) {
  if (!cond) throw new Error(msg);
}

async function apiJson(path) {
  const r = await fetch(new URL(`api/v1/${path}`, base));
  const body = await r.json();
  check(body.status === 'success', `API ${path} failed: ${JSON.stringify(body)}`);
  return body.data;
}

const userDataDir = mkdtempSync(join(tmpdir(), 'narthex-ui-chromium-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
  viewport: { width: 1400, height: 900 },
  timeout: 60000,
});
context.setDefaultTimeout(TIMEOUT);
const page = context.pages()[0] || (await context.newPage());
const pageErrors = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
page.on('console', (m) => m.type() === 'error' && log(`console error: ${m.text()}`));

async function shot(name) {
  const path = join(shotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  log(`screenshot ${path}`);
}

async function visit(path) {
  step = `load /${path}`;
  const resp = await page.goto(new URL(path, base).href, { waitUntil: 'load' });
  check(resp && resp.ok(), `GET /${path}: HTTP ${resp && resp.status()}`);
  await page.locator('header.navbar a.nav-link').first().waitFor();
}

/** Waits until the page has left its loading state and shows no error box. */
async function settled(name) {
  await page.waitForFunction(() => !document.querySelector('#page .loading'), null, { timeout: TIMEOUT });
  const errors = await page.locator('#page .error-box').allInnerTexts();
  check(errors.length === 0, `${name} shows an error: ${errors.join(' | ')}`);
}

async function textOf(selector) {
  return (await page.locator(selector).allInnerTexts()).join('\n');
}

const editorText = (panel = 0) => page.locator('.panel').nth(panel).locator('.cm-content').innerText();

try {
  // --- Targets: the self-scrape is UP, grouped under its pool.
  await visit('targets');
  step = 'targets page';
  const pool = page.locator('details[data-pool="prometheus"]');
  await pool.waitFor();
  await pool.locator('.badge-up').first().waitFor();
  const poolText = await pool.innerText();
  check(/prometheus/.test(poolText) && /UP/.test(poolText), `targets: no UP prometheus target in: ${poolText}`);
  check(/\/metrics/.test(poolText), 'targets: no endpoint shown');
  check(/ago/.test(poolText), 'targets: no last scrape time shown');
  await settled('targets');
  await shot('targets');

  // --- Service discovery: discovered labels next to target labels.
  await visit('service-discovery');
  step = 'service discovery page';
  const sd = page.locator('details[data-pool="prometheus"] .sd-table');
  await sd.waitFor();
  const sdText = await sd.innerText();
  check(sdText.includes('__address__') && sdText.includes('instance='), `service discovery: labels missing: ${sdText}`);
  const discovered = await apiJson('targets?state=any');
  const droppedShown = await page.locator('.sd-table .badge-dropped').count();
  check(droppedShown === discovered.droppedTargets.length, `service discovery: ${droppedShown} dropped shown, API has ${discovered.droppedTargets.length}`);
  await settled('service-discovery');
  await shot('service-discovery');

  // --- Rules and alerts: every group and rule the API reports is on the page.
  const rules = await apiJson('rules');
  await visit('rules');
  step = 'rules page';
  await settled('rules');
  const rulesText = await textOf('#page');
  for (const g of rules.groups) {
    check(rulesText.includes(g.name), `rules: group ${g.name} missing`);
    for (const r of g.rules) check(rulesText.includes(r.name), `rules: rule ${r.name} missing`);
  }
  if (!rules.groups.length) check(rulesText.includes('No rule groups'), 'rules: no empty-state text');
  await shot('rules');

  await visit('alerts');
  step = 'alerts page';
  await page.locator('.state-counts').waitFor();
  await settled('alerts');
  const alertsText = await textOf('#page');
  const alerting = rules.groups.flatMap((g) => g.rules.filter((r) => r.type === 'alerting'));
  for (const r of alerting) check(alertsText.includes(r.name), `alerts: rule ${r.name} missing`);
  const firing = alerting.filter((r) => r.state === 'firing').length;
  check(alertsText.includes(`Firing (${firing})`), `alerts: expected "Firing (${firing})" in ${alertsText.slice(0, 200)}`);
  const firstRule = page.locator('details.alert-rule').first();
  if (alerting.length) {
    await firstRule.locator('summary').click();
    await firstRule.locator('.rule-text').waitFor();
  }
  await shot('alerts');

  // --- Configuration: the YAML the API returns.
  const config = await apiJson('status/config');
  await visit('config');
  step = 'config page';
  await page.locator('pre.config-yaml').waitFor();
  const yaml = await page.locator('pre.config-yaml').innerText();
  check(yaml.trim() === config.yaml.trim(), 'config: YAML differs from the API');
  await shot('config');

  // --- Flags: all flags, and the filter narrows them.
  const flags = await apiJson('status/flags');
  await visit('flags');
  step = 'flags page';
  await page.locator('.flags-table tbody tr').first().waitFor();
  const rows = await page.locator('.flags-table tbody tr').count();
  check(rows === Object.keys(flags).length, `flags: ${rows} rows for ${Object.keys(flags).length} flags`);
  await page.fill('input.filter', 'listen-address');
  const visible = await page.locator('.flags-table tbody tr:visible').allInnerTexts();
  check(visible.length === 1 && visible[0].includes('--web.listen-address'), `flags filter: ${visible}`);
  await page.fill('input.filter', '');
  await shot('flags');

  // --- Runtime and build information.
  const build = await apiJson('status/buildinfo');
  await visit('status');
  step = 'status page';
  await page.locator('.kv-table').nth(1).waitFor();
  await settled('status');
  const statusText = await textOf('#page');
  check(statusText.includes('Start time') && statusText.includes(build.version), 'status: runtime or build info missing');
  await shot('status');

  // --- TSDB status: head stats and `up` in the cardinality table.
  await visit('tsdb-status');
  step = 'tsdb status page';
  await page.locator('table[data-table="seriesCountByMetricName"]').waitFor();
  // The top 10 may not reach `up`: ask for more, as a user would.
  await page.selectOption('select.limit-select', '100');
  await page.waitForFunction(() => location.search === '?limit=100');
  const byName = page.locator('table[data-table="seriesCountByMetricName"]');
  await page.locator('h2', { hasText: 'Top 100 series count by metric names' }).waitFor();
  const names = await byName.locator('tbody td:first-child').allInnerTexts();
  check(names.includes('up'), `tsdb-status: "up" not in the metric name table: ${names}`);
  const head = await page.locator('.head-stats tbody td').first().innerText();
  check(Number(head) > 0, `tsdb-status: head series ${head}`);
  await settled('tsdb-status');
  await shot('tsdb-status');

  // --- Expression browser: autocompletion, table, graph, URL state.
  await visit('graph');
  step = 'editor autocompletion';
  const editor = page.locator('.panel').first().locator('.cm-content');
  await editor.click();
  await page.keyboard.type('scrape_dur');
  const option = page.locator('.cm-tooltip-autocomplete li', { hasText: 'scrape_duration_seconds' });
  await option.first().waitFor();
  log('autocompletion offers scrape_duration_seconds');
  await shot('graph-autocomplete');
  await page.keyboard.press('Escape');
  await page.keyboard.press('ControlOrMeta+a');
  await page.keyboard.press('Backspace');
  await page.keyboard.type('up');
  await page.keyboard.press('Escape');
  check((await editorText()) === 'up', `editor holds ${await editorText()}`);
  // The syntax highlighter marks the metric name.
  check((await editor.locator('span').count()) > 0, 'editor: no highlighted tokens');

  step = 'table view';
  await page.locator('.panel').first().locator('button.execute').click();
  const row = page.locator('.panel').first().locator('.result-table tbody tr', { hasText: 'job="prometheus"' });
  await row.first().waitFor();
  const rowText = await row.first().innerText();
  check(/up\{instance="[^"]+", job="prometheus"\}\s+1/.test(rowText), `table row: ${rowText}`);
  const stats = await page.locator('.panel').first().locator('.panel-stats').innerText();
  check(/Load time: \d+ms/.test(stats) && /Result series: [1-9]/.test(stats), `stats line: ${stats}`);
  await shot('graph-table');

  step = 'graph view';
  await page.locator('.panel').first().locator('button.tab', { hasText: 'Graph' }).click();
  await page.locator('.panel').first().locator('.graph .uplot canvas').waitFor();
  const legend = await page.locator('.panel').first().locator('.legend-item').allInnerTexts();
  check(legend.some((l) => l.includes('job="prometheus"')), `legend: ${legend}`);
  // A range the data fills: type it into the range input.
  const rangeInput = page.locator('.panel').first().locator('input.range-input');
  await rangeInput.fill('1m');
  await rangeInput.press('Enter');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('g0.range_input') === '1m');
  await page.locator('.panel').first().locator('.graph .uplot canvas').waitFor();
  const res = await page.locator('.panel').first().locator('.panel-stats').innerText();
  check(/Resolution: 1s/.test(res), `default resolution for 1m: ${res}`);
  await page.locator('.panel').first().locator('button', { hasText: 'Stacked' }).click();
  await page.locator('.panel').first().locator('.graph .uplot canvas').waitFor();
  await page.waitForFunction(() => location.search.includes('g0.stacked=1'));
  const url = new URL(page.url());
  check(url.searchParams.get('g0.expr') === 'up', `URL expr: ${url.search}`);
  check(url.searchParams.get('g0.tab') === '0', `URL tab: ${url.search}`);
  check(url.searchParams.get('g0.range_input') === '1m', `URL range: ${url.search}`);
  // Hovering the plot shows the readout.
  const over = page.locator('.panel').first().locator('.u-over');
  const box = await over.boundingBox();
  await page.mouse.move(box.x + box.width - 3, box.y + box.height / 2);
  await page.mouse.move(box.x + box.width - 2, box.y + box.height / 3);
  await page.locator('.graph-tooltip:not([hidden])').waitFor();
  const tip = await page.locator('.graph-tooltip').innerText();
  check(/UTC/.test(tip) && tip.includes('job="prometheus"'), `hover readout: ${tip}`);
  await shot('graph');

  step = 'bad query in a second panel';
  await page.locator('button.add-panel').click();
  const second = page.locator('.panel').nth(1);
  await second.locator('.cm-content').click();
  await page.keyboard.type('sum(up) +');
  await page.keyboard.press('Escape');
  await second.locator('button.execute').click();
  const err = second.locator('.error-box');
  await err.waitFor();
  const errText = await err.innerText();
  check(/bad_data/.test(errText) && /parse error/.test(errText), `error box: ${errText}`);
  await page.waitForFunction(() => new URLSearchParams(location.search).has('g1.expr'));
  await shot('graph-error');

  step = 'reload restores the URL state';
  await page.reload({ waitUntil: 'load' });
  await page.locator('.panel').nth(1).waitFor();
  check((await editorText(0)) === 'up', `after reload, panel 0 holds ${await editorText(0)}`);
  check((await editorText(1)) === 'sum(up) +', `after reload, panel 1 holds ${await editorText(1)}`);
  await page.locator('.panel').first().locator('.graph .uplot canvas').waitFor();
  check(await page.locator('.panel').first().locator('button.tab.active', { hasText: 'Graph' }).isVisible(), 'graph tab not restored');
  check(await page.locator('.panel').first().locator('button.active', { hasText: 'Stacked' }).isVisible(), 'stacked not restored');
  await page.locator('.panel').nth(1).locator('.error-box').waitFor();

  step = 'classic Prometheus link';
  await visit('graph?g0.expr=count(up)&g0.tab=table&g0.range_input=30m');
  await page.locator('.result-table tbody tr').first().waitFor();
  check((await textOf('.result-table tbody')).trim().length > 0, 'classic link: no table rows');
  await page.waitForFunction(() => new URLSearchParams(location.search).get('g0.tab') === '1');

  step = 'range vector in the table, at a set evaluation time';
  const at = new Date(Date.now() - 2000).toISOString().slice(0, 19).replace('T', ' ');
  await visit(`graph?g0.expr=${encodeURIComponent('up{job="prometheus"}[5s]')}&g0.tab=1&g0.end_input=${encodeURIComponent(at)}`);
  await page.locator('.result-table .points div').first().waitFor();
  const points = await page.locator('.result-table .points div').allInnerTexts();
  check(points.length >= 2 && points.every((p) => /^1 @\d+(\.\d+)?$/.test(p)), `matrix points: ${points}`);
  const atSec = Date.parse(`${at.replace(' ', 'T')}Z`) / 1000;
  check(points.every((p) => Number(p.split('@')[1]) <= atSec), `points after the evaluation time ${atSec}: ${points}`);
  check((await page.locator('input.end-input').inputValue()) === at, 'evaluation time not shown');

  step = 'in-app navigation';
  await page.locator('a.nav-link', { hasText: 'Targets' }).click();
  await page.locator('details[data-pool="prometheus"]').waitFor();
  check(new URL(page.url()).pathname.endsWith('/targets'), `navigation went to ${page.url()}`);
  await page.goBack();
  await page.locator('.result-table').waitFor();

  step = 'API errors are shown in place';
  // A network failure...
  await page.route('**/api/v1/targets*', (route) => route.abort('connectionrefused'));
  await visit('targets');
  const netErr = page.locator('#page .error-box');
  await netErr.waitFor();
  check(/network/i.test(await netErr.innerText()), `network error box: ${await netErr.innerText()}`);
  await page.unroute('**/api/v1/targets*');
  // ...and an API error body, on one section of a page while the others render.
  await page.route('**/api/v1/status/buildinfo*', (route) =>
    route.fulfill({ status: 503, contentType: 'application/json', body: '{"status":"error","errorType":"unavailable","error":"injected by the test"}' }),
  );
  await visit('status');
  const apiErr = page.locator('#page .error-box');
  await apiErr.waitFor();
  const apiErrText = await apiErr.innerText();
  check(apiErrText.includes('unavailable') && apiErrText.includes('injected by the test'), `API error box: ${apiErrText}`);
  await page.locator('.kv-table').first().waitFor();
  await page.unroute('**/api/v1/status/buildinfo*');
  await shot('api-error');

  step = 'page errors';
  check(pageErrors.length === 0, `uncaught errors in the page: ${pageErrors.join(' | ')}`);
  log('all checks passed');
} catch (e) {
  console.error(`[browser] FAILED at "${step}": ${e.message}`);
  try {
    await shot('failure');
  } catch {}
  await context.close().catch(() => {});
  rmSync(userDataDir, { recursive: true, force: true });
  process.exit(1);
}
await context.close();
rmSync(userDataDir, { recursive: true, force: true });
