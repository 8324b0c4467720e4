// Entry point: theme, language, hash router, login, navigation, the
// always-visible connection indicator and the compact embed view.

import { h, mount, toast } from './dom.js';
import { t, init as initI18n, setLang, lang, applyStatic, onLangChange } from './i18n.js';
import { api, getToken, setToken, claims, tokenExpired, setUnauthorizedHandler, roleAtLeast, listAll, ApiError } from './api.js';
import { liveSession, endLiveSession } from './live/session.js';
import { mountLivePanel } from './live/panel.js';
import { mountCrudPage } from './admin/crud.js';
import { mountDashboard, mountDids, mountCdr, mountConference, mountDeployments, mountAudit } from './admin/pages.js';

const THEME_KEY = 'ringside.theme';

/** localStorage that never throws (it can be blocked inside iframes). */
const store = {
  get(k) { try { return localStorage.getItem(k); } catch { return null; } },
  set(k, v) { try { localStorage.setItem(k, v); } catch { /* not remembered */ } }
};

const NAV = [
  { section: 'nav.section.operations', items: [
    { route: 'live', label: 'nav.live', min: 'viewer' },
    { route: 'dashboard', label: 'nav.dashboard', min: 'viewer' },
    { route: 'cdr', label: 'nav.cdr', min: 'viewer' },
    { route: 'conference', label: 'nav.conference', min: 'operator' }
  ] },
  { section: 'nav.section.business', items: [
    { route: 'customers', label: 'nav.customers', min: 'viewer' },
    { route: 'dids', label: 'nav.dids', min: 'viewer' },
    { route: 'extensions', label: 'nav.extensions', min: 'viewer' },
    { route: 'providers', label: 'nav.providers', min: 'viewer' },
    { route: 'gateways', label: 'nav.gateways', min: 'viewer' },
    { route: 'routes', label: 'nav.routes', min: 'viewer' },
    { route: 'tariffs', label: 'nav.tariffs', min: 'viewer' }
  ] },
  { section: 'nav.section.platform', items: [
    { route: 'pbx', label: 'nav.pbx', min: 'tenant_admin' },
    { route: 'deployments', label: 'nav.deployments', min: 'tenant_admin' },
    { route: 'users', label: 'nav.users', min: 'tenant_admin' },
    { route: 'tenants', label: 'nav.tenants', min: 'platform_admin' },
    { route: 'audit', label: 'nav.audit', min: 'tenant_admin' }
  ] }
];

const PAGES = {
  live: (root, ctx) => mountLivePanel(root, { me: ctx.me, embed: false, session: liveSession() }),
  dashboard: (root) => mountDashboard(root),
  customers: (root, ctx) => mountCrudPage(root, { entity: 'customers', me: ctx.me }),
  dids: (root, ctx) => mountDids(root, ctx),
  providers: (root, ctx) => mountCrudPage(root, { entity: 'providers', me: ctx.me }),
  gateways: (root, ctx) => mountCrudPage(root, { entity: 'gateways', me: ctx.me }),
  routes: (root, ctx) => mountCrudPage(root, { entity: 'routes', me: ctx.me }),
  extensions: (root, ctx) => mountCrudPage(root, { entity: 'extensions', me: ctx.me }),
  tariffs: (root, ctx) => mountCrudPage(root, { entity: 'tariffs', me: ctx.me }),
  cdr: (root) => mountCdr(root),
  conference: (root, ctx) => mountConference(root, ctx),
  pbx: (root, ctx) => mountCrudPage(root, { entity: 'pbx', me: ctx.me }),
  users: (root, ctx) => mountCrudPage(root, { entity: 'users', me: ctx.me }),
  tenants: (root, ctx) => mountCrudPage(root, { entity: 'tenants', me: ctx.me }),
  deployments: (root, ctx) => mountDeployments(root, ctx),
  audit: (root) => mountAudit(root)
};

const state = { me: null, teardown: null, route: null, offConn: [] };
const $ = (id) => document.getElementById(id);

function isEmbed() {
  return new URLSearchParams(location.search).get('embed') === '1' || location.hash.startsWith('#/embed');
}

