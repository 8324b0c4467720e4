// Small shared display pieces for the admin pages.

import { h } from '../dom.js';
import { statusClass } from '../live/model.js';

export function statusBadge(status, label) {
  return h('span.badge', { class: `badge-${statusClass(status)}` }, label);
}

/** A labelled number tile for the dashboard. */
export function stat(label, value, id) {
  return h('div.stat', { dataset: id ? { stat: id } : null }, h('span.stat-label', label), h('span.stat-value', value));
}
