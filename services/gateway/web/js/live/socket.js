// The /ws live-views connection: auth as the first message, InitialState,
// then Deltas. Reconnects with backoff; every (re)connect re-syncs from a
// fresh InitialState, so the panel never keeps a call that ended while the
// socket was down. A seq gap or a silent socket (no heartbeat) also forces
// a reconnect.

import { backoffMs } from './model.js';

const HEARTBEAT_TIMEOUT_MS = 40000; // the server sends one every 15 s

/** ws:// or wss:// URL of `path` under the document's base URL. */
export function wsUrl(path = 'ws', base = document.baseURI) {
  const u = new URL(path, base);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  return u.toString();
}

export class LiveSocket {
  /**
   * @param {object} o
   * @param {() => string|null} o.token
   * @param {import('./model.js').LiveModel} o.model
   * @param {(state: {state: string, attempt: number}) => void} o.onState
   * @param {() => void} o.onData called after the model changed (schedule a render)
   * @param {(err: {code: string, message: string}) => void} o.onAuthError
   */
  constructor({ token, model, onState, onData, onAuthError, subscribe = null, url = null }) {
    this.token = token;
    this.model = model;
    this.onState = onState || (() => {});
    this.onData = onData || (() => {});
    this.onAuthError = onAuthError || (() => {});
    this.subscription = subscribe;
    this.url = url;
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
    this.timer = null;
    this.watchdog = null;
    this.clockOffset = 0; // server ms - local ms, from heartbeats
    this.state = 'connecting';
  }

  start() { this.stopped = false; this.connect(); }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.watchdog);
    if (this.ws) { this.ws.onclose = null; this.ws.close(1000); this.ws = null; }
  }

  /** Change what this connection follows (`{pbx, tenant}`); the server answers with a fresh InitialState. */
  subscribe(sub) {
    this.subscription = sub;
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify({ type: 'subscribe', ...sub }));
  }

  now() { return Date.now() + this.clockOffset; }

  setState(state) {
    this.state = state;
    this.onState({ state, attempt: this.attempt });
  }

  connect() {
    if (this.stopped) return;
    this.setState(this.attempt === 0 ? 'connecting' : 'reconnecting');
    let ws;
    try {
      ws = new WebSocket(this.url || wsUrl('ws'));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      ws.send(JSON.stringify({ type: 'auth', token: this.token() || '' }));
      if (this.subscription) ws.send(JSON.stringify({ type: 'subscribe', ...this.subscription }));
      this.kick();
    };
    ws.onmessage = (ev) => this.handle(ev.data);
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.scheduleReconnect();
    };
    ws.onerror = () => { /* onclose follows */ };
  }

  kick() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.forceResync(), HEARTBEAT_TIMEOUT_MS);
  }

  /** Drop the socket and reconnect at once: the next InitialState replaces the model. */
  forceResync() {
    if (this.ws) { const ws = this.ws; this.ws = null; ws.onclose = null; ws.close(4000, 'resync'); }
    this.attempt += 1;
    this.connect();
  }

  scheduleReconnect() {
    clearTimeout(this.watchdog);
    if (this.stopped) return;
    this.attempt += 1;
    this.setState('reconnecting');
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.connect(), backoffMs(this.attempt));
  }

  handle(raw) {
    let msg;
    try { msg = JSON.parse(raw); } catch { return; }
    this.kick();
    switch (msg.type) {
      case 'InitialState':
        this.model.applyInitial(msg);
        this.attempt = 0;
        this.setState('live');
        this.onData();
        break;
      case 'Delta': {
        const r = this.model.applyDelta(msg);
        if (r === 'gap') { this.forceResync(); return; }
        if (r === 'applied') this.onData();
        break;
      }
      case 'Heartbeat':
        if (typeof msg.ts === 'number') this.clockOffset = msg.ts - Date.now();
        break;
      case 'Error':
        if (msg.code === 'unauthorized' || msg.code === 'forbidden') {
          this.stop();
          this.setState('offline');
          this.onAuthError(msg);
        }
        break;
      default:
        break;
    }
  }
}