// ---- theme ------------------------------------------------------------------

function effectiveTheme() {
  const saved = store.get(THEME_KEY);
  if (saved === 'light' || saved === 'dark') return saved;
  return matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light';
}

function applyTheme() {
  const th = effectiveTheme();
  document.documentElement.dataset.theme = th;
  const btn = $('theme-toggle');
  btn.textContent = th === 'dark' ? '☀' : '☾';
  btn.setAttribute('aria-label', t(th === 'dark' ? 'settings.theme.light' : 'settings.theme.dark'));
  btn.title = btn.getAttribute('aria-label');
  btn.setAttribute('aria-pressed', String(th === 'dark'));
}

// ---- auth -------------------------------------------------------------------

function currentMe() {
  const c = claims();
  if (!c || tokenExpired(c)) return null;
  return { id: c.sub, username: c.username, tenant: c.tenant, role: c.role };
}

function logout(reasonKey) {
  setToken(null);
  endLiveSession();
  state.me = null;
  for (const off of state.offConn) off();
  state.offConn = [];
  shellStarted = false;
  if (reasonKey) sessionStorage.setItem('ringside.loginReason', reasonKey);
  location.hash = isEmbed() ? '#/embed' : '#/login';
  route();
}

function renderLogin() {
  $('topbar').hidden = true;
  $('sidenav').hidden = true;
  document.body.classList.add('is-login');
  const main = $('main');
  const reason = sessionStorage.getItem('ringside.loginReason');
  sessionStorage.removeItem('ringside.loginReason');
  const err = h('p.form-error', { role: 'alert', id: 'login-error', hidden: !reason }, reason ? t(reason) : '');
  const user = h('input', { id: 'login-user', name: 'username', autocomplete: 'username', required: true });
  const pass = h('input', { id: 'login-pass', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button.btn.btn-primary.btn-block', { type: 'submit', id: 'login-submit' }, t('auth.submit'));
  const langSel = h('select', { id: 'login-lang', aria: { label: t('settings.language') } },
    h('option', { value: 'en', selected: lang() === 'en' }, 'English'),
    h('option', { value: 'pt-BR', selected: lang() === 'pt-BR' }, 'Português (Brasil)'));
  langSel.addEventListener('change', () => { setLang(langSel.value); renderLogin(); });
  const form = h('form.login-card', { id: 'login-form', aria: { labelledby: 'login-title' } },
    h('div.login-brand', h('span.brand-mark', { aria: { hidden: 'true' } }, '◉'), ' Ringside'),
    h('h1', { id: 'login-title' }, t('auth.title')),
    h('p.muted', t('auth.subtitle')),
    h('div.field', h('label', { for: 'login-user' }, t('auth.username')), user),
    h('div.field', h('label', { for: 'login-pass' }, t('auth.password')), pass),
    err,
    submit,
    h('div.login-foot', langSel));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    submit.disabled = true;
    try {
      await api.login(user.value.trim(), pass.value);
      state.me = currentMe();
      const target = sessionStorage.getItem('ringside.afterLogin') || (isEmbed() ? '#/embed' : '#/live');
      sessionStorage.removeItem('ringside.afterLogin');
      startShell();
      if (location.hash === target) route(); else location.hash = target;
    } catch (ex) {
      err.textContent = ex instanceof ApiError && ex.status === 429 ? t('auth.rate_limited')
        : ex instanceof ApiError && (ex.status === 401 || ex.status === 422 || ex.status === 400) ? t('auth.failed')
          : t('common.error', { msg: ex.message });
      err.hidden = false;
      pass.select();
    } finally {
      submit.disabled = false;
    }
  });
  mount(main, form);
  document.title = `${t('auth.title')}`;
  user.focus();
}

// ---- shell --------------------------------------------------------------------

