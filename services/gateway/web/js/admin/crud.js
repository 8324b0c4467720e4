// Generic list + form pages driven by a schema (schemas.js): a paginated
// table, a create/edit dialog with client-side validation, and the API's
// 422 field errors shown next to the fields they name.

import { h, mount, dialog, confirmDialog, field, setFieldError, toast } from '../dom.js';
import { t, fmtMoney } from '../i18n.js';
import { api, listAll, roleAtLeast, ApiError } from '../api.js';
import { SCHEMAS } from './schemas.js';
import { validateRecord, codecList } from './validate.js';
import { statusBadge } from './widgets.js';
import { liveSession } from '../live/session.js';

const PAGE = 50;

export function fieldLabel(f) { return t(f.label || `field.${f.name}`); }

/** Load the options of every `ref` field of a schema: {fieldName: Map(id -> item)}. */
async function loadRefs(schema) {
  const out = {};
  await Promise.all(schema.fields.filter((f) => f.ref).map(async (f) => {
    const items = await listAll(f.ref.path).catch(() => []);
    out[f.name] = new Map(items.map((i) => [i.id, i]));
  }));
  return out;
}

/**
 * Whether the PBX server `item` is connected, from the live views (the PBX's
 * name is its id there): the REST answer does not say. `undefined` when the
 * live connection is down or follows another tenant, so the page shows "—"
 * instead of a guess.
 */
function pbxConnected(item, me) {
  if (typeof item.connected === 'boolean') return item.connected;
  const s = liveSession();
  if (s.state.state !== 'live' || (s.tenant && me && s.tenant !== me.tenant)) return undefined;
  const status = [...s.model.views.pbxs.values()].find((p) => p.pbx === item.name);
  return Boolean(status && !status.stale && !status.syncing);
}

function displayValue(f, item, refs, me) {
  const v = f.liveConnected ? pbxConnected(item, me) : item[f.name];
  if (f.ref) {
    if (!v) return t('common.none');
    const r = refs[f.name] && refs[f.name].get(v);
    return r ? f.ref.label(r) : String(v).slice(0, 8);
  }
  if (f.badgeBool) return v === undefined || v === null ? t('common.none') : statusBadge(v ? 'online' : 'offline', t(v ? 'common.yes' : 'common.no'));
  if (f.badge) return v ? statusBadge(v === 'free' ? 'unknown' : v === 'allocated' ? 'in_use' : 'unknown', t(`opt.${v}`)) : t('common.none');
  if (f.type === 'checkbox') return t(v ? 'common.yes' : 'common.no');
  if (f.options) { const o = f.options.find((x) => String(x.value) === String(v)); return o ? t(o.label) : (v ?? t('common.none')); }
  if (f.money) return fmtMoney(v);
  if (f.codecs) return codecList(v).join(', ') || t('common.none');
  if (v === null || v === undefined || v === '') return t('common.none');
  return String(v);
}

/**
 * Apply an API error to a form: 422 details go next to their fields, the
 * rest becomes the dialog's general error (thrown).
 */
export function applyApiError(err, controls) {
  if (err instanceof ApiError && err.status === 422 && err.details.length) {
    let unplaced = [];
    for (const d of err.details) {
      const c = controls[d.field];
      if (c) setFieldError(c, d.message || d.code); else unplaced.push(d.message || d.code);
    }
    throw new Error(unplaced.length ? unplaced.join(' ') : t('common.fix_errors'));
  }
  if (err instanceof ApiError && err.status === 403) throw new Error(t('common.forbidden'));
  throw err;
}

/** Build form controls for `fields` with `values`; returns {body, controls, read()}. */
export function buildForm(fields, values, refs, { isNew }) {
  const controls = {};
  const nodes = [];
  for (const f of fields) {
    if (f.readOnly) continue;
    if (f.createOnly && !isNew) continue;
    const required = typeof f.requiredIf === 'function' ? f.requiredIf(values) : !!f.required;
    let options = null;
    if (f.ref) {
      options = [{ value: '', label: t('common.none') }, ...[...(refs[f.name] || new Map()).values()].map((r) => ({ value: r.id, label: f.ref.label(r) }))];
    } else if (f.options) {
      options = f.options.map((o) => ({ value: o.value, label: t(o.label) }));
    }
    let value = f.writeOnly ? '' : values[f.name];
    if (value === undefined || value === null) value = isNew && f.default !== undefined ? f.default : '';
    if (f.codecs) value = codecList(value).join(',');
    const type = f.type === 'integer' || f.type === 'number' ? 'number' : f.type === 'select' ? 'text' : (f.type || 'text');
    const attrs = {};
    if (type === 'number') {
      attrs.step = f.type === 'integer' ? '1' : 'any';
      if (f.min !== undefined) attrs.min = String(f.min);
      if (f.max !== undefined) attrs.max = String(f.max);
      attrs.inputmode = f.type === 'integer' ? 'numeric' : 'decimal';
    }
    if (f.type === 'password') attrs.autocomplete = 'new-password';
    const c = field({ name: f.name, label: fieldLabel(f), type, value, required, options, help: f.help ? t(f.help) : null, attrs });
    controls[f.name] = c;
    nodes.push(c.wrap);
  }
  const read = () => {
    const out = {};
    for (const f of fields) {
      const c = controls[f.name];
      if (!c) continue;
      if (f.type === 'checkbox') { out[f.name] = c.input.checked; continue; }
      const raw = c.input.value.trim();
      if (f.writeOnly && raw === '') continue;
      if (raw === '') { out[f.name] = null; continue; }
      if (f.type === 'number' || f.type === 'integer') out[f.name] = Number(raw);
      else if (f.codecs) out[f.name] = Array.isArray(values[f.name]) ? codecList(raw) : codecList(raw).join(',');
      else out[f.name] = raw;
    }
    return out;
  };
  return { body: h('div.form-grid', nodes), controls, read };
}

