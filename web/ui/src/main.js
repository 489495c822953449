// Entry point: the header navigation and a small router over location.pathname.
import { errorBox, h, replace } from './dom.js';
import * as query from './pages/query.js';
import * as targets from './pages/targets.js';
import * as discovery from './pages/discovery.js';
import * as alerts from './pages/alerts.js';
import * as rules from './pages/rules.js';
import * as config from './pages/config.js';
import * as flags from './pages/flags.js';
import * as status from './pages/status.js';
import * as tsdb from './pages/tsdb.js';
import './style.css';

/** Page path (last segment) to module and navigation title. */
const ROUTES = {
  '': query,
  graph: query,
  query,
  alerts,
  rules,
  targets,
  'service-discovery': discovery,
  config,
  flags,
  status,
  'tsdb-status': tsdb,
};

const NAV = [
  ['graph', 'Graph'],
  ['alerts', 'Alerts'],
  ['rules', 'Rules'],
  ['targets', 'Targets'],
  ['service-discovery', 'Service Discovery'],
  ['status', 'Status'],
  ['tsdb-status', 'TSDB Status'],
  ['config', 'Configuration'],
  ['flags', 'Flags'],
];

/** The page's own segment of the path (the UI may live under a prefix). */
function currentPage() {
  const p = location.pathname;
  return p.slice(p.lastIndexOf('/') + 1);
}

const main = h('main', { class: 'container', id: 'page' });
const links = NAV.map(([path, label]) => h('a', { href: path, class: 'nav-link', dataset: { page: path } }, label));
let cleanup = null;

function route() {
  if (cleanup) cleanup();
  cleanup = null;
  let page = currentPage();
  if (page === '' || page === 'query') page = 'graph';
  for (const a of links) a.classList.toggle('active', a.dataset.page === page);
  const mod = ROUTES[page];
  document.title = `Narthex · ${(NAV.find(([p]) => p === page) || [, 'Not found'])[1]}`;
  if (!mod) {
    replace(main, errorBox({ type: 'not found', message: `No page at ${location.pathname}` }));
    return;
  }
  try {
    cleanup = mod.render(main) || null;
  } catch (e) {
    replace(main, errorBox(e));
  }
}

document.body.append(
  h(
    'header',
    { class: 'navbar' },
    h('a', { href: 'graph', class: 'brand' }, 'Narthex'),
    h('nav', {}, links),
  ),
  main,
);
document.addEventListener('click', (e) => {
  const a = e.target.closest && e.target.closest('a.nav-link, a.brand');
  if (!a || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  e.preventDefault();
  history.pushState(null, '', a.getAttribute('href'));
  route();
});
window.addEventListener('popstate', route);
route();