function renderNav() {
  const nav = $('sidenav');
  nav.setAttribute('aria-label', t('nav.main'));
  const role = state.me ? state.me.role : 'viewer';
  mount(nav, NAV.map((sec) => {
    const items = sec.items.filter((i) => roleAtLeast(role, i.min));
    if (!items.length) return null;
    return h('div.nav-section',
      h('h2.nav-heading', t(sec.section)),
      h('ul', items.map((i) => h('li', h('a.nav-link', {
        href: `#/${i.route}`,
        id: `nav-${i.route}`,
        aria: { current: state.route === i.route ? 'page' : null }
      }, t(i.label))))));
  }));
}

function renderWho() {
  const me = state.me;
  $('whoami').textContent = me ? `${me.username} · ${t(`role.${me.role}`)}${me.tenant ? ` · ${me.tenant}` : ''}` : '';
}

/** Connection indicator: always visible, from the live session's state and the PBXs view. */
function renderConn(slot) {
  const s = liveSession();
  const st = s.state;
  const label = st.state === 'live' ? t('conn.live')
    : st.state === 'reconnecting' ? t('conn.reconnecting', { n: st.attempt })
      : st.state === 'offline' ? t('conn.offline') : t('conn.connecting');
  const items = [h('span.conn', { class: `conn-${st.state}`, id: slot.id === 'conn-slot' ? 'conn-state' : null, dataset: { state: st.state, attempt: String(st.attempt) } },
    h('span.conn-dot', { aria: { hidden: 'true' } }), label)];
  for (const p of s.model.stalePbxs()) {
    if (s.tenant && p.tenant && p.tenant !== s.tenant) continue;
    items.push(h('span.conn.conn-stale', { dataset: { pbx: p.pbx } }, h('span.conn-dot', { aria: { hidden: 'true' } }),
      t(p.stale ? 'conn.stale' : 'conn.syncing', { pbx: p.pbx })));
  }
  mount(slot, ...items);
}

function watchConn(slot) {
  const s = liveSession();
  let sig = '';
  let frame = 0;
  const draw = () => {
    frame = 0;
    const st = s.state;
    const next = `${st.state}/${st.attempt}/${lang()}/${s.tenant}/${s.model.stalePbxs().map((p) => `${p.pbx}:${p.stale}:${p.syncing}`).join(',')}`;
    if (next === sig) return;
    sig = next;
    renderConn(slot);
  };
  const kick = () => { if (!frame) frame = requestAnimationFrame(draw); };
  slot.setAttribute('role', 'status');
  state.offConn.push(s.onState(kick), s.onData(kick), onLangChange(kick),
    s.onAuthError(() => logout('auth.expired')));
  draw();
  s.start();
}

async function setupTenantSwitch() {
  const wrap = $('tenant-switch');
  const sel = $('tenant-select');
  if (!state.me || state.me.role !== 'platform_admin') { wrap.hidden = true; return; }
  const tenants = await listAll('tenants').catch(() => []);
  // One tenant per live connection (the server switches the stream on
  // `subscribe`); the admin's own tenant is the default.
  // Tokens and live views name a tenant by its slug (the API's `id` is a UUID).
  const key = (tn) => tn.slug || tn.id;
  const cur = liveSession().tenant || state.me.tenant;
  if (!tenants.some((tn) => key(tn) === state.me.tenant)) tenants.unshift({ slug: state.me.tenant, name: state.me.tenant });
  mount(sel, tenants.map((tn) => h('option', { value: key(tn), selected: key(tn) === cur }, tn.name || key(tn))));
  wrap.hidden = false;
}

let shellStarted = false;
function startShell() {
  if (shellStarted) return;
  shellStarted = true;
  if (!isEmbed()) {
    watchConn($('conn-slot'));
    setupTenantSwitch();
  }
}

// ---- router -----------------------------------------------------------------------

function parseRoute() {
  const m = /^#\/([a-z-]+)/.exec(location.hash);
  return m ? m[1] : '';
}

