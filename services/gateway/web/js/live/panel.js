// The live panel: calls, extensions/agents, trunks, queues and conferences of
// the tenant's PBXs, updated from the /ws stream. Deltas go into the model at
// once; the DOM is touched once per animation frame, only for the keys that
// changed in that frame.

import { h, mount, dialog, confirmDialog, field, toast, fmtDuration, setFieldError, icon } from '../dom.js';
import { t } from '../i18n.js';
import { api, roleAtLeast, listAll } from '../api.js';
import { statusClass, statusKey, callSeconds, searchText, fmtPrice } from './model.js';
import { KeyedList, VirtualList } from './keyed.js';

const LISTEN_EXT_KEY = 'ringside.listenExten';
/** How often the prices of calls in progress are re-read. */
const PRICE_POLL_MS = 5000;

export function badge(status, extraClass = '') {
  return h('span.badge', { class: `badge-${statusClass(status)} ${extraClass}`.trim() }, t(statusKey(status)));
}

function setBadge(el, status) {
  const cls = `badge badge-${statusClass(status)}`;
  if (el.className !== cls) el.className = cls;
  const label = t(statusKey(status));
  if (el.textContent !== label) el.textContent = label;
}

function setText(el, text) {
  const s = text === null || text === undefined || text === '' ? '—' : String(text);
  if (el.textContent !== s) el.textContent = s;
}

function callStatus(c) {
  if (c.state === 'held') return 'on_hold';
  if (c.state === 'up') return 'in_call';
  return c.state || 'unknown';
}

/** Queue member status: AMI sends numbers (1 not in use, 2 in use, 5 unavailable, 6 ringing, 8 on hold). */
function memberStatus(m) {
  if (m.in_call) return 'in_use';
  if (m.paused) return 'on_hold';
  const n = Number(m.status);
  if (Number.isNaN(n)) return m.status;
  return { 1: 'online', 2: 'in_use', 3: 'in_use', 4: 'unknown', 5: 'unavailable', 6: 'ringing', 7: 'ringing', 8: 'on_hold' }[n] || 'unknown';
}

function debounce(fn, ms) {
  let id = 0;
  return (...a) => { clearTimeout(id); id = setTimeout(() => fn(...a), ms); };
}

/**
 * Mount the live panel in `root`, rendering from a live session (see session.js).
 * @param {HTMLElement} root
 * @param {{me: object|null, embed: boolean, session: object}} ctx
 * @returns {() => void} unmount
 */
