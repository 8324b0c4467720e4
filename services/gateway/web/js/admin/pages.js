// The admin pages that are not plain CRUD: dashboard, DIDs' allocation,
// CDR report, conference, deployments and the audit log.

import { h, mount, dialog, confirmDialog, field, setFieldError, toast, fmtDuration } from '../dom.js';
import { t, fmtNumber, fmtMoney, fmtDateTime } from '../i18n.js';
import { api, listAll, qs, getToken, roleAtLeast } from '../api.js';
import { mountCrudPage, applyApiError, canWrite } from './crud.js';
import { parseNumbers } from './validate.js';
import { stat, statusBadge } from './widgets.js';

function errorBox(root, e) {
  mount(root, h('p.form-error', { role: 'alert' }, t('common.error', { msg: e.message })));
}

// ---- dashboard ------------------------------------------------------------

export function mountDashboard(root) {
  let alive = true;
  mount(root, h('h1.page-title', t('dash.title')), h('p.muted', t('common.loading')));
  api.get('dashboard/stats').then((s) => {
    if (!alive) return;
    const c = s.counts || {};
    const d = s.today || {};
    const perHour = s.calls_per_hour || [];
    const max = Math.max(1, ...perHour.map((p) => p.calls || 0));
    const W = 24 * 20;
    const H = 120;
    const svgNS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(svgNS, 'svg');
    svg.setAttribute('viewBox', `0 0 ${W} ${H + 16}`);
    svg.setAttribute('class', 'bars');
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', t('dash.calls_per_hour'));
    const byHour = new Map(perHour.map((p) => [Number(p.hour), p.calls || 0]));
    for (let hr = 0; hr < 24; hr += 1) {
      const v = byHour.get(hr) || 0;
      const bh = Math.round((v / max) * H);
      const rect = document.createElementNS(svgNS, 'rect');
      rect.setAttribute('x', String(hr * 20 + 3));
      rect.setAttribute('y', String(H - bh));
      rect.setAttribute('width', '14');
      rect.setAttribute('height', String(Math.max(bh, v ? 1 : 0)));
      rect.setAttribute('rx', '2');
      const title = document.createElementNS(svgNS, 'title');
      title.textContent = t('dash.hour_bar', { hour: hr, calls: v });
      rect.append(title);
      svg.append(rect);
      if (hr % 3 === 0) {
        const tx = document.createElementNS(svgNS, 'text');
        tx.setAttribute('x', String(hr * 20 + 10));
        tx.setAttribute('y', String(H + 13));
        tx.setAttribute('text-anchor', 'middle');
        tx.textContent = String(hr).padStart(2, '0');
        svg.append(tx);
      }
    }
    mount(root,
      h('h1.page-title', t('dash.title')),
      h('section.panel', { aria: { labelledby: 'dash-today' } },
        h('h2', { id: 'dash-today' }, t('dash.today')),
        h('div.stats',
          stat(t('dash.calls'), fmtNumber(d.calls), 'calls'),
          stat(t('dash.answered'), fmtNumber(d.answered), 'answered'),
          stat(t('dash.asr'), `${fmtNumber(d.asr, 1)} %`, 'asr'),
          stat(t('dash.acd'), fmtDuration(d.acd), 'acd'),
          stat(t('dash.minutes'), fmtNumber(d.minutes, 1), 'minutes'),
          stat(t('dash.revenue'), fmtMoney(d.revenue), 'revenue'),
          stat(t('dash.cost'), fmtMoney(d.cost), 'cost'),
          stat(t('dash.margin'), fmtMoney(d.margin), 'margin'))),
      h('div.dash-cols',
        h('section.panel', { aria: { labelledby: 'dash-cph' } }, h('h2', { id: 'dash-cph' }, t('dash.calls_per_hour')), svg),
        h('section.panel', { aria: { labelledby: 'dash-gw' } }, h('h2', { id: 'dash-gw' }, t('dash.per_gateway')),
          h('table.data.compact',
            h('thead', h('tr', h('th', { scope: 'col' }, t('field.gateway_id')), h('th.num', { scope: 'col' }, t('dash.calls')), h('th.num', { scope: 'col' }, t('dash.asr')), h('th.num', { scope: 'col' }, t('dash.acd')))),
            h('tbody', (s.per_gateway || []).map((g) => h('tr', h('th', { scope: 'row' }, g.name), h('td.num', fmtNumber(g.calls)), h('td.num', `${fmtNumber(g.asr, 1)} %`), h('td.num', fmtDuration(g.acd)))))))),
      h('section.panel', { aria: { labelledby: 'dash-inv' } },
        h('h2', { id: 'dash-inv' }, t('dash.counts')),
        h('div.stats',
          stat(t('nav.customers'), fmtNumber(c.customers)),
          stat(t('nav.dids'), fmtNumber(c.dids)),
          stat(t('dash.dids_free'), fmtNumber(c.dids_free)),
          stat(t('dash.dids_allocated'), fmtNumber(c.dids_allocated)),
          stat(t('nav.gateways'), fmtNumber(c.gateways)),
          stat(t('nav.routes'), fmtNumber(c.routes)),
          stat(t('nav.extensions'), fmtNumber(c.extensions)),
          stat(t('nav.providers'), fmtNumber(c.providers)),
          stat(t('nav.tariffs'), fmtNumber(c.tariffs)))));
  }).catch((e) => alive && errorBox(root, e));
  return () => { alive = false; };
}

