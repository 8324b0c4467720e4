// Unit tests of the live model (no browser): snapshot + delta application,
// duplicate and gap detection, change tracking, timers and backoff.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveModel, keyOf, statusClass, statusKey, callSeconds, backoffMs, searchText, fmtPrice } from '../../js/live/model.js';

const call = (id, extra = {}) => ({ tenant: 't', pbx: 'p1', id, legs: [id], from: '1001', to: '1002', state: 'ringing', start_ms: 1000, answer_ms: null, ...extra });

function initial(seq = 10) {
  const m = new LiveModel();
  m.applyInitial({ type: 'InitialState', seq, snapshot: { pbxs: [{ tenant: 't', pbx: 'p1', stale: false, syncing: false }], calls: [call('a'), call('b')], endpoints: [{ pbx: 'p1', name: '1001', status: 'online' }] } });
  return m;
}

test('InitialState replaces every view and records its seq', () => {
  const m = initial();
  assert.equal(m.seq, 10);
  assert.equal(m.views.calls.size, 2);
  assert.equal(m.views.endpoints.size, 1);
  assert.equal(m.views.trunks.size, 0, 'missing views become empty');
  const ch = m.takeChanges();
  assert.ok(ch.reset.has('calls') && ch.reset.has('trunks'));
  // A second snapshot drops what the first had and the second lacks.
  m.applyInitial({ seq: 20, snapshot: { calls: [call('c')] } });
  assert.deepEqual([...m.views.calls.values()].map((c) => c.id), ['c']);
  assert.equal(m.views.endpoints.size, 0);
});

test('deltas upsert and remove in seq order and are tracked as changes', () => {
  const m = initial();
  m.takeChanges();
  assert.equal(m.applyDelta({ seq: 11, pbx: 'p1', view: 'calls', op: 'upsert', key: 'a', value: call('a', { state: 'up', answer_ms: 2000 }) }), 'applied');
  assert.equal(m.applyDelta({ seq: 12, pbx: 'p1', view: 'calls', op: 'remove', key: 'b' }), 'applied');
  assert.equal(m.applyDelta({ seq: 13, pbx: 'p1', view: 'calls', op: 'upsert', key: 'd', value: call('d') }), 'applied');
  assert.equal(m.seq, 13);
  assert.equal(m.get('calls', keyOf('calls', call('a'))).state, 'up');
  assert.equal(m.views.calls.has(keyOf('calls', call('b'))), false);
  const ch = m.takeChanges();
  assert.equal(ch.changes.calls.size, 3);
  assert.equal(m.takeChanges().changes.calls, undefined, 'a batch is handed over once');
});

test('a duplicate delta is ignored, a gap is reported and not applied', () => {
  const m = initial();
  assert.equal(m.applyDelta({ seq: 10, pbx: 'p1', view: 'calls', op: 'remove', key: 'a' }), 'duplicate');
  assert.equal(m.views.calls.size, 2);
  assert.equal(m.applyDelta({ seq: 12, pbx: 'p1', view: 'calls', op: 'remove', key: 'a' }), 'gap');
  assert.equal(m.views.calls.size, 2);
  assert.equal(m.seq, 10);
});

test('the same key on two PBXs is two entries', () => {
  const m = initial();
  m.applyDelta({ seq: 11, pbx: 'p2', view: 'calls', op: 'upsert', key: 'a', value: call('a', { pbx: 'p2' }) });
  assert.equal(m.views.calls.size, 3);
});

test('stale and syncing PBXs are reported', () => {
  const m = initial();
  m.applyDelta({ seq: 11, pbx: 'p1', view: 'pbxs', op: 'upsert', key: 'p1', value: { tenant: 't', pbx: 'p1', stale: true, syncing: false } });
  assert.deepEqual(m.stalePbxs().map((p) => p.pbx), ['p1']);
  assert.equal(m.views.pbxs.size, 1, 'pbxs are keyed by PBX id');
});

