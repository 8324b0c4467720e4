#!/usr/bin/env node
// Dev server and UI-test fixture for the Ringside web UI.
//
// It serves services/gateway/web/ under a base path (default /monitor/, to
// prove that the UI only uses relative URLs), sends the gateway's strict CSP,
// and implements the gateway contract (REST /api/v1 and the /ws live views)
// with in-memory data and a small call simulator. It is NOT the gateway: the
// CI run of the browser tests must target the real monolithic binary.
//
//   node mock-server.mjs [--port 8089] [--base /monitor/]
//   env: MOCK_PORT, MOCK_BASE, RINGSIDE_ADMIN_USER, RINGSIDE_ADMIN_PASSWORD,
//        MOCK_CALL_INTERVAL_MS (default 1500)
//
// Test-only controls (never part of the real API): POST {base}__mock/drop-ws
// closes every live socket; POST {base}__mock/stale?pbx=ID&stale=1 marks a
// PBX stale.

import http from 'node:http';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from 'ws';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WEB_ROOT = path.resolve(HERE, '..');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const PORT = Number(arg('port', process.env.MOCK_PORT || 8089));
let BASE = arg('base', process.env.MOCK_BASE || '/monitor/');
if (!BASE.startsWith('/')) BASE = `/${BASE}`;
if (!BASE.endsWith('/')) BASE = `${BASE}/`;
const ADMIN_USER = process.env.RINGSIDE_ADMIN_USER || 'admin';
const ADMIN_PASSWORD = process.env.RINGSIDE_ADMIN_PASSWORD || 'admin-password';
const CALL_INTERVAL = Number(process.env.MOCK_CALL_INTERVAL_MS || 1500);
const SECRET = crypto.randomBytes(32);

const CSP = [
  "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data: blob:",
  "connect-src 'self'", "frame-ancestors 'self'", "base-uri 'self'", "form-action 'self'", "object-src 'none'"
].join('; ');

// ---- JWT (HS256) -----------------------------------------------------------------

