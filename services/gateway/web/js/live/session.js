// One live session per signed-in tab: the model and the /ws socket outlive
// page changes, so the connection state stays visible everywhere and going
// back to the live panel shows data at once instead of reconnecting.

import { getToken } from '../api.js';
import { LiveModel } from './model.js';
import { LiveSocket } from './socket.js';

let session = null;

export function liveSession() {
  if (!session) session = createSession();
  return session;
}

export function endLiveSession() {
  if (session) session.stop();
  session = null;
}

function createSession() {
  const model = new LiveModel();
  const dataListeners = new Set();
  const stateListeners = new Set();
  const authListeners = new Set();
  let state = { state: 'connecting', attempt: 0 };
  let tenant = sessionStorage.getItem('ringside.tenantFilter') || '';
  const sock = new LiveSocket({
    token: getToken,
    model,
    subscribe: tenant ? { pbx: null, tenant } : null,
    onState: (s) => { state = s; for (const f of stateListeners) f(s); },
    onData: () => { for (const f of dataListeners) f(); },
    onAuthError: (e) => { for (const f of authListeners) f(e); }
  });
  let started = false;
  const add = (set, f) => { set.add(f); return () => set.delete(f); };
  return {
    model,
    sock,
    get state() { return state; },
    get tenant() { return tenant; },
    /** Platform admins: follow another tenant (client filter + subscribe hint to the server). */
    setTenant(v) {
      tenant = v || '';
      sessionStorage.setItem('ringside.tenantFilter', tenant);
      if (tenant) sock.subscribe({ pbx: null, tenant });
      for (const f of dataListeners) f();
    },
    onData: (f) => add(dataListeners, f),
    onState: (f) => add(stateListeners, f),
    onAuthError: (f) => add(authListeners, f),
    start() { if (!started) { started = true; sock.start(); } },
    stop() { sock.stop(); started = false; }
  };
}
