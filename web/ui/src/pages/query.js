// The expression browser: several panels, each with an editor, a table tab (instant
// query) and a graph tab (range query). The panels live in the URL.
import { api } from '../api.js';
import { createEditor } from '../editor.js';
import { drawGraph } from '../graph.js';
import { resultCount, resultTable } from '../table.js';
import { errorBox, formatDuration, formatSeconds, formatTime, h, loading, noticeBox, parseDuration, parseTime, replace } from '../dom.js';
import { newPanel, parsePanels, serializePanels } from '../urlstate.js';
import { defaultStep } from '../step.js';

/** The time ranges the -/+ buttons step through. */
const RANGES = ['1m', '5m', '15m', '30m', '1h', '2h', '6h', '12h', '1d', '2d', '1w', '2w', '4w', '8w', '1y'].map(parseDuration);


export function render(root) {
  const panels = parsePanels(location.search);
  const views = [];
  const list = h('div', { class: 'panels' });
  const sync = () => history.replaceState(null, '', `${location.pathname}?${serializePanels(panels)}`);

  const add = (p) => {
    const view = panelView(p, {
      onChange: sync,
      onRemove: () => {
        const i = views.indexOf(view);
        views.splice(i, 1);
        panels.splice(i, 1);
        view.destroy();
        view.el.remove();
        sync();
      },
    });
    views.push(view);
    list.append(view.el);
    return view;
  };
  panels.forEach(add);
  replace(
    root,
    list,
    h('button', {
      class: 'btn btn-secondary add-panel',
      text: 'Add Panel',
      onclick: () => {
        const p = newPanel();
        panels.push(p);
        add(p).focus();
        sync();
      },
    }),
  );
  if (location.search) sync();
  for (const v of views) if (v.panel.expr) v.execute();
  return () => views.forEach((v) => v.destroy());
}