const b64u = (buf) => Buffer.from(buf).toString('base64url');
function signJwt(claims) {
  const head = b64u(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64u(JSON.stringify(claims));
  const sig = b64u(crypto.createHmac('sha256', SECRET).update(`${head}.${body}`).digest());
  return `${head}.${body}.${sig}`;
}
function verifyJwt(tok) {
  const parts = String(tok || '').split('.');
  if (parts.length !== 3) return null;
  const sig = b64u(crypto.createHmac('sha256', SECRET).update(`${parts[0]}.${parts[1]}`).digest());
  if (sig.length !== parts[2].length || !crypto.timingSafeEqual(Buffer.from(sig), Buffer.from(parts[2]))) return null;
  const c = JSON.parse(Buffer.from(parts[1], 'base64url').toString());
  if (c.exp * 1000 < Date.now()) return null;
  return c;
}

// ---- data --------------------------------------------------------------------------

const uuid = () => crypto.randomUUID();
const now = () => Date.now();
const TENANT = 'acme';
const users = [
  { id: uuid(), username: ADMIN_USER, password: ADMIN_PASSWORD, tenant: TENANT, role: 'platform_admin' },
  { id: uuid(), username: 'operator', password: 'operator-password', tenant: TENANT, role: 'operator' },
  { id: uuid(), username: 'viewer', password: 'viewer-password', tenant: TENANT, role: 'viewer' }
];
// As the real API: `id` is a UUID, `slug` the short name tokens and live views use.
const tenants = [{ id: uuid(), slug: 'acme', name: 'Acme Telecom' }, { id: uuid(), slug: 'globex', name: 'Globex' }];
const audit = [];
const db = { customers: [], providers: [], gateways: [], dids: [], routes: [], extensions: [], tariffs: [], pbx: [] };
const deployments = new Map(); // pbx id -> [{id, version, author, created_at, result, diff, files}]
const cdrs = [];

function seed() {
  const add = (thing, v) => { const r = { id: uuid(), tenant: TENANT, ...v }; db[thing].push(r); return r; };
  const prov = add('providers', { name: 'Vivo Empresas', type: 'sip', cost_per_minute: 0.045 });
  const prov2 = add('providers', { name: 'Algar Telecom', type: 'sip', cost_per_minute: 0.039 });
  const gw1 = add('gateways', { name: 'vivo-sp', ip_address: '200.155.10.20', port: 5060, codecs: 'ulaw,alaw', provider_id: prov.id, transport: 'udp', tech_prefix: '' });
  const gw2 = add('gateways', { name: 'algar-mg', ip_address: '177.38.1.9', port: 5060, codecs: 'alaw,g729', provider_id: prov2.id, transport: 'udp', tech_prefix: '0015' });
  const c1 = add('customers', { code: 'ACME-HQ', name: 'Acme Headquarters', type: 'extension', trunk_ip: null, channel_limit: 30, status: 'active' });
  const c2 = add('customers', { code: 'PADARIA', name: 'Padaria Pão Quente', type: 'trunk', trunk_ip: '189.20.33.4', channel_limit: 4, status: 'active' });
  for (let i = 1; i <= 12; i += 1) add('extensions', { extension: String(1000 + i), secret: null, customer_id: c1.id, caller_id: `Ramal ${1000 + i}`, codecs: 'ulaw,alaw', max_contacts: 1 });
  add('dids', { number: '+551130030000', provider_id: prov.id, gateway_id: gw1.id, status: 'allocated', customer_id: c1.id, destination: '1001', monthly_cost: 12.5 });
  add('dids', { number: '+551130030001', provider_id: prov.id, gateway_id: gw1.id, status: 'free', customer_id: null, monthly_cost: 12.5 });
  add('dids', { number: '+553132100200', provider_id: prov2.id, gateway_id: gw2.id, status: 'allocated', customer_id: c2.id, monthly_cost: 9.9 });
  add('routes', { name: 'Brasil fixo', pattern: '_0XX[2-5]XXXXXXX', gateway_id: gw1.id, priority: 1, tech_prefix: '', strip_digits: 1 });
  add('routes', { name: 'Brasil móvel', pattern: '_0XX9XXXXXXXX', gateway_id: gw2.id, priority: 1, tech_prefix: '0015', strip_digits: 1 });
  add('tariffs', { pattern: '55', description: 'Brasil fixo', cost_per_minute: 0.04, price_per_minute: 0.09, increment: '30/6', connection_fee: 0 });
  add('tariffs', { pattern: '5511', description: 'São Paulo', cost_per_minute: 0.035, price_per_minute: 0.08, increment: '30/6', connection_fee: 0 });
  add('tariffs', { pattern: '55119', description: 'SP móvel', cost_per_minute: 0.12, price_per_minute: 0.25, increment: '60/60', connection_fee: 0.05 });
  add('pbx', { id: 'pbx-sp1', name: 'pbx-sp1', host: '10.0.0.11', port: 5038, username: 'ringside', tls: false, apply_mode: 'ami', enabled: true, connected: true, secret: 'not-returned' });
  db.pbx[db.pbx.length - 1].id = 'pbx-sp1';
  add('pbx', { name: 'pbx-rj1', host: '10.0.1.11', port: 5038, username: 'ringside', tls: true, apply_mode: 'ami', enabled: true, connected: true, secret: 'not-returned' });
  db.pbx[db.pbx.length - 1].id = 'pbx-rj1';
  // A week of rated history.
  const gws = [gw1, gw2];
  for (let i = 0; i < 400; i += 1) {
    const start = now() - Math.floor(Math.random() * 7 * 86400000);
    const answered = Math.random() < 0.72;
    const billsec = answered ? 10 + Math.floor(Math.random() * 400) : 0;
    addCdr({ start, src: String(1001 + (i % 12)), dst: `5511${9}${String(10000000 + i * 7919).slice(0, 8)}`, duration: billsec + 5, billsec, disposition: answered ? 'ANSWERED' : (Math.random() < 0.5 ? 'NO ANSWER' : 'BUSY'), customer_id: i % 3 ? c1.id : c2.id, gateway_id: gws[i % 2].id });
  }
}

function rate(dst, billsec) {
  const digits = String(dst).replace(/^\+/, '');
  const t = db.tariffs.filter((x) => digits.startsWith(x.pattern)).sort((a, b) => b.pattern.length - a.pattern.length)[0];
  if (!t || !billsec) return { cost: 0, price: 0 };
  const [first, inc] = String(t.increment).split('/').map(Number);
  const billed = billsec <= first ? first : first + Math.ceil((billsec - first) / inc) * inc;
  const r = (x) => Math.round(x * 10000) / 10000;
  return { cost: r((billed / 60) * t.cost_per_minute), price: r((billed / 60) * t.price_per_minute + Number(t.connection_fee || 0)) };
}

function addCdr(c) {
  const { cost, price } = rate(c.dst, c.billsec);
  cdrs.push({ id: uuid(), call_id: `${(c.start / 1000).toFixed(0)}.${cdrs.length}`, ...c, start: new Date(c.start).toISOString(), cost, price, margin: Math.round((price - cost) * 10000) / 10000 });
}

// ---- validation (like the API: 422 with details per field) -------------------------------

const RX = {
  e164: /^\+?[1-9]\d{6,14}$/,
  ipv4: /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/,
  host: /^(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/,
  pattern: /^(_([0-9XNZxnz*#+]|\[[0-9-]+\])+[.!]?|[0-9*#+]+)$/,
  prefix: /^\+?\d{1,20}$/,
  ext: /^\d{2,12}$/,
  code: /^[A-Za-z0-9_-]{1,64}$/,
  increment: /^[1-9]\d*\/[1-9]\d*$/
};
const CODECS = new Set(['ulaw', 'alaw', 'g722', 'g729', 'g726', 'gsm', 'ilbc', 'speex', 'opus', 'slin']);
const isIp = (v) => RX.ipv4.test(v) || (v.includes(':') && /^[0-9a-fA-F:.]+$/.test(v));

function validate(thing, b, existing) {
  const d = [];
  const need = (f) => { if (b[f] === undefined || b[f] === null || b[f] === '') { d.push({ field: f, code: 'required', message: `${f} is required` }); return false; } return true; };
  const num = (f, min, max, int = false) => {
    if (b[f] === undefined || b[f] === null || b[f] === '') return;
    const n = Number(b[f]);
    if (!Number.isFinite(n) || (int && !Number.isInteger(n)) || n < min || (max !== undefined && n > max)) d.push({ field: f, code: 'range', message: `${f} must be ${int ? 'an integer ' : ''}>= ${min}${max !== undefined ? ` and <= ${max}` : ''}` });
  };
  const rx = (f, r, msg) => { if (b[f] && !r.test(String(b[f]))) d.push({ field: f, code: 'format', message: msg }); };
  const codecs = (f) => { if (b[f]) { const list = (Array.isArray(b[f]) ? b[f] : String(b[f]).split(',')).map((s) => s.trim()); if (!list.every((c) => CODECS.has(c))) d.push({ field: f, code: 'codec', message: 'unknown codec' }); } };
  const unique = (f, label) => { if (b[f] && db[thing].some((x) => x[f] === b[f] && (!existing || x.id !== existing.id))) d.push({ field: f, code: 'unique', message: `${label || f} already exists` }); };
  const ref = (f, t2) => { if (b[f] && !db[t2].some((x) => x.id === b[f])) d.push({ field: f, code: 'reference', message: `unknown ${t2}` }); };
  switch (thing) {
    case 'customers':
      need('code'); need('name'); need('type'); rx('code', RX.code, 'letters, digits, - or _'); unique('code', 'customer code');
      if (b.type && !['trunk', 'extension'].includes(b.type)) d.push({ field: 'type', code: 'enum', message: 'trunk or extension' });
      if (b.type === 'trunk') need('trunk_ip');
      if (b.trunk_ip && !isIp(b.trunk_ip)) d.push({ field: 'trunk_ip', code: 'ip', message: 'not an IP address' });
      num('channel_limit', 0, 100000, true); break;
    case 'providers': need('name'); need('type'); num('cost_per_minute', 0); break;
    case 'gateways':
      need('name'); need('ip_address'); need('provider_id');
      if (b.ip_address && !isIp(b.ip_address) && !RX.host.test(b.ip_address)) d.push({ field: 'ip_address', code: 'host', message: 'not an IP or host name' });
      num('port', 1, 65535, true); codecs('codecs'); ref('provider_id', 'providers'); break;
    case 'dids': need('number'); need('provider_id'); rx('number', RX.e164, 'not an E.164 number'); unique('number', 'DID'); num('monthly_cost', 0); ref('provider_id', 'providers'); ref('gateway_id', 'gateways'); break;
    case 'routes': need('name'); need('pattern'); need('gateway_id'); rx('pattern', RX.pattern, 'not an Asterisk pattern'); num('priority', 0, 1000, true); num('strip_digits', 0, 20, true); ref('gateway_id', 'gateways'); break;
    case 'extensions': need('extension'); need('customer_id'); rx('extension', RX.ext, '2 to 12 digits'); unique('extension', 'extension'); codecs('codecs'); num('max_contacts', 1, 100, true); ref('customer_id', 'customers'); break;
    case 'tariffs': need('pattern'); rx('pattern', RX.prefix, 'digits only'); need('increment'); rx('increment', RX.increment, 'like 60/60'); num('cost_per_minute', 0); num('price_per_minute', 0); num('connection_fee', 0); break;
    case 'pbx': need('name'); need('host'); need('username'); if (!existing) need('secret'); num('port', 1, 65535, true); break;
    default: break;
  }
  return d;
}

// ---- live views and the call simulator ------------------------------------------------------

const VIEWS = ['pbxs', 'endpoints', 'trunks', 'channels', 'calls', 'bridges', 'queues', 'conferences'];
const live = new Map(); // tenant -> {seq, views: {view: Map(key -> entry)}}
function tenantLive(t) {
  if (!live.has(t)) { const v = {}; for (const n of VIEWS) v[n] = new Map(); live.set(t, { seq: 0, views: v }); }
  return live.get(t);
}
const clients = new Set(); // {ws, tenant, pbx}

function emit(tenant, pbx, view, op, key, value) {
  const L = tenantLive(tenant);
  const k = `${pbx}\u0000${key}`;
  if (op === 'remove') L.views[view].delete(k); else L.views[view].set(k, value);
  L.seq += 1;
  const msg = JSON.stringify(op === 'remove' ? { type: 'Delta', seq: L.seq, pbx, view, op, key } : { type: 'Delta', seq: L.seq, pbx, view, op, key, value });
  for (const c of clients) if (c.ready && c.tenant === tenant) c.ws.send(msg);
}

function snapshot(tenant, pbx) {
  const L = tenantLive(tenant);
  const snap = {};
  for (const v of VIEWS) snap[v] = [...L.views[v].values()].filter((e) => !pbx || e.pbx === pbx);
  return { seq: L.seq, snapshot: snap };
}

function seedLive(tenant, pbxs, extBase) {
  for (const [pi, pbx] of pbxs.entries()) {
    emit(tenant, pbx, 'pbxs', 'upsert', pbx, { tenant, pbx, epoch: 1, sequence: 1, stale: false, syncing: false });
    for (let i = 1; i <= (pi === 0 ? 12 : 6); i += 1) {
      const name = String(extBase + pi * 1000 + i);
      const status = i % 7 === 0 ? 'offline' : i % 11 === 0 ? 'unavailable' : 'online';
      emit(tenant, pbx, 'endpoints', 'upsert', name, endpoint(tenant, pbx, name, status));
    }
  }
  const [p1, p2] = pbxs;
  emit(tenant, p1, 'trunks', 'upsert', 'vivo-reg', { tenant, pbx: p1, name: 'vivo-reg', kind: 'pjsip_registration', status: 'registered', status_raw: 'Registered', address: 'sip:200.155.10.20:5060', latency_ms: null, last_change_ms: now(), inferred: false });
  emit(tenant, p1, 'trunks', 'upsert', 'padaria', { tenant, pbx: p1, name: 'padaria', kind: 'pjsip_endpoint', status: 'online', status_raw: 'Reachable', address: 'sip:189.20.33.4', latency_ms: 18, last_change_ms: now(), inferred: false });
  emit(tenant, p2, 'trunks', 'upsert', 'algar-iax', { tenant, pbx: p2, name: 'algar-iax', kind: 'iax2_peer', status: 'reachable', status_raw: 'OK (12 ms)', address: '177.38.1.9:4569', latency_ms: 12, last_change_ms: now(), inferred: false });
  emit(tenant, p2, 'trunks', 'upsert', 'filial-bh', { tenant, pbx: p2, name: 'filial-bh', kind: 'iax2_peer', status: 'unreachable', status_raw: 'UNREACHABLE', address: '10.9.0.2:4569', latency_ms: null, last_change_ms: now(), inferred: false });
  emit(tenant, p1, 'queues', 'upsert', 'suporte', { tenant, pbx: p1, name: 'suporte', strategy: 'ringall', completed: 41, abandoned: 3,
    members: [1, 2, 3].map((i) => ({ interface: `PJSIP/${extBase + i}`, name: `Agente ${i}`, membership: 'static', status: String(i === 2 ? 2 : 1), paused: i === 3, paused_reason: i === 3 ? 'lunch' : '', calls_taken: 10 + i, in_call: i === 2, penalty: 0 })),
    callers: [{ channel: 'PJSIP/vivo-reg-00000042', uniqueid: '1700000000.42', caller_num: '551130031234', position: 1, joined_ms: now() - 30000 }] });
  emit(tenant, p1, 'conferences', 'upsert', '500', { tenant, pbx: p1, name: '500', locked: false,
    participants: [{ channel: `PJSIP/${extBase + 4}-0000001a`, uniqueid: '1700000001.1', caller_num: String(extBase + 4), admin: true, talking: true, muted: false },
      { channel: `PJSIP/${extBase + 5}-0000001b`, uniqueid: '1700000001.2', caller_num: String(extBase + 5), admin: false, talking: false, muted: true }] });
}

function endpoint(tenant, pbx, name, status, channels = 0) {
  return { tenant, pbx, name, technology: 'PJSIP', status, device_state: status === 'online' ? 'NOT_INUSE' : status.toUpperCase(), channels,
    contacts: status === 'offline' ? [] : [{ aor: name, uri: `sip:${name}@10.0.${name.length}.${Number(name) % 250}:5060`, status: 'Reachable', rtt_usec: 8000 + (Number(name) % 40) * 1000, user_agent: 'Yealink T46U' }] };
}

let uniq = 1700000100;
const activeCalls = new Map();
function startCall(tenant) {
  const L = tenantLive(tenant);
  const eps = [...L.views.endpoints.values()].filter((e) => e.status === 'online');
  if (eps.length < 2 || activeCalls.size >= 14) return;
  const a = eps[Math.floor(Math.random() * eps.length)];
  const external = Math.random() < 0.5;
  const b = external ? null : eps.filter((e) => e !== a && e.pbx === a.pbx)[0];
  const to = external ? `0119${String(Math.floor(10000000 + Math.random() * 89999999))}` : b ? b.name : '0800123456';
  uniq += 1;
  const id = `${uniq}.${Math.floor(Math.random() * 1000)}`;
  const pbx = a.pbx;
  const t0 = now();
  const chA = { tenant, pbx, name: `PJSIP/${a.name}-${uniq.toString(16)}`, uniqueid: id, linkedid: id, state: 'Ring', caller_num: a.name, caller_name: `Ramal ${a.name}`, connected_num: to, connected_name: '', context: 'from-internal', exten: to, dialed: to, application: 'Dial', application_data: '', created_ms: t0, answered_ms: null, bridge: '', on_hold: false, music_on_hold: false };
  const idB = `${uniq}.${Math.floor(Math.random() * 1000) + 1000}`;
  const chB = { ...chA, name: external ? `PJSIP/vivo-reg-${uniq.toString(16)}` : `PJSIP/${to}-${(uniq + 1).toString(16)}`, uniqueid: idB, state: 'Ringing', caller_num: to, connected_num: a.name, application: 'AppDial' };
  const call = { tenant, pbx, id, legs: [id, idB], from: a.name, to, state: 'ringing', start_ms: t0, answer_ms: null, direction: external ? 'outbound' : 'internal', trunk: external ? 'vivo-reg' : null };
  activeCalls.set(id, { call, chA, chB, a, b });
  emit(tenant, pbx, 'channels', 'upsert', chA.uniqueid, chA);
  emit(tenant, pbx, 'channels', 'upsert', chB.uniqueid, chB);
  emit(tenant, pbx, 'calls', 'upsert', id, call);
  emit(tenant, pbx, 'endpoints', 'upsert', a.name, { ...a, status: 'in_use', channels: 1 });
  if (b) emit(tenant, pbx, 'endpoints', 'upsert', b.name, { ...b, status: 'ringing', channels: 1 });
  const ringFor = 2000 + Math.random() * 2500;
  setTimeout(() => {
    if (!activeCalls.has(id)) return;
    const ta = now();
    call.state = 'up'; call.answer_ms = ta;
    chA.state = 'Up'; chB.state = 'Up'; chA.answered_ms = ta; chB.answered_ms = ta; chA.bridge = chB.bridge = `br-${id}`;
    emit(tenant, pbx, 'channels', 'upsert', chA.uniqueid, { ...chA });
    emit(tenant, pbx, 'channels', 'upsert', chB.uniqueid, { ...chB });
    emit(tenant, pbx, 'calls', 'upsert', id, { ...call });
    if (b) emit(tenant, pbx, 'endpoints', 'upsert', b.name, { ...b, status: 'in_use', channels: 1 });
    if (Math.random() < 0.25) {
      setTimeout(() => { if (activeCalls.has(id)) { call.state = 'held'; emit(tenant, pbx, 'calls', 'upsert', id, { ...call }); } }, 2500);
      setTimeout(() => { if (activeCalls.has(id)) { call.state = 'up'; emit(tenant, pbx, 'calls', 'upsert', id, { ...call }); } }, 6000);
    }
  }, ringFor);
  setTimeout(() => endCall(tenant, id), ringFor + 6000 + Math.random() * 12000);
}

function endCall(tenant, id) {
  const c = activeCalls.get(id);
  if (!c) return;
  activeCalls.delete(id);
  const { call, chA, chB, a, b } = c;
  emit(tenant, call.pbx, 'calls', 'remove', id);
  emit(tenant, call.pbx, 'channels', 'remove', chA.uniqueid);
  emit(tenant, call.pbx, 'channels', 'remove', chB.uniqueid);
  emit(tenant, call.pbx, 'endpoints', 'upsert', a.name, { ...a, status: 'online', channels: 0 });
  if (b) emit(tenant, call.pbx, 'endpoints', 'upsert', b.name, { ...b, status: 'online', channels: 0 });
  const billsec = call.answer_ms ? Math.round((now() - call.answer_ms) / 1000) : 0;
  const cust = db.extensions.find((x) => x.extension === call.from);
  addCdr({ start: call.start_ms, src: call.from, dst: call.to.replace(/^0/, '55'), duration: Math.round((now() - call.start_ms) / 1000), billsec, disposition: billsec ? 'ANSWERED' : 'NO ANSWER', customer_id: cust ? cust.customer_id : null, gateway_id: db.gateways[0].id });
}

// ---- deployments: render config from the admin data and diff against the last applied ---------

function renderConfig() {
  const lines = ['; generated by Ringside — do not edit', ''];
  for (const x of [...db.extensions].sort((p, q) => p.extension.localeCompare(q.extension))) {
    lines.push(`[${x.extension}](endpoint-template)`, 'type=endpoint', `auth=${x.extension}`, `aors=${x.extension}`, `callerid=${x.caller_id || x.extension}`, `allow=${Array.isArray(x.codecs) ? x.codecs.join(',') : x.codecs || 'ulaw'}`, '');
  }
  const dial = ['[from-trunk]'];
  for (const d of db.dids.filter((v) => v.status === 'allocated')) dial.push(`exten => ${d.number.replace('+', '')},1,Goto(${d.destination || 'customer-default'},1)`);
  return { 'pjsip_extensions.conf': `${lines.join('\n')}\n`, 'extensions_dids.conf': `${dial.join('\n')}\n` };
}

function unifiedDiff(name, oldText, newText) {
  const a = oldText ? oldText.split('\n') : [];
  const b = newText.split('\n');
  // LCS table; the files are small.
  const n = a.length; const m = b.length;
  const dp = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i -= 1) for (let j = m - 1; j >= 0; j -= 1) dp[i][j] = a[i] === b[j] ? dp[i + 1][j + 1] + 1 : Math.max(dp[i + 1][j], dp[i][j + 1]);
  const out = [`--- a/${name}`, `+++ b/${name}`, `@@ -1,${n} +1,${m} @@`];
  let i = 0; let j = 0; let changed = false;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push(` ${a[i]}`); i += 1; j += 1; } else if (j < m && (i >= n || dp[i][j + 1] >= dp[i + 1][j])) { out.push(`+${b[j]}`); j += 1; changed = true; } else { out.push(`-${a[i]}`); i += 1; changed = true; }
  }
  return changed ? out.join('\n') : '';
}

function dryRun(pbxId) {
  const hist = deployments.get(pbxId) || [];
  const last = hist.find((d) => d.result === 'applied');
  const files = renderConfig();
  const diffs = [];
  const changed = [];
  for (const [name, text] of Object.entries(files)) {
    const d = unifiedDiff(name, last ? last.files[name] : '', text);
    if (d) { diffs.push(d); changed.push(name); }
  }
  return { files, diff: diffs.join('\n'), changed };
}

// ---- HTTP --------------------------------------------------------------------------------------

function send(res, status, body, headers = {}) {
  const data = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json', 'Cache-Control': 'no-store', ...headers });
  res.end(data);
}
const fail = (res, status, code, message, details) => send(res, status, { error: { code, message, ...(details ? { details } : {}) } });

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => { try { resolve(chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {}); } catch { resolve(undefined); } });
  });
}

