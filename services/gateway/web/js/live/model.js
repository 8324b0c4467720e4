// The live model: every view of every PBX of the tenant, as maps keyed by
// "pbx\u0000key", fed by one InitialState and then Deltas in seq order.
// It knows nothing about the DOM: it records which keys changed so the panel
// can render once per animation frame, touching only those rows.

export const VIEWS = ['pbxs', 'endpoints', 'trunks', 'channels', 'calls', 'bridges', 'queues', 'conferences'];

/** The entry field each view is keyed by (docs/live-views.md). */
const KEY_FIELD = {
  pbxs: 'pbx',
  endpoints: 'name',
  trunks: 'name',
  channels: 'uniqueid',
  calls: 'id',
  bridges: 'id',
  queues: 'name',
  conferences: 'name'
};

export function entryKey(view, pbx, key) { return `${pbx}\u0000${key}`; }

export function keyOf(view, entry) {
  if (view === 'pbxs') return entryKey(view, entry.pbx ?? '', entry.pbx);
  // A trunk's name is unique only within its kind (a registration and an
  // endpoint may share it): the state service keys trunks `<kind>:<name>`.
  if (view === 'trunks') return entryKey(view, entry.pbx ?? '', `${entry.kind}:${entry.name}`);
  return entryKey(view, entry.pbx ?? '', entry[KEY_FIELD[view]]);
}

export class LiveModel {
  constructor() {
    this.seq = null;
    this.views = {};
    /** view -> Set of changed composite keys since the last `takeChanges()`. */
    this.changes = {};
    /** views replaced wholesale (InitialState) since the last `takeChanges()`. */
    this.reset = new Set();
    for (const v of VIEWS) { this.views[v] = new Map(); this.changes[v] = new Set(); }
    this.applied = 0;
  }

  /** Replace everything with a snapshot. A fresh InitialState is authoritative. */
  applyInitial(msg) {
    const snap = msg.snapshot || {};
    for (const v of VIEWS) {
      const m = new Map();
      for (const e of snap[v] || []) m.set(keyOf(v, e), e);
      this.views[v] = m;
      this.changes[v].clear();
      this.reset.add(v);
    }
    this.seq = msg.seq ?? null;
  }

  /**
   * Apply one Delta. Returns 'applied', 'duplicate' (seq already seen:
   * ignored) or 'gap' (a seq is missing: the caller must re-sync from a
   * fresh InitialState, and the model is left untouched).
   */
  applyDelta(d) {
    if (this.seq !== null && typeof d.seq === 'number') {
      if (d.seq <= this.seq) return 'duplicate';
      if (d.seq !== this.seq + 1) return 'gap';
    }
    const view = this.views[d.view];
    if (!view) { this.seq = d.seq ?? this.seq; return 'applied'; }
    const k = entryKey(d.view, d.pbx ?? '', d.key);
    if (d.op === 'remove') view.delete(k);
    else if (d.op === 'upsert' && d.value) view.set(k, d.value);
    this.changes[d.view].add(k);
    if (typeof d.seq === 'number') this.seq = d.seq;
    this.applied += 1;
    return 'applied';
  }

  /** Hand the pending changes to the renderer and start a new batch. */
  takeChanges() {
    const out = { reset: this.reset, changes: {} };
    for (const v of VIEWS) {
      if (this.changes[v].size) { out.changes[v] = this.changes[v]; this.changes[v] = new Set(); }
    }
    this.reset = new Set();
    return out;
  }

  get(view, k) { return this.views[view].get(k); }

  /** Channels of a call, for transfer / listen-in (legs are uniqueids). */
  callChannels(call) {
    const out = [];
    for (const leg of call.legs || []) {
      const ch = this.views.channels.get(entryKey('channels', call.pbx ?? '', leg));
      if (ch) out.push(ch);
    }
    return out;
  }

  stalePbxs() {
    const out = [];
    for (const p of this.views.pbxs.values()) if (p.stale || p.syncing) out.push(p);
    return out;
  }
}

/**
 * The badge class for any status string the views use. Keeps one palette for
 * endpoints, trunks and calls: online/registered/reachable green, in call blue,
 * ringing amber, on hold violet, offline/unreachable red, unknown grey.
 */
export function statusClass(status) {
  switch (String(status || '').toLowerCase()) {
    case 'online': case 'not_in_use': case 'reachable': case 'ok': return 'online';
    case 'registered': return 'registered';
    case 'in_use': case 'up': case 'busy': case 'in_call': return 'in-call';
    case 'ringing': case 'ringinuse': case 'request_sent': case 'lagged': return 'ringing';
    case 'on_hold': case 'held': case 'onhold': return 'on-hold';
    case 'offline': case 'unregistered': return 'offline';
    case 'unreachable': case 'unavailable': case 'rejected': case 'failed': return 'unreachable';
    default: return 'unknown';
  }
}

/** The i18n key of a status label. */
export function statusKey(status) {
  const s = String(status || '').toLowerCase();
  const map = {
    online: 'status.online', not_in_use: 'status.online', offline: 'status.offline',
    registered: 'status.registered', unregistered: 'status.unregistered',
    in_use: 'status.in_call', up: 'status.up', in_call: 'status.in_call', busy: 'status.in_call',
    ringing: 'status.ringing', request_sent: 'status.ringing',
    on_hold: 'status.on_hold', held: 'status.held',
    unavailable: 'status.unreachable', unreachable: 'status.unreachable', reachable: 'status.reachable',
    lagged: 'status.lagged', failed: 'status.failed', rejected: 'status.rejected'
  };
  return map[s] || 'status.unknown';
}

/**
 * Seconds a call has lasted at `nowMs`: since answer when answered (talk
 * time), otherwise since start (ringing time). Computed from timestamps, not
 * counted, so a frozen tab or a re-sync never drifts.
 */
export function callSeconds(call, nowMs) {
  const from = call.answer_ms ?? call.start_ms;
  if (from === null || from === undefined) return null;
  return Math.max(0, Math.floor((nowMs - from) / 1000));
}

/**
 * A price so far as the gateway sends it (currency units as a six-decimal
 * string, `"0.046000"`) shown with four decimals. Done on the text, never in
 * floating point; anything else is shown as it came.
 */
export function fmtPrice(amount) {
  const m = /^(-?\d+)(?:\.(\d*))?$/.exec(String(amount ?? ''));
  if (!m) return String(amount ?? '');
  return `${m[1]}.${(m[2] || '').padEnd(4, '0').slice(0, 4)}`;
}

/** Lower-cased text a search matches against, per view. */
export function searchText(view, e) {
  switch (view) {
    case 'calls': return `${e.from} ${e.to} ${e.id} ${e.pbx} ${e.trunk ?? ''}`.toLowerCase();
    case 'endpoints': return `${e.name} ${e.technology} ${e.pbx} ${(e.contacts || []).map((c) => c.uri).join(' ')}`.toLowerCase();
    case 'trunks': return `${e.name} ${e.address ?? ''} ${e.pbx}`.toLowerCase();
    case 'queues': return `${e.name} ${e.pbx} ${(e.members || []).map((m) => `${m.name} ${m.interface}`).join(' ')}`.toLowerCase();
    case 'conferences': return `${e.name} ${e.pbx} ${(e.participants || []).map((p) => p.caller_num).join(' ')}`.toLowerCase();
    default: return JSON.stringify(e).toLowerCase();
  }
}

/** Reconnect delay: exponential from 500 ms, capped at 15 s, with ±20 % jitter. */
export function backoffMs(attempt, rnd = Math.random) {
  const base = Math.min(15000, 500 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.8 + 0.4 * rnd()));
}
