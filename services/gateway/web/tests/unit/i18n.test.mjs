// Every string the UI shows has both an English and a Brazilian Portuguese
// version, and every key the code asks for exists.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TABLES, t, setLang } from '../../js/i18n.js';

const JS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../js');

function sources(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? sources(path.join(dir, d.name)) : d.name.endsWith('.js') ? [path.join(dir, d.name)] : []));
}

test('both languages have the same keys', () => {
  const en = Object.keys(TABLES.en).sort();
  const pt = Object.keys(TABLES['pt-BR']).sort();
  assert.deepEqual(en.filter((k) => !pt.includes(k)), [], 'missing in pt-BR');
  assert.deepEqual(pt.filter((k) => !en.includes(k)), [], 'missing in en');
});

test('every literal key passed to t() exists, and so do the placeholders', () => {
  const missing = [];
  for (const file of sources(JS)) {
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bt\('([a-zA-Z0-9_.-]+)'/g)) if (!(m[1] in TABLES.en)) missing.push(`${path.basename(file)}: ${m[1]}`);
    for (const m of text.matchAll(/(?:label|help|section): '([a-z]+\.[a-zA-Z0-9_.]+)'/g)) if (!(m[1] in TABLES.en)) missing.push(`${path.basename(file)}: ${m[1]}`);
  }
  assert.deepEqual(missing, []);
  for (const [k, v] of Object.entries(TABLES.en)) {
    const ph = (s) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort().join(',');
    assert.equal(ph(TABLES['pt-BR'][k]), ph(v), `placeholders of ${k}`);
  }
});

test('schema field labels and options have translations', async () => {
  const { SCHEMAS } = await import('../../js/admin/schemas.js');
  const missing = [];
  for (const [entity, s] of Object.entries(SCHEMAS)) {
    for (const k of [`entity.${entity}`, `entity.${entity}.one`]) if (!(k in TABLES.en)) missing.push(k);
    for (const f of s.fields) {
      const label = f.label || `field.${f.name}`;
      if (!(label in TABLES.en)) missing.push(label);
      for (const o of f.options || []) if (!(o.label in TABLES.en)) missing.push(o.label);
    }
  }
  assert.deepEqual(missing, []);
});

test('t() substitutes parameters and follows the chosen language', () => {
  setLang('en');
  assert.equal(t('conn.reconnecting', { n: 3 }), 'Reconnecting (attempt 3)');
  setLang('pt-BR');
  assert.equal(t('conn.reconnecting', { n: 3 }), 'Reconectando (tentativa 3)');
  setLang('xx');
  assert.equal(t('conn.live'), 'Ao vivo', 'an unknown language is refused');
  setLang('en');
  assert.equal(t('no.such.key'), 'no.such.key');
});