function panelView(panel, { onChange, onRemove }) {
  let cleanupGraph = null;
  let controller = null;
  const result = h('div', { class: 'panel-result' });
  const stats = h('div', { class: 'panel-stats' });

  const execute = () => {
    panel.expr = editor.state.doc.toString();
    onChange();
    run();
  };
  const editorEl = h('div', { class: 'panel-editor' });
  const editor = createEditor(editorEl, panel.expr, { onExecute: execute, onChange: (t) => (panel.expr = t) });

  // Tabs.
  const tabTable = h('button', { class: 'tab', text: 'Table', onclick: () => setTab('table') });
  const tabGraph = h('button', { class: 'tab', text: 'Graph', onclick: () => setTab('graph') });
  const setTab = (tab) => {
    panel.tab = tab;
    onChange();
    renderTabs();
    if (panel.expr.trim()) run();
    else replace(result);
  };

  // Graph controls.
  const rangeInput = h('input', { class: 'input range-input', size: 5, title: 'Time range', value: formatDuration(panel.range) });
  const setRange = (ms) => {
    panel.range = ms;
    rangeInput.value = formatDuration(ms);
    stepInput.placeholder = `${defaultStep(ms) / 1000}s (auto)`;
    onChange();
    run();
  };
  rangeInput.addEventListener('change', () => {
    const ms = parseDuration(rangeInput.value);
    if (ms) setRange(ms);
    else rangeInput.value = formatDuration(panel.range);
  });
  const stepRange = (dir) => {
    const i = dir < 0 ? RANGES.findLastIndex((r) => r < panel.range) : RANGES.findIndex((r) => r > panel.range);
    if (i >= 0) setRange(RANGES[i]);
  };
  const endInput = h('input', { class: 'input end-input', size: 20, placeholder: 'now', title: 'YYYY-MM-DD HH:mm:ss (UTC), RFC 3339 or Unix seconds; empty: now', value: panel.end === null ? '' : formatTime(panel.end) });
  const setEnd = (ms) => {
    panel.end = ms;
    endInput.value = ms === null ? '' : formatTime(ms);
    onChange();
    run();
  };
  endInput.addEventListener('change', () => {
    const ms = endInput.value.trim() ? parseTime(endInput.value) : null;
    if (endInput.value.trim() && ms === null) endInput.value = panel.end === null ? '' : formatTime(panel.end);
    else setEnd(ms);
  });
  // In the graph, move by half the range; in the table, by a minute.
  const shiftEnd = (dir) => setEnd((panel.end ?? Date.now()) + dir * (panel.tab === 'graph' ? panel.range / 2 : 60000));
  const stepInput = h('input', { class: 'input step-input', size: 9, title: 'Resolution (step)', placeholder: `${defaultStep(panel.range) / 1000}s (auto)`, value: panel.step === null ? '' : formatDuration(panel.step) });
  stepInput.addEventListener('change', () => {
    const v = stepInput.value.trim();
    panel.step = v ? parseDuration(v) : null;
    if (v && panel.step === null) stepInput.value = '';
    onChange();
    run();
  });
  const linesBtn = h('button', { class: 'btn btn-toggle', text: 'Lines', onclick: () => setStacked(false) });
  const stackedBtn = h('button', { class: 'btn btn-toggle', text: 'Stacked', onclick: () => setStacked(true) });
  const setStacked = (s) => {
    panel.stacked = s;
    onChange();
    renderTabs();
    run();
  };
  // The range, resolution and stacking apply to the graph; the end time is also the table's
  // evaluation time.
  const graphOnly = [
    h('div', { class: 'control-group' }, h('button', { class: 'btn', text: '−', title: 'Shorter range', onclick: () => stepRange(-1) }), rangeInput, h('button', { class: 'btn', text: '+', title: 'Longer range', onclick: () => stepRange(1) })),
    h('div', { class: 'control-group' }, h('span', { class: 'control-label' }, 'Res.'), stepInput),
    h('div', { class: 'control-group' }, linesBtn, stackedBtn),
  ];
  const endLabel = h('span', { class: 'control-label' });
  const endGroup = h(
    'div',
    { class: 'control-group' },
    endLabel,
    h('button', { class: 'btn', text: '«', title: 'Earlier', onclick: () => shiftEnd(-1) }),
    endInput,
    h('button', { class: 'btn', text: '»', title: 'Later', onclick: () => shiftEnd(1) }),
    h('button', { class: 'btn', text: 'now', title: 'Use the current time', onclick: () => setEnd(null) }),
  );
  const controls = h('div', { class: 'graph-controls' }, graphOnly[0], endGroup, graphOnly[1], graphOnly[2]);

  const renderTabs = () => {
    tabTable.classList.toggle('active', panel.tab === 'table');
    tabGraph.classList.toggle('active', panel.tab === 'graph');
    linesBtn.classList.toggle('active', !panel.stacked);
    stackedBtn.classList.toggle('active', panel.stacked);
    for (const g of graphOnly) g.hidden = panel.tab !== 'graph';
    endLabel.textContent = panel.tab === 'graph' ? 'End' : 'Evaluation time';
  };

  const freeGraph = () => {
    if (cleanupGraph) cleanupGraph();
    cleanupGraph = null;
  };

  async function run() {
    const expr = panel.expr.trim();
    if (!expr) return;
    if (controller) controller.abort();
    controller = new AbortController();
    const signal = controller.signal;
    freeGraph();
    replace(result, loading('Running query…'));
    replace(stats);
    const began = performance.now();
    const endMs = panel.end ?? Date.now();
    try {
      let body;
      if (panel.tab === 'graph') {
        const step = (panel.step ?? defaultStep(panel.range)) / 1000;
        const end = Math.round(endMs) / 1000;
        const start = end - panel.range / 1000;
        body = await api('query_range', { query: expr, start, end, step }, { post: true, signal });
        if (signal.aborted) return;
        const took = performance.now() - began;
        replace(result, noticeBox('warn', body.warnings), noticeBox('info', body.infos));
        if (body.data.resultType !== 'matrix') {
          result.append(errorBox({ type: 'error', message: `Unexpected result type ${body.data.resultType} for a range query` }));
        } else if (!body.data.result.length) {
          result.append(h('div', { class: 'empty-result' }, 'Empty query result'));
        } else {
          const graphEl = h('div', { class: 'graph' });
          result.append(graphEl);
          cleanupGraph = drawGraph(graphEl, body.data, { start, end, step, stacked: panel.stacked });
        }
        replace(stats, `Load time: ${Math.round(took)}ms   Resolution: ${step}s   Result series: ${body.data.result.length}`);
      } else {
        const params = { query: expr };
        if (panel.end !== null) params.time = panel.end / 1000;
        body = await api('query', params, { post: true, signal });
        if (signal.aborted) return;
        const took = performance.now() - began;
        replace(result, noticeBox('warn', body.warnings), noticeBox('info', body.infos), resultTable(body.data));
        replace(stats, `Load time: ${Math.round(took)}ms   Result series: ${resultCount(body.data)}`);
      }
    } catch (e) {
      if (e.name === 'AbortError') return;
      replace(result, errorBox(e));
      replace(stats, `Failed after ${formatSeconds((performance.now() - began) / 1000)}`);
    }
  }

  const el = h(
    'section',
    { class: 'panel' },
    h(
      'div',
      { class: 'panel-query' },
      editorEl,
      h('button', { class: 'btn btn-primary execute', text: 'Execute', onclick: execute }),
      h('button', { class: 'btn btn-link remove-panel', text: '×', title: 'Remove panel', onclick: onRemove }),
    ),
    h('div', { class: 'panel-tabs' }, tabTable, tabGraph, stats),
    controls,
    result,
  );
  renderTabs();
  return {
    el,
    panel,
    execute: run,
    focus: () => editor.focus(),
    destroy: () => {
      if (controller) controller.abort();
      freeGraph();
      editor.destroy();
    },
  };
}
