// REST client for /api/v1. URLs are relative ("api/v1/...") so they resolve
// against <base href>, which the gateway sets to its base path. The JWT lives
// in sessionStorage: it dies with the tab and is not shared with other tabs.

const TOKEN_KEY = 'ringside.token';

export class ApiError extends Error {
  constructor(status, code, message, details = []) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.details = Array.isArray(details) ? details : [];
  }
}

let onUnauthorized = () => {};
/** Called on any 401 (missing, expired or revoked token): the app shows the login page. */
export function setUnauthorizedHandler(fn) { onUnauthorized = fn; }

export function getToken() {
  try { return sessionStorage.getItem(TOKEN_KEY); } catch { return null; }
}
export function setToken(tok) {
  try {
    if (tok) sessionStorage.setItem(TOKEN_KEY, tok);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch { /* storage blocked: the session then lasts only this page */ }
}

/** Decode (not verify: the server does that) the JWT claims, for role-based UI. */
export function claims(tok = getToken()) {
  if (!tok) return null;
  const parts = tok.split('.');
  if (parts.length !== 3) return null;
  try {
    const b64 = parts[1].replace(/-/g, '+').replace(/_/g, '/');
    const json = decodeURIComponent(Array.from(atob(b64), (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).join(''));
    return JSON.parse(json);
  } catch {
    return null;
  }
}

export function tokenExpired(c = claims()) {
  return !c || (typeof c.exp === 'number' && c.exp * 1000 <= Date.now());
}

/** Build a query string, skipping empty values. */
export function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    u.set(k, String(v));
  }
  const s = u.toString();
  return s ? `?${s}` : '';
}

export async function request(method, path, body, { auth = true } = {}) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const tok = getToken();
  if (auth && tok) headers.Authorization = `Bearer ${tok}`;
  let res;
  try {
    res = await fetch(`api/v1/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, 'unavailable', e.message || 'network error');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!res.ok) {
    const e = (data && data.error) || {};
    const err = new ApiError(res.status, e.code || 'internal', e.message || `HTTP ${res.status}`, e.details);
    if (res.status === 401 && auth) onUnauthorized(err);
    throw err;
  }
  return data;
}

export const api = {
  get: (p) => request('GET', p),
  post: (p, b = {}) => request('POST', p, b),
  put: (p, b) => request('PUT', p, b),
  del: (p) => request('DELETE', p),
  list: (thing, params = {}) => request('GET', `${thing}/${qs({ limit: 50, offset: 0, ...params })}`),
  async login(username, password) {
    const r = await request('POST', 'auth/login', { username, password }, { auth: false });
    setToken(r.access_token);
    return r;
  },
  logout() { setToken(null); }
};

/** Fetch every page of a list (for select boxes); stops at `max` items. */
export async function listAll(thing, max = 1000) {
  const items = [];
  let offset = 0;
  for (;;) {
    const r = await api.list(thing, { limit: 200, offset });
    items.push(...(r.items || []));
    offset += (r.items || []).length;
    if (!r.items || r.items.length === 0 || offset >= (r.total ?? 0) || items.length >= max) break;
  }
  return items;
}

/** Role helpers: what the UI offers (the server enforces it anyway). */
export const ROLES = ['viewer', 'operator', 'tenant_admin', 'platform_admin'];
export function roleAtLeast(role, min) { return ROLES.indexOf(role) >= ROLES.indexOf(min); }
