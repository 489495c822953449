// Status: runtime and build information, and the Alertmanagers in use.
import { api } from '../api.js';
import { h, replace, section, table, title } from '../dom.js';

const RUNTIME_NAMES = {
  startTime: 'Start time',
  CWD: 'Working directory',
  reloadConfigSuccess: 'Configuration reload',
  lastConfigTime: 'Last successful configuration reload',
  corruptionCount: 'WAL corruptions',
  goroutineCount: 'Goroutines',
  storageRetention: 'Storage retention',
};

const BUILD_NAMES = { version: 'Version', revision: 'Revision', branch: 'Branch', buildUser: 'Build user', buildDate: 'Build date', goVersion: 'Toolchain' };

function keyValues(obj, names) {
  return table(
    ['Name', 'Value'],
    Object.keys(obj).map((k) => {
      let v = obj[k];
      if (k === 'reloadConfigSuccess') v = v ? 'Successful' : 'Unsuccessful';
      return [h('strong', {}, names[k] || k), String(v)];
    }),
    { class: 'data-table kv-table' },
  );
}

export function render(root) {
  const runtime = h('div');
  const build = h('div');
  const ams = h('div');
  replace(root, title('Runtime & Build Information'), h('h2', {}, 'Runtime Information'), runtime, h('h2', {}, 'Build Information'), build, h('h2', {}, 'Alertmanagers'), ams);
  section(runtime, () => api('status/runtimeinfo'), ({ data }) => keyValues(data, RUNTIME_NAMES));
  section(build, () => api('status/buildinfo'), ({ data }) => keyValues(data, BUILD_NAMES));
  section(
    ams,
    () => api('alertmanagers'),
    ({ data }) => {
      const rows = [...(data.activeAlertmanagers || []).map((a) => [a.url, 'active']), ...(data.droppedAlertmanagers || []).map((a) => [a.url, 'dropped'])];
      return rows.length ? table(['Endpoint', 'State'], rows) : h('div', { class: 'empty-result' }, 'No Alertmanagers configured.');
    },
  );
}
