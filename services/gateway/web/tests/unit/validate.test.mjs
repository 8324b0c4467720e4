// Unit tests of the form validators (the same rules the API applies).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isE164, isIP, isIPv4, isIPv6, isHostname, isDialPattern, isPrefix, isCodecs, validateValue, validateRecord, parseNumbers } from '../../js/admin/validate.js';
import { SCHEMAS } from '../../js/admin/schemas.js';

test('E.164', () => {
  for (const ok of ['+5511912345678', '5511912345678', '+14155550100']) assert.ok(isE164(ok), ok);
  for (const bad of ['', '+0551191234', '12345', '+55 11 9123', '+1234567890123456', 'abc']) assert.ok(!isE164(bad), bad);
});

test('IP addresses and host names', () => {
  for (const ok of ['10.0.0.1', '255.255.255.255', '0.0.0.0']) assert.ok(isIPv4(ok), ok);
  for (const bad of ['256.1.1.1', '1.2.3', '01.2.3.4', '1.2.3.4.5', '1.2.3.x']) assert.ok(!isIPv4(bad), bad);
  for (const ok of ['::1', '2001:db8::1', 'fe80::1:2:3:4', '2001:db8:0:0:0:0:0:1', '::ffff:10.0.0.1']) assert.ok(isIPv6(ok), ok);
  for (const bad of ['2001:db8:::1', '1:2:3:4:5:6:7:8:9', 'g::1', '::1::2']) assert.ok(!isIPv6(bad), bad);
  assert.ok(isIP('::1') && isIP('10.1.1.1') && !isIP('pbx.example.com'));
  for (const ok of ['sip.example.com', 'pbx-1', 'a.b.c']) assert.ok(isHostname(ok), ok);
  for (const bad of ['-bad.example', 'under_score.com', '300.1.1.1', 'a..b']) assert.ok(!isHostname(bad), bad);
});

test('Asterisk dial patterns and prefixes', () => {
  for (const ok of ['_NXXNXXXXXX', '_0800X.', '_55[1-9]X!', '_X.', '1234', '_0XX9XXXXXXXX', '*98']) assert.ok(isDialPattern(ok), ok);
  for (const bad of ['', '_', '_X.X', '_[1-9', '_[]X', 'abc', '_A1', '_[a-z]']) assert.ok(!isDialPattern(bad), bad);
  assert.ok(isPrefix('5511') && isPrefix('+55') && !isPrefix('55a') && !isPrefix(''));
});

test('codecs', () => {
  assert.ok(isCodecs('ulaw,alaw'));
  assert.ok(isCodecs(['opus', 'g722']));
  assert.ok(!isCodecs('ulaw,mp3'));
  assert.ok(!isCodecs('ulaw,ulaw'), 'no duplicates');
  assert.ok(!isCodecs(''));
});

test('numbers: required, integer, ranges and prices >= 0', () => {
  assert.deepEqual(validateValue({ required: true }, ''), ['valid.required']);
  assert.equal(validateValue({ required: false, rules: ['e164'] }, ''), null, 'empty optional fields pass');
  assert.deepEqual(validateValue({ type: 'number', min: 0 }, '-0.01'), ['valid.min', { min: 0 }]);
  assert.equal(validateValue({ type: 'number', min: 0 }, '0'), null);
  assert.deepEqual(validateValue({ type: 'integer', min: 1, max: 65535 }, '70000'), ['valid.max', { max: 65535 }]);
  assert.deepEqual(validateValue({ type: 'integer' }, '1.5'), ['valid.integer']);
  assert.deepEqual(validateValue({ type: 'number' }, 'abc'), ['valid.number']);
});

test('schemas: a trunk customer needs a trunk IP, an extension customer does not', () => {
  const f = SCHEMAS.customers.fields;
  assert.ok(validateRecord(f, { code: 'C1', name: 'x', type: 'trunk', trunk_ip: '' }).trunk_ip);
  assert.equal(validateRecord(f, { code: 'C1', name: 'x', type: 'extension', trunk_ip: '' }).trunk_ip, undefined);
  assert.ok(validateRecord(f, { code: 'C 1', name: 'x', type: 'extension' }).code, 'codes have no spaces');
});

test('schemas: tariffs reject negative prices and bad increments', () => {
  const e = validateRecord(SCHEMAS.tariffs.fields, { pattern: '55', cost_per_minute: -1, price_per_minute: 0.1, increment: '60', connection_fee: 0 });
  assert.ok(e.cost_per_minute && e.increment && !e.price_per_minute && !e.pattern);
});

test('schemas: a PBX secret is required on create only', () => {
  const f = SCHEMAS.pbx.fields;
  assert.ok(validateRecord(f, { name: 'p', host: '10.0.0.1', username: 'u' }).secret);
  assert.equal(validateRecord(f, { id: 'p', name: 'p', host: '10.0.0.1', username: 'u' }).secret, undefined);
});

test('conference numbers are split on commas, spaces and lines', () => {
  assert.deepEqual(parseNumbers('1001, 1002\n+5511912345678;;'), ['1001', '1002', '+5511912345678']);
  assert.deepEqual(parseNumbers(''), []);
});
