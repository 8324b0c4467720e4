// Frame-time benchmark of the live panel: the real panel code (model, keyed
// lists, rAF batching, 1 s timers) fed with N active calls and a stream of
// deltas, as the /ws socket would feed it, but generated in the page so the
// numbers measure the browser side only.
//
// Query: ?calls=2000&rate=400 (deltas per second)&seconds=10&endpoints=300
// Result: #bench-result (JSON) and console.log('BENCH {...}').

import { LiveModel } from './live/model.js';
import { mountLivePanel } from './live/panel.js';
import { init as initI18n } from './i18n.js';

const q = new URLSearchParams(location.search);
const CALLS = Number(q.get('calls') || 2000);
const RATE = Number(q.get('rate') || 400);
const SECONDS = Number(q.get('seconds') || 10);
const ENDPOINTS = Number(q.get('endpoints') || 300);
const PBXS = ['pbx-a', 'pbx-b', 'pbx-c', 'pbx-d'];

initI18n();
const status = document.getElementById('bench-status');
const out = document.getElementById('bench-result');

let rndState = 42;
const rnd = () => { rndState = (rndState * 1103515245 + 12345) & 0x7fffffff; return rndState / 0x7fffffff; };
const pick = (a) => a[Math.floor(rnd() * a.length)];

const model = new LiveModel();
const dataListeners = new Set();
const session = {
  model,
  sock: { now: () => Date.now() },
  tenant: '',
  state: { state: 'live', attempt: 0 },
  onData: (f) => { dataListeners.add(f); return () => dataListeners.delete(f); },
  onState: () => () => {},
  onAuthError: () => () => {},
  start() {}
};

let nextId = 1;
function makeCall(t0) {
  const id = `17000${String(nextId++).padStart(6, '0')}.${Math.floor(rnd() * 1000)}`;
  const up = rnd() < 0.8;
  return {
    tenant: 'bench', pbx: pick(PBXS), id, legs: [id, `${id}b`], from: String(1000 + Math.floor(rnd() * ENDPOINTS)),
    to: rnd() < 0.5 ? `5511${Math.floor(900000000 + rnd() * 99999999)}` : String(1000 + Math.floor(rnd() * ENDPOINTS)),
    state: up ? (rnd() < 0.1 ? 'held' : 'up') : 'ringing', start_ms: t0 - Math.floor(rnd() * 600000), answer_ms: up ? t0 - Math.floor(rnd() * 300000) : null
  };
}

const t0 = Date.now();
const calls = Array.from({ length: CALLS }, () => makeCall(t0));
const endpoints = Array.from({ length: ENDPOINTS }, (_, i) => ({ tenant: 'bench', pbx: PBXS[i % PBXS.length], name: String(1000 + i), technology: 'PJSIP', status: pick(['online', 'online', 'in_use', 'offline', 'ringing']), device_state: '', contacts: [], channels: 0 }));
const trunks = Array.from({ length: 40 }, (_, i) => ({ tenant: 'bench', pbx: PBXS[i % PBXS.length], name: `trunk-${i}`, kind: 'pjsip_registration', status: pick(['registered', 'registered', 'unreachable']), address: `sip:10.0.0.${i}`, latency_ms: 10 }));
model.applyInitial({ type: 'InitialState', seq: 0, snapshot: { pbxs: PBXS.map((p) => ({ tenant: 'bench', pbx: p, epoch: 1, sequence: 1, stale: false, syncing: false })), endpoints, trunks, calls, channels: [], bridges: [], queues: [], conferences: [] } });

const root = document.getElementById('bench-panel');
mountLivePanel(root, { me: null, embed: true, session });

let seq = 0;
const live = new Map(calls.map((c) => [c.id, c]));
function delta(view, op, key, value, pbx) {
  seq += 1;
  model.applyDelta({ type: 'Delta', seq, pbx, view, op, key, value });
}
function oneDelta() {
  const r = rnd();
  const ids = [...live.keys()];
  if (r < 0.25) {
    // A call ends and another starts: the count stays at CALLS.
    const id = pick(ids);
    const c = live.get(id);
    live.delete(id);
    delta('calls', 'remove', id, undefined, c.pbx);
    const n = makeCall(Date.now());
    n.state = 'ringing'; n.answer_ms = null; n.start_ms = Date.now();
    live.set(n.id, n);
    delta('calls', 'upsert', n.id, n, n.pbx);
  } else if (r < 0.75) {
    const c = { ...live.get(pick(ids)) };
    if (c.state === 'ringing') { c.state = 'up'; c.answer_ms = Date.now(); } else c.state = c.state === 'up' ? 'held' : 'up';
    live.set(c.id, c);
    delta('calls', 'upsert', c.id, c, c.pbx);
  } else {
    const e = { ...pick(endpoints), status: pick(['online', 'in_use', 'ringing', 'on_hold']) };
    delta('endpoints', 'upsert', e.name, e, e.pbx);
  }
}

function percentile(sorted, p) { return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]; }

async function run() {
  status.textContent = `Rendering ${CALLS} calls…`;
  const tRender = performance.now();
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const initialMs = performance.now() - tRender;
  await new Promise((r) => setTimeout(r, 1000));
  status.textContent = `Measuring ${SECONDS} s at ${RATE} deltas/s…`;
  const frames = [];
  let last = performance.now();
  let running = true;
  const onFrame = (ts) => { frames.push(ts - last); last = ts; if (running) requestAnimationFrame(onFrame); };
  requestAnimationFrame((ts) => { last = ts; requestAnimationFrame(onFrame); });
  // Deltas arrive like socket messages: in small bursts between frames.
  let owed = 0;
  let prev = performance.now();
  let applied = 0;
  const feed = setInterval(() => {
    const now = performance.now();
    owed += ((now - prev) / 1000) * RATE;
    prev = now;
    const n = Math.floor(owed);
    owed -= n;
    for (let i = 0; i < n; i += 1) oneDelta();
    applied += n;
    if (n) for (const f of dataListeners) f();
  }, 4);
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  running = false;
  clearInterval(feed);
  const sorted = frames.slice().sort((a, b) => a - b);
  const result = {
    calls: model.views.calls.size,
    call_rows_in_dom: document.querySelectorAll('#calls-list .call-row').length,
    deltas: applied,
    deltas_per_s: Math.round(applied / SECONDS),
    frames: frames.length,
    initial_render_ms: Math.round(initialMs),
    frame_ms_p50: Number(percentile(sorted, 50).toFixed(2)),
    frame_ms_p95: Number(percentile(sorted, 95).toFixed(2)),
    frame_ms_p99: Number(percentile(sorted, 99).toFixed(2)),
    frame_ms_max: Number(sorted[sorted.length - 1].toFixed(2)),
    frames_over_50ms: sorted.filter((f) => f > 50).length
  };
  out.textContent = JSON.stringify(result, null, 2);
  out.hidden = false;
  status.textContent = 'Done.';
  document.body.dataset.benchDone = '1';
  console.log(`BENCH ${JSON.stringify(result)}`);
}

run();
