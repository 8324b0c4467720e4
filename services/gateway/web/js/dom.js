// Tiny DOM helpers. Everything is built with createElement and textContent
// (never innerHTML with data), so values from the API or from AMI can't
// inject markup, and nothing needs 'unsafe-inline' in the CSP.

import { t } from './i18n.js';

/**
 * h('button.btn.primary', {type: 'button', onclick: fn, aria: {label: 'x'}}, 'text', child)
 * Attributes: `class`, `dataset`, `aria`, `style` (object, applied via element.style),
 * `on<event>` listeners; anything else becomes an attribute (false/null skipped).
 */
export function h(tag, attrs, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name || 'div');
  if (classes.length) el.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  if (attrs) {
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') el.className = [el.className, v].filter(Boolean).join(' ');
      else if (k === 'dataset') Object.assign(el.dataset, v);
      else if (k === 'aria') for (const [a, av] of Object.entries(v)) { if (av !== null && av !== undefined) el.setAttribute(`aria-${a}`, String(av)); }
      else if (k === 'style') Object.assign(el.style, v);
      else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
      else if (k === 'value') el.value = v;
      else if (k === 'checked') el.checked = !!v;
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); return el; }

/** Replace the children of `el`. */
export function mount(el, ...children) { clear(el); append(el, children); return el; }

let uid = 0;
export function nextId(prefix = 'id') { uid += 1; return `${prefix}-${uid}`; }

/** Non-blocking notification in the aria-live region. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const el = h('div.toast', { class: `toast-${kind}`, role: kind === 'error' ? 'alert' : null }, message);
  box.append(el);
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? 8000 : 2500);
}

/**
 * A modal dialog built on <dialog> (focus trap and Escape for free).
 * `body` is a node; `onConfirm` may be async and may throw to keep the
 * dialog open (it then shows the error). Resolves true when confirmed.
 */
export function dialog({ title, body, confirmLabel, danger = false, onConfirm }) {
  return new Promise((resolve) => {
    const titleId = nextId('dlg-title');
    const err = h('p.form-error', { role: 'alert', hidden: true });
    const confirmBtn = h('button.btn', { type: 'submit', class: danger ? 'btn-danger' : 'btn-primary', dataset: { testid: 'dialog-confirm' } }, confirmLabel || t('common.confirm'));
    const cancelBtn = h('button.btn.btn-ghost', { type: 'button', value: 'cancel' }, t('common.cancel'));
    // novalidate: our own checks run and show messages next to the fields.
    const form = h('form.dialog-form', { method: 'dialog', novalidate: true },
      h('h2', { id: titleId }, title),
      body || null,
      err,
      h('div.dialog-actions', cancelBtn, confirmBtn));
    const dlg = h('dialog.modal', { aria: { labelledby: titleId } }, form);
    let done = false;
    const finish = (ok) => {
      if (done) return;
      done = true;
      dlg.close();
      dlg.remove();
      resolve(ok);
    };
    cancelBtn.addEventListener('click', () => finish(false));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); finish(false); });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      if (!onConfirm) { finish(true); return; }
      confirmBtn.disabled = true;
      err.hidden = true;
      try {
        const r = await onConfirm(form);
        if (r === false) { confirmBtn.disabled = false; return; }
        finish(true);
      } catch (ex) {
        err.textContent = ex && ex.message ? ex.message : String(ex);
        err.hidden = false;
        confirmBtn.disabled = false;
      }
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector('input, select, textarea');
    (first || confirmBtn).focus();
  });
}

export function confirmDialog(title, message, opts = {}) {
  return dialog({ title, body: h('p', message), ...opts });
}

/** A labelled form control; returns {wrap, input, error}. */
export function field({ name, label, type = 'text', value = '', required = false, options = null, help = null, attrs = {} }) {
  const id = nextId(`f-${name}`);
  const errId = `${id}-err`;
  const helpId = help ? `${id}-help` : null;
  let input;
  if (options) {
    input = h('select', { id, name, required, ...attrs },
      options.map((o) => h('option', { value: o.value, selected: String(o.value) === String(value ?? '') }, o.label)));
  } else if (type === 'textarea') {
    input = h('textarea', { id, name, required, rows: 4, ...attrs });
    input.value = value ?? '';
  } else if (type === 'checkbox') {
    input = h('input', { id, name, type: 'checkbox', checked: !!value, ...attrs });
  } else {
    input = h('input', { id, name, type, required, value: value ?? '', ...attrs });
  }
  input.setAttribute('aria-describedby', [helpId, errId].filter(Boolean).join(' '));
  const error = h('p.field-error', { id: errId, hidden: true });
  const wrap = h('div.field', { class: type === 'checkbox' ? 'field-check' : null, dataset: { field: name } },
    h('label', { for: id }, label, required ? h('span.req', { aria: { hidden: 'true' } }, ' *') : null),
    input,
    help ? h('p.field-help', { id: helpId }, help) : null,
    error);
  return { wrap, input, error };
}

/** Show (or clear with null) a field-level error next to a control. */
export function setFieldError(f, message) {
  if (message) {
    f.error.textContent = message;
    f.error.hidden = false;
    f.input.setAttribute('aria-invalid', 'true');
    f.wrap.classList.add('has-error');
  } else {
    f.error.textContent = '';
    f.error.hidden = true;
    f.input.removeAttribute('aria-invalid');
    f.wrap.classList.remove('has-error');
  }
}

export function fmtDuration(sec) {
  if (sec === null || sec === undefined || sec < 0 || Number.isNaN(sec)) return '—';
  sec = Math.floor(sec);
  const hh = Math.floor(sec / 3600);
  const mm = Math.floor((sec % 3600) / 60);
  const ss = sec % 60;
  const p = (n) => String(n).padStart(2, '0');
  return hh ? `${hh}:${p(mm)}:${p(ss)}` : `${p(mm)}:${p(ss)}`;
}

const ICONS = {
  // 24x24 stroke icons (drawn here; no icon font or network).
  hangup: 'M2 14.5c5.5-5 14.5-5 20 0l-2.5 3-4-1.3v-2.7a11 11 0 0 0-7 0v2.7l-4 1.3z',
  transfer: 'M4 8h13M13 4l4 4-4 4M20 16H7M11 12l-4 4 4 4',
  listen: 'M4 15v-3a8 8 0 0 1 16 0v3M4 15h3v5H4zM17 15h3v5h-3z'
};

/** An inline SVG icon (aria-hidden: the button carries the label). */
export function icon(name) {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', `icon icon-${name}`);
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('d', ICONS[name] || '');
  svg.append(p);
  return svg;
}