// ---- DIDs: CRUD plus allocate / deallocate --------------------------------

export function mountDids(root, { me }) {
  const writable = canWrite(me, 'dids');
  return mountCrudPage(root, {
    entity: 'dids',
    me,
    extraActions: (did, reload) => {
      if (!writable) return null;
      if (did.status === 'allocated' || did.customer_id) {
        return h('button.btn.btn-sm', {
          type: 'button',
          onclick: () => confirmDialog(t('did.deallocate'), t('did.deallocate_confirm', { number: did.number }), {
            danger: true,
            confirmLabel: t('did.deallocate'),
            onConfirm: async () => {
              await api.post(`dids/${encodeURIComponent(did.id)}/deallocate`, {});
              toast(t('did.deallocated'), 'ok');
              reload();
            }
          })
        }, t('did.deallocate'));
      }
      return h('button.btn.btn-sm.btn-primary', { type: 'button', dataset: { action: 'allocate' }, onclick: () => allocate(did, reload) }, t('did.allocate'));
    }
  });
}

async function allocate(did, reload) {
  const customers = await listAll('customers').catch(() => []);
  const cust = field({ name: 'customer_id', label: t('field.customer_id'), required: true, options: [{ value: '', label: t('common.none') }, ...customers.map((c) => ({ value: c.id, label: `${c.code} — ${c.name}` }))] });
  const dest = field({ name: 'destination', label: t('field.destination'), help: t('did.destination_help') });
  const controls = { customer_id: cust, destination: dest };
  await dialog({
    title: t('did.allocate_title', { number: did.number }),
    body: h('div.form-grid', cust.wrap, dest.wrap),
    confirmLabel: t('did.allocate'),
    onConfirm: async () => {
      setFieldError(cust, cust.input.value ? null : t('valid.uuid'));
      if (!cust.input.value) return false;
      try {
        await api.post(`dids/${encodeURIComponent(did.id)}/allocate`, { customer_id: cust.input.value, destination: dest.input.value.trim() || null });
      } catch (e) { applyApiError(e, controls); }
      toast(t('did.allocated'), 'ok');
      reload();
      return true;
    }
  });
}

// ---- CDR report -----------------------------------------------------------