function route() {
  if (state.teardown) { state.teardown(); state.teardown = null; }
  document.querySelectorAll('dialog.modal').forEach((d) => d.remove());
  const embed = isEmbed();
  document.body.classList.toggle('embed', embed);
  state.me = currentMe();
  const r = parseRoute();
  if (!state.me) {
    if (getToken()) setToken(null);
    if (r && r !== 'login' && r !== 'embed') sessionStorage.setItem('ringside.afterLogin', location.hash);
    state.route = 'login';
    renderLogin();
    return;
  }
  document.body.classList.remove('is-login');
  startShell();
  if (embed) { renderEmbed(); return; }
  if (!r || r === 'login' || !PAGES[r]) { location.hash = '#/live'; return; }
  state.route = r;
  $('topbar').hidden = false;
  $('sidenav').hidden = false;
  renderNav();
  renderWho();
  closeNavOnMobile();
  const main = $('main');
  main.className = `page page-${r}`;
  state.teardown = PAGES[r](main, { me: state.me });
  const navItem = NAV.flatMap((s) => s.items).find((i) => i.route === r);
  document.title = `${navItem ? t(navItem.label) : r} · Ringside`;
}

function renderEmbed() {
  $('topbar').hidden = true;
  $('sidenav').hidden = true;
  state.route = 'embed';
  const main = $('main');
  main.className = 'page page-embed';
  const slot = h('div.embed-conn', { id: 'conn-slot-embed' });
  const body = h('div');
  const full = new URL(document.baseURI);
  full.hash = '#/live';
  mount(main, h('div.embed-head', h('strong', 'Ringside'), slot, h('a', { href: full.toString(), target: '_blank', rel: 'noopener' }, t('live.open_full'))), body);
  let offs = [];
  const s = liveSession();
  let frame = 0;
  const draw = () => { frame = 0; renderConn(slot); };
  const kick = () => { if (!frame) frame = requestAnimationFrame(draw); };
  offs.push(s.onState(kick), s.onData(kick), s.onAuthError(() => logout('auth.expired')));
  renderConn(slot);
  const unmount = mountLivePanel(body, { me: state.me, embed: true, session: s });
  document.title = `${t('live.title')} · Ringside`;
  state.teardown = () => { unmount(); for (const o of offs) o(); offs = []; };
}

function closeNavOnMobile() {
  document.body.classList.remove('nav-open');
  $('nav-toggle').setAttribute('aria-expanded', 'false');
}

// ---- boot -----------------------------------------------------------------------------

function boot() {
  initI18n();
  applyStatic(document);
  $('lang-select').value = lang();
  applyTheme();
  matchMedia('(prefers-color-scheme: dark)').addEventListener('change', applyTheme);

  $('theme-toggle').addEventListener('click', () => {
    store.set(THEME_KEY, effectiveTheme() === 'dark' ? 'light' : 'dark');
    applyTheme();
  });
  $('lang-select').addEventListener('change', (e) => setLang(e.target.value));
  onLangChange(() => {
    $('lang-select').value = lang();
    applyTheme();
    if (state.route && state.route !== 'login') route();
  });
  $('logout-btn').addEventListener('click', () => logout(null));
  $('nav-toggle').addEventListener('click', () => {
    const open = !document.body.classList.contains('nav-open');
    document.body.classList.toggle('nav-open', open);
    $('nav-toggle').setAttribute('aria-expanded', String(open));
  });
  $('tenant-select').addEventListener('change', (e) => liveSession().setTenant(e.target.value));
  $('skip-link').addEventListener('click', (e) => { e.preventDefault(); $('main').focus(); });
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && document.body.classList.contains('nav-open')) closeNavOnMobile();
    // "/" focuses the live search, as in most consoles.
    if (e.key === '/' && !/INPUT|TEXTAREA|SELECT/.test(document.activeElement.tagName)) {
      const s = document.getElementById('live-search');
      if (s) { e.preventDefault(); s.focus(); }
    }
  });

  setUnauthorizedHandler(() => {
    if (state.route === 'login') return;
    if (location.hash && !location.hash.startsWith('#/login')) sessionStorage.setItem('ringside.afterLogin', location.hash);
    logout('auth.expired');
  });

  window.addEventListener('hashchange', route);
  route();
  // The token's claims drive the UI; ask the server once whether it still accepts it.
  if (state.me) api.get('auth/me').catch((e) => { if (!(e instanceof ApiError)) toast(t('common.error', { msg: e.message }), 'error'); });
}

boot();