function page(items, q) {
  const limit = Math.min(Number(q.get('limit') || 50), 500);
  const offset = Number(q.get('offset') || 0);
  return { items: items.slice(offset, offset + limit), total: items.length, limit, offset };
}

const strip = (thing, r) => { if (thing === 'pbx' || thing === 'users') { const { secret, password, ...rest } = r; void secret; void password; return rest; } return r; };
const ROLE_RANK = { viewer: 0, operator: 1, tenant_admin: 2, platform_admin: 3 };
function logAudit(user, action, entity, entityId, details) {
  audit.unshift({ id: uuid(), at: new Date().toISOString(), actor: user.username, action, entity, entity_id: entityId, details });
}

async function api(req, res, rel, q) {
  const method = req.method;
  if (rel === 'auth/login' && method === 'POST') {
    const b = await readBody(req);
    const u = b && users.find((x) => x.username === b.username && x.password === b.password);
    if (!u) return fail(res, 401, 'unauthorized', 'invalid credentials');
    const iat = Math.floor(now() / 1000);
    return send(res, 200, { access_token: signJwt({ sub: u.id, username: u.username, tenant: u.tenant, role: u.role, iat, exp: iat + 86400 }), token_type: 'bearer', expires_in: 86400 });
  }
  const auth = req.headers.authorization || '';
  const user = verifyJwt(auth.replace(/^Bearer\s+/i, ''));
  if (!user) return fail(res, 401, 'unauthorized', 'missing or invalid token');
  const rank = ROLE_RANK[user.role] ?? 0;
  const needs = (r) => { if (rank < ROLE_RANK[r]) { fail(res, 403, 'forbidden', 'role does not allow this'); return false; } return true; };
  const parts = rel.replace(/\/$/, '').split('/');
  if (rel === 'auth/me') return send(res, 200, { id: user.sub, username: user.username, tenant: user.tenant, role: user.role });
  if (parts[0] === 'dashboard') {
    const today = cdrs.filter((c) => Date.parse(c.start) > now() - 86400000);
    const answered = today.filter((c) => c.billsec > 0);
    const sum = (a, f) => a.reduce((s, c) => s + Number(c[f] || 0), 0);
    const perHour = Array.from({ length: 24 }, (_, hour) => ({ hour, calls: today.filter((c) => new Date(c.start).getHours() === hour).length }));
    return send(res, 200, {
      counts: { customers: db.customers.length, dids: db.dids.length, dids_free: db.dids.filter((d) => d.status !== 'allocated').length, dids_allocated: db.dids.filter((d) => d.status === 'allocated').length, gateways: db.gateways.length, routes: db.routes.length, extensions: db.extensions.length, providers: db.providers.length, tariffs: db.tariffs.length },
      today: { calls: today.length, answered: answered.length, minutes: sum(answered, 'billsec') / 60, revenue: sum(today, 'price'), cost: sum(today, 'cost'), margin: sum(today, 'margin'), asr: today.length ? (answered.length / today.length) * 100 : 0, acd: answered.length ? sum(answered, 'billsec') / answered.length : 0 },
      per_gateway: db.gateways.map((g) => { const c = today.filter((x) => x.gateway_id === g.id); const an = c.filter((x) => x.billsec > 0); return { gateway_id: g.id, name: g.name, calls: c.length, asr: c.length ? (an.length / c.length) * 100 : 0, acd: an.length ? sum(an, 'billsec') / an.length : 0 }; }),
      calls_per_hour: perHour
    });
  }
  if (parts[0] === 'reports' && parts[1] === 'cdr') {
    let list = cdrs.slice();
    const from = q.get('from'); const to = q.get('to');
    if (from) list = list.filter((c) => c.start >= new Date(from).toISOString());
    if (to) list = list.filter((c) => c.start <= new Date(to).toISOString());
    for (const f of ['customer_id', 'gateway_id', 'disposition']) if (q.get(f)) list = list.filter((c) => c[f] === q.get(f));
    if (q.get('did')) list = list.filter((c) => c.dst.includes(q.get('did').replace('+', '')));
    list.sort((a, b) => b.start.localeCompare(a.start));
    if (q.get('format') === 'csv') {
      const cols = ['id', 'call_id', 'start', 'src', 'dst', 'duration', 'billsec', 'disposition', 'cost', 'price', 'margin', 'customer_id', 'gateway_id'];
      return send(res, 200, [cols.join(','), ...list.map((c) => cols.map((k) => JSON.stringify(c[k] ?? '')).join(','))].join('\n'), { 'Content-Type': 'text/csv' });
    }
    const r4 = (x) => Math.round(x * 10000) / 10000;
    const totals = { calls: list.length, billsec: list.reduce((s, c) => s + c.billsec, 0), cost: r4(list.reduce((s, c) => s + c.cost, 0)), price: r4(list.reduce((s, c) => s + c.price, 0)), margin: r4(list.reduce((s, c) => s + c.margin, 0)) };
    return send(res, 200, { ...page(list, q), totals });
  }
  if (parts[0] === 'live') {
    const v = parts[1];
    if (!VIEWS.includes(v)) return fail(res, 404, 'not_found', 'no such view');
    const s = snapshot(user.tenant, q.get('pbx'));
    return send(res, 200, { seq: q.get('at') ? null : s.seq, items: s.snapshot[v] });
  }
  if (parts[0] === 'calls' && parts[2] === 'hangup' && method === 'POST') {
    if (!needs('operator')) return;
    const c = activeCalls.get(decodeURIComponent(parts[1]));
    if (!c) return fail(res, 404, 'not_found', 'no such call');
    logAudit(user, 'call.hangup', 'call', c.call.id);
    endCall(user.tenant, c.call.id);
    return send(res, 200, { ok: true });
  }
  if (parts[0] === 'conference' && method === 'POST') {
    if (!needs('operator')) return;
    const b = await readBody(req);
    const det = [];
    if (!b || !b.room) det.push({ field: 'room', code: 'required', message: 'room is required' });
    if (!b || !Array.isArray(b.numbers) || b.numbers.length < 2) det.push({ field: 'numbers', code: 'min', message: 'at least two numbers' });
    if (!b || !db.pbx.some((p) => p.id === b.pbx)) det.push({ field: 'pbx', code: 'reference', message: 'unknown PBX' });
    if (det.length) return fail(res, 422, 'validation', 'invalid conference', det);
    logAudit(user, 'conference.start', 'conference', b.room, { numbers: b.numbers });
    return send(res, 202, { room: b.room, originated: b.numbers.length });
  }
  if (parts[0] === 'users') {
    if (!needs('tenant_admin')) return;
    if (method === 'GET') return send(res, 200, page(users.filter((u) => user.role === 'platform_admin' || u.tenant === user.tenant).map((u) => strip('users', u)), q));
    if (method === 'POST') {
      const b = await readBody(req) || {};
      const det = [];
      if (!/^[A-Za-z0-9._-]{3,64}$/.test(b.username || '')) det.push({ field: 'username', code: 'format', message: 'invalid user name' });
      if (users.some((u) => u.username === b.username)) det.push({ field: 'username', code: 'unique', message: 'user name taken' });
      if (String(b.password || '').length < 8) det.push({ field: 'password', code: 'length', message: 'at least 8 characters' });
      if (!ROLE_RANK[b.role] && b.role !== 'viewer') det.push({ field: 'role', code: 'enum', message: 'unknown role' });
      if (det.length) return fail(res, 422, 'validation', 'invalid user', det);
      const u = { id: uuid(), username: b.username, password: b.password, role: b.role, tenant: user.tenant };
      users.push(u);
      logAudit(user, 'user.create', 'user', u.id);
      return send(res, 201, strip('users', u));
    }
  }
  if (parts[0] === 'tenants') {
    if (!needs('platform_admin')) return;
    if (method === 'GET') return send(res, 200, page(tenants, q));
    const b = await readBody(req) || {};
    const slug = b.slug ?? b.id ?? '';
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(slug)) return fail(res, 422, 'validation', 'invalid tenant', [{ field: 'slug', code: 'format', message: 'letters, digits, _ and -' }]);
    if (tenants.some((tn) => tn.slug === slug)) return fail(res, 409, 'conflict', 'tenant: already exists');
    tenants.push({ id: uuid(), slug, name: b.name || slug });
    return send(res, 201, tenants[tenants.length - 1]);
  }
  if (parts[0] === 'audit') { if (!needs('tenant_admin')) return; return send(res, 200, page(audit, q)); }
  if (parts[0] === 'pbx' && parts[2] === 'actions' && method === 'POST') {
    if (!needs('operator')) return;
    const b = await readBody(req);
    if (!b || !b.Action) return fail(res, 422, 'validation', 'Action is required', [{ field: 'Action', code: 'required', message: 'Action is required' }]);
    logAudit(user, `ami.${b.Action}`, 'pbx', parts[1], b);
    return send(res, 200, { Response: 'Success', ActionID: uuid() });
  }
  if (parts[0] === 'pbx' && parts[2] === 'deployments') {
    if (!needs('tenant_admin')) return;
    const pbxId = decodeURIComponent(parts[1]);
    if (!db.pbx.some((p) => p.id === pbxId)) return fail(res, 404, 'not_found', 'no such PBX');
    const hist = deployments.get(pbxId) || [];
    deployments.set(pbxId, hist);
    if (method === 'GET') return send(res, 200, page(hist.map(({ files, ...d }) => { void files; return d; }), q));
    if (parts[4] === 'rollback') {
      const target = hist.find((d) => d.id === parts[3]);
      if (!target) return fail(res, 404, 'not_found', 'no such deployment');
      const dep = { id: uuid(), version: hist.length + 1, author: user.username, created_at: new Date().toISOString(), result: 'applied', diff: `rollback to version ${target.version}`, files: target.files };
      hist.unshift(dep);
      logAudit(user, 'deployment.rollback', 'pbx', pbxId, { to: target.version });
      return send(res, 200, { id: dep.id, version: dep.version });
    }
    const b = await readBody(req) || {};
    const r = dryRun(pbxId);
    if (b.dry_run) return send(res, 200, r);
    const dep = { id: uuid(), version: hist.length + 1, author: user.username, created_at: new Date().toISOString(), result: 'applied', diff: r.diff, files: r.files };
    hist.unshift(dep);
    logAudit(user, 'deployment.apply', 'pbx', pbxId, { version: dep.version, changed: r.changed });
    return send(res, 201, { ...r, id: dep.id, version: dep.version });
  }
  if (parts[0] === 'dids' && (parts[2] === 'allocate' || parts[2] === 'deallocate') && method === 'POST') {
    if (!needs('tenant_admin')) return;
    const d = db.dids.find((x) => x.id === parts[1]);
    if (!d) return fail(res, 404, 'not_found', 'no such DID');
    if (parts[2] === 'allocate') {
      const b = await readBody(req) || {};
      if (!db.customers.some((c) => c.id === b.customer_id)) return fail(res, 422, 'validation', 'invalid allocation', [{ field: 'customer_id', code: 'reference', message: 'unknown customer' }]);
      if (d.status === 'allocated') return fail(res, 409, 'conflict', 'DID already allocated');
      Object.assign(d, { status: 'allocated', customer_id: b.customer_id, destination: b.destination || null });
    } else {
      Object.assign(d, { status: 'free', customer_id: null, destination: null });
    }
    logAudit(user, `did.${parts[2]}`, 'did', d.id, { number: d.number });
    return send(res, 200, d);
  }
  const thing = parts[0];
  if (db[thing]) {
    const id = parts[1] ? decodeURIComponent(parts[1]) : null;
    const mine = db[thing].filter((x) => x.tenant === user.tenant);
    if (method === 'GET' && !id) return send(res, 200, page(mine.map((r) => strip(thing, r)), q));
    if (method === 'GET') { const r = mine.find((x) => x.id === id); return r ? send(res, 200, strip(thing, r)) : fail(res, 404, 'not_found', 'not found'); }
    if (!needs('tenant_admin')) return;
    if (method === 'POST' && !id) {
      const b = await readBody(req);
      if (!b || typeof b !== 'object') return fail(res, 400, 'bad_request', 'invalid JSON');
      const det = validate(thing, b, null);
      if (det.length) return fail(res, 422, 'validation', 'invalid fields', det);
      const r = { id: thing === 'pbx' ? (b.name || uuid()) : uuid(), tenant: user.tenant, ...b };
      if (thing === 'dids') { r.status = 'free'; r.customer_id = null; }
      if (thing === 'pbx') r.connected = false;
      if (thing === 'extensions' && !r.secret) r.secret = crypto.randomBytes(12).toString('base64url');
      db[thing].push(r);
      logAudit(user, `${thing}.create`, thing, r.id);
      const out = strip(thing, r);
      if (thing === 'extensions') delete out.secret;
      return send(res, 201, out);
    }
    const r = mine.find((x) => x.id === id);
    if (!r) return fail(res, 404, 'not_found', 'not found');
    if (method === 'PUT') {
      const b = await readBody(req);
      if (!b || typeof b !== 'object') return fail(res, 400, 'bad_request', 'invalid JSON');
      const merged = { ...r, ...b };
      const det = validate(thing, merged, r);
      if (det.length) return fail(res, 422, 'validation', 'invalid fields', det);
      Object.assign(r, b, { id: r.id, tenant: r.tenant });
      logAudit(user, `${thing}.update`, thing, r.id);
      return send(res, 200, strip(thing, r));
    }
    if (method === 'DELETE') {
      db[thing].splice(db[thing].indexOf(r), 1);
      logAudit(user, `${thing}.delete`, thing, r.id);
      return send(res, 204, '');
    }
  }
  return fail(res, 404, 'not_found', `no route ${method} ${rel}`);
}