/** Validate client-side, showing errors next to fields; returns true when valid. */
export function checkForm(fields, values, controls) {
  const errors = validateRecord(fields.filter((f) => controls[f.name]), values);
  for (const [name, c] of Object.entries(controls)) {
    const e = errors[name];
    setFieldError(c, e ? t(e[0], e[1]) : null);
  }
  const first = Object.keys(errors)[0];
  if (first) { controls[first].input.focus(); return false; }
  return true;
}

export function canWrite(me, entity) {
  if (!me) return false;
  if (entity === 'tenants') return me.role === 'platform_admin';
  return roleAtLeast(me.role, 'tenant_admin');
}

/** Open the create/edit dialog; resolves true when saved. */
export function openForm(entity, item, refs, onSaved) {
  const schema = SCHEMAS[entity];
  const isNew = !item || !item.id;
  const values = { ...(item || {}) };
  const form = buildForm(schema.fields, values, refs, { isNew });
  const ent = t(`entity.${entity}.one`);
  return dialog({
    title: t(isNew ? 'crud.new_title' : 'crud.edit_title', { entity: ent }),
    body: form.body,
    confirmLabel: t(isNew ? 'common.create' : 'common.save'),
    onConfirm: async () => {
      const data = form.read();
      const merged = { ...values, ...data };
      if (!checkForm(schema.fields, merged, form.controls)) return false;
      try {
        if (isNew) await api.post(`${schema.path}/`, data);
        else await api.put(`${schema.path}/${encodeURIComponent(item.id)}`, data);
      } catch (e) {
        applyApiError(e, form.controls);
      }
      toast(t('common.saved'), 'ok');
      if (onSaved) onSaved();
      return true;
    }
  });
}

/**
 * Mount a list page for `entity`.
 * `extraActions(item, reload, refs)` adds per-row buttons (DIDs: allocate).
 */
export function mountCrudPage(root, { entity, me, extraActions = null }) {
  const schema = SCHEMAS[entity];
  const writable = canWrite(me, entity);
  const cols = schema.fields.filter((f) => f.list);
  let offset = 0;
  let refs = {};
  let alive = true;

  const tbody = h('tbody');
  const pager = h('div.pager');
  const status = h('p.muted', { role: 'status' });
  const newBtn = writable ? h('button.btn.btn-primary', { type: 'button', id: `new-${entity}`, onclick: () => openForm(entity, null, refs, load) }, `+ ${t('common.new')}`) : null;
  mount(root,
    h('div.page-head', h('h1.page-title', t(`entity.${entity}`)), newBtn),
    status,
    h('div.table-wrap', h('table.data', { id: `table-${entity}` },
      h('caption.visually-hidden', t(`entity.${entity}`)),
      h('thead', h('tr', cols.map((f) => h('th', { scope: 'col' }, fieldLabel(f))), h('th', { scope: 'col' }, h('span.visually-hidden', t('common.actions'))))),
      tbody)),
    pager);

  async function load() {
    status.textContent = t('common.loading');
    try {
      const [list, r] = await Promise.all([api.list(schema.path, { limit: PAGE, offset }), loadRefs(schema)]);
      if (!alive) return;
      refs = r;
      status.textContent = '';
      render(list);
    } catch (e) {
      if (!alive) return;
      status.textContent = t('common.error', { msg: e.message });
    }
  }

  function render(list) {
    const items = list.items || [];
    if (!items.length) {
      mount(tbody, h('tr', h('td.empty', { colspan: String(cols.length + 1) }, t('crud.empty', { entity: t(`entity.${entity}.one`) }))));
    } else {
      mount(tbody, items.map((item) => h('tr', { dataset: { id: item.id } },
        cols.map((f, i) => h(i === 0 ? 'th' : 'td', { scope: i === 0 ? 'row' : null, class: f.mono ? 'mono' : (f.type === 'number' || f.type === 'integer') ? 'num' : null }, displayValue(f, item, refs, me))),
        h('td.row-actions',
          extraActions ? extraActions(item, load, refs) : null,
          writable && !schema.noEdit ? h('button.btn.btn-sm', { type: 'button', onclick: () => openForm(entity, item, refs, load) }, t('common.edit')) : null,
          writable && !schema.noDelete ? h('button.btn.btn-sm.btn-danger', { type: 'button', onclick: () => remove(item) }, t('common.delete')) : null))));
    }
    const total = list.total ?? items.length;
    mount(pager,
      h('span', total ? t('common.page', { from: offset + 1, to: offset + items.length, total }) : ''),
      h('button.btn.btn-sm', { type: 'button', disabled: offset === 0, onclick: () => { offset = Math.max(0, offset - PAGE); load(); } }, t('common.prev')),
      h('button.btn.btn-sm', { type: 'button', disabled: offset + items.length >= total, onclick: () => { offset += PAGE; load(); } }, t('common.next')));
  }

  function remove(item) {
    confirmDialog(t('common.delete'), t('common.delete_confirm', { name: schema.labelOf(item) }), {
      danger: true,
      confirmLabel: t('common.delete'),
      onConfirm: async () => {
        await api.del(`${schema.path}/${encodeURIComponent(item.id)}`);
        toast(t('common.deleted'), 'ok');
        load();
      }
    });
  }

  load();
  return () => { alive = false; };
}
