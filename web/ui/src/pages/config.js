// Configuration: the loaded prometheus.yml as text.
import { api } from '../api.js';
import { h, replace, section, title } from '../dom.js';

export function render(root) {
  const body = h('div');
  replace(root, title('Configuration'), body);
  section(
    body,
    () => api('status/config'),
    ({ data }) => {
      const pre = h('pre', { class: 'config-yaml' }, data.yaml);
      const copy = h('button', {
        class: 'btn btn-secondary',
        text: 'Copy to clipboard',
        onclick: async () => {
          try {
            await navigator.clipboard.writeText(data.yaml);
            copy.textContent = 'Copied';
          } catch {
            copy.textContent = 'Copy failed: select the text instead';
          }
        },
      });
      return [h('div', { class: 'toolbar' }, copy), pre];
    },
  );
}