export function mountLivePanel(root, ctx) {
  const { me, embed, session } = ctx;
  const model = session.model;
  const canAct = !embed && !!me && roleAtLeast(me.role, 'operator');
  const filters = { search: '', pbx: '', customer: '' };
  const customers = { list: [], byExt: new Map(), byCode: new Map(), byIp: new Map() };
  let frame = 0;
  let filtersDirty = true;
  let knownPbxs = null;
  let lastTenant = session.tenant;

  // ---- layout ---------------------------------------------------------------
  const searchInput = h('input', { type: 'search', id: 'live-search', placeholder: t('live.search_ph'), autocomplete: 'off' });
  const pbxSelect = h('select', { id: 'live-pbx' });
  const customerSelect = h('select', { id: 'live-customer' });
  const counts = h('p.live-counts');
  const toolbar = h('div.live-toolbar', { role: 'search' },
    h('div.field.inline', h('label', { for: 'live-search' }, t('live.search')), searchInput),
    h('div.field.inline', h('label', { for: 'live-pbx' }, t('live.pbx')), pbxSelect),
    embed ? null : h('div.field.inline', h('label', { for: 'live-customer' }, t('live.customer')), customerSelect),
    counts);

  function column(id, titleKey, { table = false } = {}) {
    const count = h('span.count', { aria: { label: '' } }, '0');
    const body = table ? h('div.col-body', { role: 'table', aria: { labelledby: `${id}-title` } })
      : h('ul.col-body', { id: `${id}-list`, aria: { labelledby: `${id}-title` } });
    const empty = table ? h('div.empty', t('live.no_calls')) : h('li.empty', t('live.empty'));
    const sec = h('section.live-col', { id: `col-${id}`, class: `col-${id}`, aria: { labelledby: `${id}-title` } },
      h('h2.col-title', { id: `${id}-title` }, h('span', t(titleKey)), count),
      body);
    return { sec, body, count, empty };
  }

  const colCalls = column('calls', 'live.calls', { table: true });
  const callsHead = h('div.call-row.call-head', { role: 'row' },
    h('span', { role: 'columnheader' }, t('live.state')),
    h('span', { role: 'columnheader' }, t('live.from')),
    h('span', { role: 'columnheader' }, t('live.to')),
    h('span', { role: 'columnheader' }, t('live.pbx')),
    h('span.num', { role: 'columnheader' }, t('live.duration')),
    h('span.num', { role: 'columnheader' }, t('live.price')),
    h('span', { role: 'columnheader' }, canAct ? t('live.actions') : ''));
  const callsRows = h('div.call-rows', { role: 'rowgroup', id: 'calls-list' });
  colCalls.body.append(h('div.call-head-group', { role: 'rowgroup' }, callsHead), callsRows);

  const colEndpoints = column('endpoints', 'live.endpoints');
  const colTrunks = column('trunks', 'live.trunks');
  const colQueues = column('queues', 'live.queues');
  const colConfs = column('conferences', 'live.conferences');

  const grid = h('div.live-grid', { class: embed ? 'embed' : null },
    colCalls.sec, colEndpoints.sec, colTrunks.sec, colQueues.sec, colConfs.sec);
  mount(root, embed ? null : h('h1.page-title', t('live.title')), toolbar, grid);

  // ---- row builders -----------------------------------------------------------
  const now = () => session.sock.now();
  /** Price so far per call (`pbx\u0000id`), from the tenant's tariffs: the
   * gateway prices calls in progress in `GET /live/calls`, polled while the
   * panel is open (prices step at billing increments, so seconds apart is enough). */
  const prices = new Map();
  const callKey = (c) => `${c.pbx}\u0000${c.id}`;

  function createCall() {
    const state = h('span.badge');
    const from = h('span.c-from');
    const to = h('span.c-to');
    const pbx = h('span.c-pbx');
    const dur = h('span.c-dur');
    const price = h('span.c-price');
    const actions = h('span.c-actions');
    if (canAct) {
      // Icon buttons keep the row narrow; the label is the accessible name and tooltip.
      const btn = (action, cls) => h(`button.icon-btn.act${cls}`, { type: 'button', dataset: { action }, aria: { label: t(`action.${action}`) }, title: t(`action.${action}`) }, icon(action));
      actions.append(btn('hangup', '.act-danger'), btn('transfer', ''), btn('listen', ''));
    }
    const el = h('div.call-row', { role: 'row' },
      h('span', { role: 'cell' }, state), h('span', { role: 'cell' }, from), h('span', { role: 'cell' }, to),
      h('span', { role: 'cell' }, pbx), h('span.num', { role: 'cell' }, dur), h('span.num', { role: 'cell' }, price),
      h('span', { role: 'cell' }, actions));
    return { el, state, from, to, pbx, dur, price };
  }
  function updateCall(rec, c) {
    setBadge(rec.state, callStatus(c));
    setText(rec.from, c.from);
    setText(rec.to, c.to);
    setText(rec.pbx, c.trunk ? `${c.pbx} · ${c.trunk}` : c.pbx);
    if (rec.pbx.title !== rec.pbx.textContent) rec.pbx.title = rec.pbx.textContent;
    if (rec.el.dataset.state !== c.state) rec.el.dataset.state = c.state;
    if (rec.el.dataset.call !== c.id) { rec.el.dataset.call = c.id; rec.el.dataset.pbx = c.pbx; }
    setText(rec.dur, fmtDuration(callSeconds(c, now())));
    setText(rec.price, prices.get(callKey(c)) ?? '');
  }

  function createCard(block = false) {
    const st = h('span.badge');
    const name = h('strong.e-name');
    const meta = h('span.e-meta');
    if (!block) return { el: h('li.card-row', st, name, meta), st, name, meta };
    const sub = h('ul.members');
    return { el: h('li.card-row.card-block', h('div.card-head', name, meta), sub), st, name, meta, sub };
  }
  function updateEndpoint(rec, e) {
    setBadge(rec.st, e.status);
    setText(rec.name, e.name);
    const contact = (e.contacts || [])[0];
    const rtt = contact && contact.rtt_usec ? t('live.latency', { n: Math.round(contact.rtt_usec / 1000) }) : '';
    setText(rec.meta, [e.technology, e.pbx, e.channels ? t(e.channels === 1 ? 'live.channel' : 'live.channels', { n: e.channels }) : '', rtt].filter(Boolean).join(' · '));
  }
  function updateTrunk(rec, tr) {
    setBadge(rec.st, tr.status || 'unknown');
    setText(rec.name, tr.name);
    const lat = tr.latency_ms !== null && tr.latency_ms !== undefined ? t('live.latency', { n: tr.latency_ms }) : '';
    setText(rec.meta, [tr.address, tr.pbx, lat].filter(Boolean).join(' · '));
  }
  function updateQueue(rec, q) {
    setText(rec.name, q.name);
    setText(rec.meta, [t('live.members', { n: (q.members || []).length }), t('live.callers', { n: (q.callers || []).length }),
      t('live.completed', { n: q.completed ?? 0 }), t('live.abandoned', { n: q.abandoned ?? 0 })].join(' · '));
    mount(rec.sub, (q.members || []).map((m) => h('li', badge(memberStatus(m)), ' ', m.name || m.interface)));
  }
  function updateConference(rec, c) {
    setText(rec.name, c.name);
    setText(rec.meta, [c.pbx, t('live.participants', { n: (c.participants || []).length })].join(' · '));
    mount(rec.sub, (c.participants || []).map((p) => h('li', badge(p.talking ? 'in_use' : 'online'), ' ', p.caller_num || p.channel,
      p.muted ? ' (mute)' : '', p.admin ? ' ★' : '')));
  }

  const byName = (e) => String(e.name ?? '');
  const lists = {
    // Windowed: thousands of calls, only the visible rows in the DOM.
    calls: new VirtualList(callsRows, colCalls.body, { create: createCall, update: updateCall, sortKey: (c) => c.start_ms ?? 0, desc: true, empty: colCalls.empty, onCount: (n) => setText(colCalls.count, n) }),
    endpoints: new KeyedList(colEndpoints.body, { create: () => createCard(), update: updateEndpoint, sortKey: byName, empty: colEndpoints.empty, onCount: (n) => setText(colEndpoints.count, n) }),
    trunks: new KeyedList(colTrunks.body, { create: () => createCard(), update: updateTrunk, sortKey: byName, empty: colTrunks.empty, onCount: (n) => setText(colTrunks.count, n) }),
    queues: new KeyedList(colQueues.body, { create: () => createCard(true), update: updateQueue, sortKey: byName, empty: colQueues.empty, onCount: (n) => setText(colQueues.count, n) }),
    conferences: new KeyedList(colConfs.body, { create: () => createCard(true), update: updateConference, sortKey: byName, empty: colConfs.empty, onCount: (n) => setText(colConfs.count, n) })
  };

  // ---- filters ------------------------------------------------------------------
  function customerOf(view, e) {
    if (e.customer_id) return e.customer_id;
    if (view === 'endpoints') return customers.byExt.get(e.name) || '';
    if (view === 'calls') return customers.byExt.get(e.from) || customers.byExt.get(e.to) || customers.byCode.get(e.trunk) || '';
    if (view === 'trunks') {
      const host = String(e.address || '').replace(/^sips?:/, '').replace(/:\d+$/, '');
      return customers.byCode.get(e.name) || customers.byIp.get(host) || '';
    }
    return '';
  }

  const searchCache = new WeakMap();
  function matches(view, e) {
    const tenant = session.tenant;
    if (tenant && e.tenant && e.tenant !== tenant) return false;
    if (filters.pbx && e.pbx !== filters.pbx) return false;
    if (filters.customer && customerOf(view, e) !== filters.customer) return false;
    if (filters.search) {
      let s = searchCache.get(e);
      if (s === undefined) { s = searchText(view, e); searchCache.set(e, s); }
      if (!s.includes(filters.search)) return false;
    }
    return true;
  }

  // ---- render: once per animation frame ---------------------------------------------
  function schedule() { if (!frame) frame = requestAnimationFrame(render); }

  function render() {
    frame = 0;
    if (session.tenant !== lastTenant) { lastTenant = session.tenant; filtersDirty = true; }
    const { reset, changes } = model.takeChanges();
    const fresh = [];
    for (const [view, L] of Object.entries(lists)) {
      if (filtersDirty || reset.has(view)) {
        const items = [];
        for (const [k, e] of model.views[view]) if (matches(view, e)) items.push([k, e]);
        L.rebuild(items);
        continue;
      }
      const ch = changes[view];
      if (!ch) continue;
      for (const k of ch) {
        const e = model.views[view].get(k);
        if (e && matches(view, e)) {
          if (view === 'calls' && !L.has(k)) fresh.push(k);
          L.upsert(k, e);
        } else L.remove(k);
      }
    }
    // Channels hold the call's hold state and peers: refresh calls touched by a channel change.
    if (changes.channels && !filtersDirty) {
      for (const k of changes.channels) {
        const ch = model.views.channels.get(k);
        if (!ch) continue;
        const callKey = `${ch.pbx}\u0000${ch.linkedid}`;
        const rec = lists.calls.recFor(callKey);
        if (rec) updateCall(rec, rec.entry);
      }
    }
    for (const L of Object.values(lists)) L.flush();
    for (const k of fresh) { const rec = lists.calls.recFor(k); if (rec) flash(rec.el); }
    filtersDirty = false;
    refreshPbxOptions();
    setText(counts, t('live.counts', { calls: lists.calls.size, endpoints: lists.endpoints.size, trunks: lists.trunks.size }));
  }

  /** A call that just appeared is highlighted briefly (not on re-sync or filter rebuilds). */
  function flash(el) {
    el.classList.add('row-new');
    setTimeout(() => el.classList.remove('row-new'), 1500);
  }

  function refilter() { filtersDirty = true; schedule(); }

  function refreshPbxOptions() {
    const tenant = session.tenant;
    const ids = [...model.views.pbxs.values()].filter((p) => !tenant || !p.tenant || p.tenant === tenant).map((p) => p.pbx).sort();
    const sig = ids.join('\u0000');
    if (sig === knownPbxs) return;
    knownPbxs = sig;
    mount(pbxSelect, h('option', { value: '' }, t('live.all')), ids.map((id) => h('option', { value: id, selected: id === filters.pbx }, id)));
  }

  function refreshCustomerOptions() {
    mount(customerSelect, h('option', { value: '' }, t('live.all')),
      customers.list.map((c) => h('option', { value: c.id, selected: c.id === filters.customer }, `${c.code} — ${c.name}`)));
  }

  // ---- operator actions ----------------------------------------------------------------
  async function onCallAction(action, key) {
    const call = model.views.calls.get(key);
    if (!call) return;
    const names = { from: call.from || '?', to: call.to || '?' };
    const pbxPath = `pbx/${encodeURIComponent(call.pbx)}/actions`;
    if (action === 'hangup') {
      await confirmDialog(t('action.hangup'), t('action.hangup_confirm', names), {
        danger: true,
        confirmLabel: t('action.hangup'),
        onConfirm: async () => {
          const other = session.tenant && me && session.tenant !== me.tenant ? `&tenant=${encodeURIComponent(session.tenant)}` : '';
          await api.post(`calls/${encodeURIComponent(call.id)}/hangup?pbx=${encodeURIComponent(call.pbx)}${other}`, {});
          toast(t('action.done'), 'ok');
        }
      });
    } else if (action === 'transfer') {
      const chans = model.callChannels(call);
      const leg = chans.length
        ? field({ name: 'channel', label: t('action.transfer_leg'), options: chans.map((c) => ({ value: c.name, label: `${c.name} ${c.caller_num ? `(${c.caller_num})` : ''}` })) })
        : field({ name: 'channel', label: t('action.transfer_leg'), required: true });
      const exten = field({ name: 'exten', label: t('action.transfer_exten'), required: true, attrs: { inputmode: 'numeric', autocomplete: 'off' } });
      const context = field({ name: 'context', label: t('action.transfer_context'), value: localStorage.getItem('ringside.transferContext') || 'from-internal', required: true });
      await dialog({
        title: t('action.transfer_title', names),
        body: h('div', leg.wrap, exten.wrap, context.wrap),
        confirmLabel: t('action.transfer'),
        onConfirm: async () => {
          const ext = exten.input.value.trim();
          setFieldError(exten, /^[0-9*#]{1,32}$/.test(ext) ? null : t('valid.dial'));
          if (exten.input.getAttribute('aria-invalid')) return false;
          localStorage.setItem('ringside.transferContext', context.input.value.trim());
          await api.post(pbxPath, { Action: 'Redirect', Channel: leg.input.value.trim(), Exten: ext, Context: context.input.value.trim(), Priority: '1' });
          toast(t('action.done'), 'ok');
        }
      });
    } else if (action === 'listen') {
      const chans = model.callChannels(call);
      const mine = field({ name: 'spy_exten', label: t('action.listen_exten'), value: localStorage.getItem(LISTEN_EXT_KEY) || '', required: true, help: t('action.listen_help') });
      await dialog({
        title: t('action.listen_title', names),
        body: h('div', mine.wrap),
        confirmLabel: t('action.listen'),
        onConfirm: async () => {
          const v = mine.input.value.trim();
          setFieldError(mine, /^([A-Za-z0-9]+\/)?[A-Za-z0-9_.+-]{1,64}$/.test(v) ? null : t('valid.channel'));
          if (mine.input.getAttribute('aria-invalid')) return false;
          localStorage.setItem(LISTEN_EXT_KEY, v);
          await api.post(pbxPath, {
            Action: 'Originate',
            Channel: v.includes('/') ? v : `PJSIP/${v}`,
            Application: 'ChanSpy',
            Data: `${chans[0] ? chans[0].name : ''},qE`,
            CallerID: `Listen <${call.from || ''}>`,
            Async: 'true'
          });
          toast(t('action.done'), 'ok');
        }
      });
    }
  }

  callsRows.addEventListener('click', (ev) => {
    const btn = ev.target.closest('button[data-action]');
    if (!btn) return;
    const row = btn.closest('[data-key]');
    if (row) onCallAction(btn.dataset.action, row.dataset.key).catch((e) => toast(t('action.failed', { msg: e.message }), 'error'));
  });

  // ---- wiring ----------------------------------------------------------------------------
  searchInput.addEventListener('input', debounce(() => { filters.search = searchInput.value.trim().toLowerCase(); refilter(); }, 120));
  pbxSelect.addEventListener('change', () => { filters.pbx = pbxSelect.value; refilter(); });
  customerSelect.addEventListener('change', () => { filters.customer = customerSelect.value; refilter(); });

  const offData = session.onData(schedule);
  const tick = setInterval(() => {
    if (document.hidden) return;
    const n = now();
    lists.calls.forEachVisible((rec) => {
      const s = fmtDuration(callSeconds(rec.entry, n));
      if (rec.dur.textContent !== s) rec.dur.textContent = s;
    });
  }, 1000);

  async function refreshPrices() {
    if (document.hidden || embed) return;
    const other = session.tenant ? `?tenant=${encodeURIComponent(session.tenant)}` : '';
    const live = await api.get(`live/calls${other}`).catch(() => null);
    if (!live) return;
    prices.clear();
    for (const c of live.items || []) if (c.price_so_far !== undefined) prices.set(callKey(c), fmtPrice(c.price_so_far));
    lists.calls.forEachVisible((rec) => setText(rec.price, prices.get(callKey(rec.entry)) ?? ''));
  }
  const priceTick = setInterval(refreshPrices, PRICE_POLL_MS);
  refreshPrices();

  if (me && !embed) {
    Promise.all([listAll('customers').catch(() => []), listAll('extensions').catch(() => [])]).then(([cs, exts]) => {
      customers.list = cs;
      for (const c of cs) {
        if (c.code) customers.byCode.set(c.code, c.id);
        if (c.trunk_ip) customers.byIp.set(c.trunk_ip, c.id);
      }
      for (const x of exts) if (x.extension && x.customer_id) customers.byExt.set(x.extension, x.customer_id);
      refreshCustomerOptions();
    });
  }

  refreshCustomerOptions();
  model.takeChanges();
  schedule();
  session.start();

  return () => {
    cancelAnimationFrame(frame);
    frame = 0;
    clearInterval(tick);
    clearInterval(priceTick);
    offData();
    for (const L of Object.values(lists)) L.destroy();
  };
}