const MIME = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png', '.json': 'application/json' };

function serveStatic(res, rel) {
  if (rel === '' || rel === 'index.html') rel = 'index.html';
  const file = path.resolve(WEB_ROOT, rel);
  if (!file.startsWith(WEB_ROOT + path.sep) || file.includes(`${path.sep}tests${path.sep}`) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) {
    return send(res, 404, 'not found');
  }
  let data = fs.readFileSync(file);
  if (file.endsWith('.html')) data = Buffer.from(data.toString().replace(/<base href="[^"]*">/, `<base href="${BASE}">`));
  res.writeHead(200, { 'Content-Type': MIME[path.extname(file)] || 'application/octet-stream', 'Content-Security-Policy': CSP, 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-cache' });
  res.end(data);
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname === BASE.slice(0, -1)) { res.writeHead(308, { Location: BASE }); res.end(); return; }
  if (!url.pathname.startsWith(BASE)) return send(res, 404, 'not under base path');
  const rel = decodeURIComponent(url.pathname.slice(BASE.length));
  try {
    if (rel.startsWith('api/v1/')) return await api(req, res, rel.slice(7), url.searchParams);
    if (rel === '__mock/drop-ws' && req.method === 'POST') { for (const c of clients) c.ws.terminate(); return send(res, 200, { dropped: true }); }
    if (rel === '__mock/stale' && req.method === 'POST') {
      const p = url.searchParams.get('pbx');
      const L = tenantLive(TENANT);
      const cur = L.views.pbxs.get(`${p}\u0000${p}`);
      if (!cur) return fail(res, 404, 'not_found', 'no such pbx');
      emit(TENANT, p, 'pbxs', 'upsert', p, { ...cur, stale: url.searchParams.get('stale') === '1' });
      return send(res, 200, { ok: true });
    }
    if (req.method !== 'GET') return fail(res, 405, 'bad_request', 'method not allowed');
    return serveStatic(res, rel);
  } catch (e) {
    console.error(e);
    return fail(res, 500, 'internal', 'internal error');
  }
});

const wss = new WebSocketServer({ noServer: true });
server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url, `http://${req.headers.host}`);
  if (url.pathname !== `${BASE}ws`) { socket.destroy(); return; }
  wss.handleUpgrade(req, socket, head, (ws) => {
    const c = { ws, tenant: null, ready: false, user: null };
    clients.add(c);
    const authTimer = setTimeout(() => { if (!c.user) { ws.send(JSON.stringify({ type: 'Error', code: 'unauthorized', message: 'no auth message' })); ws.close(4401); } }, 5000);
    const hb = setInterval(() => ws.readyState === 1 && ws.send(JSON.stringify({ type: 'Heartbeat', ts: now() })), 15000);
    ws.on('message', (raw) => {
      let m;
      try { m = JSON.parse(raw.toString()); } catch { return; }
      if (!c.user) {
        const u = m.type === 'auth' ? verifyJwt(m.token) : null;
        if (!u) { ws.send(JSON.stringify({ type: 'Error', code: 'unauthorized', message: 'bad token' })); ws.close(4401); return; }
        clearTimeout(authTimer);
        c.user = u; c.tenant = u.tenant;
      } else if (m.type === 'subscribe') {
        if (m.tenant && c.user.role === 'platform_admin') c.tenant = m.tenant;
        else if (m.tenant === null || m.tenant === '') c.tenant = c.user.tenant;
      } else return;
      const s = snapshot(c.tenant);
      ws.send(JSON.stringify({ type: 'InitialState', seq: s.seq, snapshot: s.snapshot }));
      ws.send(JSON.stringify({ type: 'Heartbeat', ts: now() }));
      c.ready = true;
    });
    ws.on('close', () => { clients.delete(c); clearInterval(hb); clearTimeout(authTimer); });
  });
});

seed();
seedLive(TENANT, ['pbx-sp1', 'pbx-rj1'], 1000);
seedLive('globex', ['gx-pbx'], 3000);
setInterval(() => startCall(TENANT), CALL_INTERVAL);
for (let i = 0; i < 4; i += 1) startCall(TENANT);

server.listen(PORT, '127.0.0.1', () => {
  console.log(`ringside mock server on http://127.0.0.1:${PORT}${BASE} (admin: ${ADMIN_USER})`);
});