test('callChannels finds the legs in the channels view', () => {
  const m = new LiveModel();
  m.applyInitial({ seq: 1, snapshot: { calls: [call('x', { legs: ['x', 'y'] })], channels: [{ pbx: 'p1', uniqueid: 'x', name: 'PJSIP/1001-1' }, { pbx: 'p1', uniqueid: 'y', name: 'PJSIP/1002-2' }, { pbx: 'p2', uniqueid: 'y', name: 'other' }] } });
  assert.deepEqual(m.callChannels([...m.views.calls.values()][0]).map((c) => c.name), ['PJSIP/1001-1', 'PJSIP/1002-2']);
});

test('durations come from timestamps: talk time once answered, ring time before', () => {
  assert.equal(callSeconds({ start_ms: 1000, answer_ms: null }, 6500), 5);
  assert.equal(callSeconds({ start_ms: 1000, answer_ms: 4000 }, 6500), 2);
  assert.equal(callSeconds({ start_ms: 9000 }, 6500), 0, 'clock skew never shows negative time');
  assert.equal(callSeconds({}, 6500), null);
});

test('status palette covers the badges the panel shows', () => {
  assert.equal(statusClass('online'), 'online');
  assert.equal(statusClass('registered'), 'registered');
  assert.equal(statusClass('in_use'), 'in-call');
  assert.equal(statusClass('up'), 'in-call');
  assert.equal(statusClass('ringing'), 'ringing');
  assert.equal(statusClass('held'), 'on-hold');
  assert.equal(statusClass('offline'), 'offline');
  assert.equal(statusClass('unreachable'), 'unreachable');
  assert.equal(statusClass('UNAVAILABLE'), 'unreachable');
  assert.equal(statusClass('something-new'), 'unknown');
  assert.equal(statusKey('on_hold'), 'status.on_hold');
  assert.equal(statusKey(null), 'status.unknown');
});

test('reconnect backoff grows, is capped and jittered', () => {
  const mid = () => 0.5;
  assert.equal(backoffMs(1, mid), 500);
  assert.equal(backoffMs(2, mid), 1000);
  assert.equal(backoffMs(5, mid), 8000);
  assert.equal(backoffMs(50, mid), 15000);
  assert.equal(backoffMs(1, () => 0), 400);
  assert.equal(backoffMs(1, () => 1), 600);
});

test('search text includes the numbers of a call', () => {
  assert.match(searchText('calls', call('z', { from: '5511999', to: '2001' })), /5511999/);
});

test('a trunk is keyed by kind and name, as the state service keys its deltas', () => {
  const m = new LiveModel();
  const endpoint = { pbx: 'p1', name: 'carrier', kind: 'pjsip_endpoint', status: 'online' };
  const registration = { pbx: 'p1', name: 'carrier', kind: 'pjsip_registration', status: 'registered' };
  m.applyInitial({ seq: 1, snapshot: { trunks: [endpoint, registration] } });
  assert.equal(m.views.trunks.size, 2, 'same name, two kinds: two trunks');
  m.applyDelta({ type: 'Delta', seq: 2, pbx: 'p1', view: 'trunks', op: 'upsert', key: 'pjsip_endpoint:carrier', value: { ...endpoint, status: 'in_use' } });
  assert.equal(m.views.trunks.size, 2, 'the delta updates the endpoint, it adds nothing');
  assert.equal(m.views.trunks.get(keyOf('trunks', endpoint)).status, 'in_use');
});

test('prices show four decimals, worked out on the text', () => {
  assert.equal(fmtPrice('0.046000'), '0.0460');
  assert.equal(fmtPrice('12.5'), '12.5000');
  assert.equal(fmtPrice('3'), '3.0000');
  assert.equal(fmtPrice('0.123456'), '0.1234');
  assert.equal(fmtPrice('n/a'), 'n/a');
  assert.equal(fmtPrice(undefined), '');
});