export function mountCdr(root) {
  const PAGE = 50;
  let offset = 0;
  let alive = true;
  const today = new Date();
  const iso = (d) => `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
  const weekAgo = new Date(today.getTime() - 7 * 86400000);
  const f = {
    from: field({ name: 'from', label: t('cdr.from'), type: 'date', value: iso(weekAgo) }),
    to: field({ name: 'to', label: t('cdr.to'), type: 'date', value: iso(today) }),
    customer_id: field({ name: 'customer_id', label: t('field.customer_id'), options: [{ value: '', label: t('live.all') }] }),
    gateway_id: field({ name: 'gateway_id', label: t('field.gateway_id'), options: [{ value: '', label: t('live.all') }] }),
    did: field({ name: 'did', label: t('cdr.did') }),
    disposition: field({ name: 'disposition', label: t('cdr.disposition'), options: ['', 'ANSWERED', 'NO ANSWER', 'BUSY', 'FAILED'].map((v) => ({ value: v, label: v || t('live.all') })) })
  };
  const totals = h('div.stats.totals', { id: 'cdr-totals' });
  const tbody = h('tbody');
  const pager = h('div.pager');
  const status = h('p.muted', { role: 'status' });
  const csv = h('a.btn', { id: 'cdr-csv', download: 'cdr.csv' }, t('cdr.export'));
  const form = h('form.filters', { onsubmit: (e) => { e.preventDefault(); offset = 0; load(); } },
    Object.values(f).map((x) => x.wrap),
    h('div.filter-actions', h('button.btn.btn-primary', { type: 'submit' }, t('common.apply')), csv));
  mount(root, h('h1.page-title', t('cdr.title')), form, totals, status,
    h('div.table-wrap', h('table.data', { id: 'cdr-table' },
      h('thead', h('tr', ['cdr.start', 'cdr.src', 'cdr.dst', 'cdr.disposition', 'cdr.duration', 'cdr.billsec', 'cdr.cost', 'cdr.price', 'cdr.margin']
        .map((k, i) => h('th', { scope: 'col', class: i >= 4 ? 'num' : null }, t(k))))),
      tbody)),
    pager);

  Promise.all([listAll('customers').catch(() => []), listAll('gateways').catch(() => [])]).then(([cs, gws]) => {
    for (const c of cs) f.customer_id.input.append(h('option', { value: c.id }, `${c.code} — ${c.name}`));
    for (const g of gws) f.gateway_id.input.append(h('option', { value: g.id }, g.name));
  });

  function params() {
    const p = {};
    for (const [k, x] of Object.entries(f)) p[k] = x.input.value.trim();
    // Dates are local days; the API takes RFC 3339 instants.
    if (p.from) p.from = new Date(`${p.from}T00:00:00`).toISOString();
    if (p.to) p.to = new Date(`${p.to}T23:59:59.999`).toISOString();
    return p;
  }

  async function load() {
    status.textContent = t('common.loading');
    const p = params();
    csv.href = `api/v1/reports/cdr${qs({ ...p, format: 'csv' })}`;
    try {
      const r = await api.get(`reports/cdr${qs({ ...p, limit: PAGE, offset })}`);
      if (!alive) return;
      status.textContent = '';
      const tot = r.totals || {};
      mount(totals,
        stat(t('cdr.calls'), fmtNumber(tot.calls), 'calls'),
        stat(t('cdr.billsec'), fmtDuration(tot.billsec), 'billsec'),
        stat(t('cdr.cost'), fmtMoney(tot.cost), 'cost'),
        stat(t('cdr.price'), fmtMoney(tot.price), 'price'),
        stat(t('cdr.margin'), fmtMoney(tot.margin), 'margin'));
      const items = r.items || [];
      mount(tbody, items.length ? items.map((c) => h('tr',
        h('td', fmtDateTime(c.start)), h('td.mono', c.src), h('td.mono', c.dst),
        h('td', statusBadge(c.disposition === 'ANSWERED' ? 'online' : c.disposition === 'BUSY' ? 'ringing' : 'offline', c.disposition || '—')),
        h('td.num', fmtDuration(c.duration)), h('td.num', fmtDuration(c.billsec)),
        h('td.num', fmtMoney(c.cost)), h('td.num', fmtMoney(c.price)), h('td.num', { class: Number(c.margin) < 0 ? 'neg' : null }, fmtMoney(c.margin))))
        : h('tr', h('td.empty', { colspan: '9' }, t('cdr.empty'))));
      const total = r.total ?? items.length;
      mount(pager,
        h('span', total ? t('common.page', { from: offset + 1, to: offset + items.length, total }) : ''),
        h('button.btn.btn-sm', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t('common.prev')),
        h('button.btn.btn-sm', { type: 'button', disabled: offset + items.length >= total, onclick: () => { offset += PAGE; load(); } }, t('common.next')));
    } catch (e) {
      if (alive) status.textContent = t('common.error', { msg: e.message });
    }
  }

  // The CSV link needs the bearer token, which a plain <a href> can't send:
  // fetch it and hand the browser a blob.
  csv.addEventListener('click', async (e) => {
    e.preventDefault();
    try {
      const res = await fetch(csv.href, { headers: { Authorization: `Bearer ${getToken()}` } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const url = URL.createObjectURL(await res.blob());
      const a = h('a', { href: url, download: 'cdr.csv' });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (ex) {
      toast(t('common.error', { msg: ex.message }), 'error');
    }
  });

  load();
  return () => { alive = false; };
}

// ---- conference -----------------------------------------------------------

export function mountConference(root, { me }) {
  const room = field({ name: 'room', label: t('conf.room'), required: true });
  const numbers = field({ name: 'numbers', label: t('conf.numbers'), type: 'textarea', required: true, help: t('valid.numbers') });
  const pbx = field({ name: 'pbx', label: t('conf.pbx'), options: [], required: true });
  const controls = { room, numbers, pbx };
  const allowed = me && roleAtLeast(me.role, 'operator');
  const submit = h('button.btn.btn-primary', { type: 'submit', disabled: !allowed }, t('conf.start'));
  const err = h('p.form-error', { role: 'alert', hidden: true });
  const form = h('form.panel.narrow', { noValidate: true },
    h('p.muted', t('conf.help')), room.wrap, numbers.wrap, pbx.wrap, err, submit);
  form.noValidate = true;
  mount(root, h('h1.page-title', t('conf.title')), form);
  listAll('pbx').then((list) => mount(pbx.input, list.map((p) => h('option', { value: p.id }, p.name)))).catch(() => {});
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    err.hidden = true;
    const nums = parseNumbers(numbers.input.value);
    const r = room.input.value.trim();
    setFieldError(room, /^[A-Za-z0-9_-]{1,64}$/.test(r) ? null : t(r ? 'valid.room' : 'valid.required'));
    setFieldError(numbers, nums.length >= 2 && nums.every((n) => /^\+?\d{2,15}$/.test(n)) ? null : t('valid.numbers'));
    setFieldError(pbx, pbx.input.value ? null : t('valid.required'));
    if (form.querySelector('[aria-invalid="true"]')) { form.querySelector('[aria-invalid="true"]').focus(); return; }
    submit.disabled = true;
    try {
      await api.post('conference/', { room: r, numbers: nums, pbx: pbx.input.value });
      toast(t('conf.started', { n: nums.length, room: r }), 'ok');
    } catch (ex) {
      try { applyApiError(ex, controls); } catch (ex2) { err.textContent = ex2.message; err.hidden = false; }
    } finally {
      submit.disabled = false;
    }
  });
  return () => {};
}

// ---- deployments ----------------------------------------------------------

/** Render a unified diff with added/removed/hunk lines coloured. */
export function diffView(diff) {
  const pre = h('pre.diff', { tabindex: '0', aria: { label: t('dep.diff') } });
  for (const line of String(diff || '').split('\n')) {
    let cls = 'ctx';
    if (line.startsWith('+++') || line.startsWith('---')) cls = 'file';
    else if (line.startsWith('@@')) cls = 'hunk';
    else if (line.startsWith('+')) cls = 'add';
    else if (line.startsWith('-')) cls = 'del';
    pre.append(h('span', { class: `dl dl-${cls}` }, line || ' '));
  }
  return pre;
}

export function mountDeployments(root, { me }) {
  let alive = true;
  const writable = me && roleAtLeast(me.role, 'tenant_admin');
  const pbxSel = field({ name: 'pbx', label: t('dep.pbx'), options: [] });
  const result = h('div.dep-result', { id: 'dep-result', aria: { live: 'polite' } });
  const history = h('tbody');
  const dryBtn = h('button.btn', { type: 'button', id: 'dep-dry-run', disabled: !writable }, t('dep.dry_run'));
  const applyBtn = h('button.btn.btn-primary', { type: 'button', id: 'dep-apply', disabled: !writable }, t('dep.apply'));
  mount(root, h('h1.page-title', t('dep.title')),
    h('div.panel.dep-controls', pbxSel.wrap, h('div.filter-actions', dryBtn, applyBtn)),
    result,
    h('section.panel', { aria: { labelledby: 'dep-hist' } }, h('h2', { id: 'dep-hist' }, t('dep.history')),
      h('div.table-wrap', h('table.data',
        h('thead', h('tr', ['dep.version', 'dep.created_at', 'dep.author', 'dep.result'].map((k) => h('th', { scope: 'col' }, t(k))), h('th', h('span.visually-hidden', t('common.actions'))))),
        history))));

  const pbxName = () => pbxSel.input.selectedOptions[0] ? pbxSel.input.selectedOptions[0].textContent : '';
  const base = () => `pbx/${encodeURIComponent(pbxSel.input.value)}/deployments`;

  async function loadHistory() {
    if (!pbxSel.input.value) return;
    try {
      const r = await api.get(`${base()}${qs({ limit: 50, offset: 0 })}`);
      if (!alive) return;
      const items = Array.isArray(r) ? r : (r.items || []);
      if (!items.length) { mount(history, h('tr', h('td.empty', { colspan: '5' }, t('live.empty')))); return; }
      mount(history, items.map((d) => h('tr',
        h('td', String(d.version ?? '')), h('td', fmtDateTime(d.created_at)), h('td', d.author || '—'),
        h('td', statusBadge(/ok|success|applied/i.test(d.result || '') ? 'online' : /fail|error/i.test(d.result || '') ? 'unreachable' : 'unknown', d.result || '—')),
        h('td.row-actions',
          d.diff ? h('button.btn.btn-sm', { type: 'button', onclick: () => dialog({ title: `${t('dep.diff')} — ${t('dep.version')} ${d.version}`, body: diffView(d.diff), confirmLabel: t('common.close') }) }, t('dep.show_diff')) : null,
          writable ? h('button.btn.btn-sm', { type: 'button', onclick: () => rollback(d) }, t('dep.rollback')) : null))));
    } catch (e) {
      if (alive) mount(history, h('tr', h('td', { colspan: '5' }, t('common.error', { msg: e.message }))));
    }
  }

  function showResult(r) {
    const changed = r.changed || [];
    mount(result, h('section.panel', { aria: { labelledby: 'dep-diff-title' } },
      h('h2', { id: 'dep-diff-title' }, t('dep.diff')),
      changed.length ? h('p', t('dep.changed', { files: changed.join(', ') })) : h('p.muted', t('dep.no_changes')),
      r.diff ? diffView(r.diff) : null));
  }

  dryBtn.addEventListener('click', async () => {
    dryBtn.disabled = true;
    try { showResult(await api.post(`${base()}`, { dry_run: true })); } catch (e) { errorBox(result, e); } finally { dryBtn.disabled = false; }
  });
  applyBtn.addEventListener('click', () => confirmDialog(t('dep.apply'), t('dep.apply_confirm', { pbx: pbxName() }), {
    confirmLabel: t('dep.apply'),
    onConfirm: async () => {
      const r = await api.post(`${base()}`, { dry_run: false });
      if (r && (r.diff !== undefined || r.changed)) showResult(r);
      toast(t('dep.applied'), 'ok');
      loadHistory();
    }
  }));
  function rollback(d) {
    confirmDialog(t('dep.rollback'), t('dep.rollback_confirm', { pbx: pbxName(), version: d.version }), {
      danger: true,
      confirmLabel: t('dep.rollback'),
      onConfirm: async () => {
        await api.post(`${base()}/${encodeURIComponent(d.id)}/rollback`, {});
        toast(t('dep.rolled_back'), 'ok');
        loadHistory();
      }
    });
  }
  pbxSel.input.addEventListener('change', () => { mount(result); loadHistory(); });

  listAll('pbx').then((list) => {
    if (!alive) return;
    if (!list.length) { mount(result, h('p.muted', t('dep.choose_pbx'))); dryBtn.disabled = true; applyBtn.disabled = true; return; }
    mount(pbxSel.input, list.map((p) => h('option', { value: p.id }, p.name)));
    loadHistory();
  }).catch((e) => alive && errorBox(result, e));
  return () => { alive = false; };
}

// ---- audit log --------------------------------------------------------------

export function mountAudit(root) {
  const PAGE = 50;
  let offset = 0;
  let alive = true;
  const tbody = h('tbody');
  const pager = h('div.pager');
  mount(root, h('h1.page-title', t('audit.title')),
    h('div.table-wrap', h('table.data', { id: 'audit-table' },
      h('thead', h('tr', ['audit.when', 'audit.actor', 'audit.action', 'audit.entity', 'audit.details'].map((k) => h('th', { scope: 'col' }, t(k))))),
      tbody)),
    pager);
  async function load() {
    try {
      const r = await api.get(`audit${qs({ limit: PAGE, offset })}`);
      if (!alive) return;
      const items = r.items || [];
      mount(tbody, items.map((a) => h('tr',
        h('td', fmtDateTime(a.at ?? a.created_at ?? a.ts)),
        h('td', a.actor ?? a.username ?? a.user ?? '—'),
        h('td', h('code', a.action ?? '—')),
        h('td', [a.entity ?? a.entity_type, a.entity_id].filter(Boolean).join(' ') || '—'),
        h('td.details', a.details ? (typeof a.details === 'string' ? a.details : JSON.stringify(a.details)) : '—'))));
      const total = r.total ?? items.length;
      mount(pager,
        h('span', total ? t('common.page', { from: offset + 1, to: offset + items.length, total }) : ''),
        h('button.btn.btn-sm', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t('common.prev')),
        h('button.btn.btn-sm', { type: 'button', disabled: offset + items.length >= total, onclick: () => { offset += PAGE; load(); } }, t('common.next')));
    } catch (e) {
      if (alive) mount(tbody, h('tr', h('td', { colspan: '5' }, t('common.error', { msg: e.message }))));
    }
  }
  load();
  return () => { alive = false; };
}
