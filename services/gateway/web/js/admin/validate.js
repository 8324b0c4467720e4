// Client-side validation mirroring the API's rules, so most mistakes are
// caught before a round trip. The API stays the authority: its 422
// field-level errors are shown next to the same fields.
// Each validator returns null (ok) or [i18nKey, params].

export const CODECS = ['ulaw', 'alaw', 'g722', 'g729', 'g726', 'gsm', 'ilbc', 'speex', 'opus', 'slin', 'lpc10', 'h263', 'h264', 'vp8', 'vp9', 't140'];

export function isIPv4(v) {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(v);
  return !!m && m.slice(1).every((p) => Number(p) <= 255 && String(Number(p)) === p);
}

export function isIPv6(v) {
  if (!/^[0-9a-fA-F:.]+$/.test(v) || !v.includes(':')) return false;
  const parts = v.split('::');
  if (parts.length > 2) return false;
  const groups = (s) => (s === '' ? [] : s.split(':'));
  const all = parts.flatMap(groups);
  let count = 0;
  for (let i = 0; i < all.length; i += 1) {
    const g = all[i];
    if (i === all.length - 1 && g.includes('.')) { if (!isIPv4(g)) return false; count += 2; continue; }
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return false;
    count += 1;
  }
  return parts.length === 2 ? count < 8 : count === 8;
}

export function isIP(v) { return isIPv4(v) || isIPv6(v); }

export function isHostname(v) {
  if (v.length > 253) return false;
  if (/^[\d.]+$/.test(v)) return isIPv4(v); // all-numeric must be a real IPv4
  return v.split('.').every((l) => /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/.test(l));
}

/** E.164: optional '+', a non-zero first digit, 7 to 15 digits in all. */
export function isE164(v) { return /^\+?[1-9]\d{6,14}$/.test(v); }

/**
 * An Asterisk extension pattern (`_NXXNXXXXXX`, `_0800X.`, `_55[1-9]X!`) or a
 * literal dial string. Brackets must close and hold digits or ranges.
 */
export function isDialPattern(v) {
  if (!v) return false;
  if (!v.startsWith('_')) return /^[0-9*#+]+$/.test(v);
  const body = v.slice(1);
  if (!body) return false;
  let i = 0;
  while (i < body.length) {
    const c = body[i];
    if (c === '[') {
      const end = body.indexOf(']', i);
      if (end < 0) return false;
      const set = body.slice(i + 1, end);
      if (!set || !/^[0-9-]+$/.test(set) || /^-|-$/.test(set)) return false;
      i = end + 1;
      continue;
    }
    if (c === '.' || c === '!') { if (i !== body.length - 1) return false; i += 1; continue; }
    if (!/[0-9XNZxnz*#+]/.test(c)) return false;
    i += 1;
  }
  return true;
}

/** A tariff or route prefix: digits, optionally a leading '+'. */
export function isPrefix(v) { return /^\+?\d{1,20}$/.test(v); }

export function codecList(v) {
  if (Array.isArray(v)) return v.map((s) => String(s).trim().toLowerCase()).filter(Boolean);
  return String(v ?? '').split(/[,\s]+/).map((s) => s.trim().toLowerCase()).filter(Boolean);
}

export function isCodecs(v) {
  const list = codecList(v);
  return list.length > 0 && list.every((c) => CODECS.includes(c)) && new Set(list).size === list.length;
}

/** Validators by name; a schema field lists the ones that apply. */
export const RULES = {
  e164: (v) => (isE164(v) ? null : ['valid.e164']),
  ip: (v) => (isIP(v) ? null : ['valid.ip']),
  host: (v) => (isIP(v) || isHostname(v) ? null : ['valid.host']),
  dialPattern: (v) => (isDialPattern(v) ? null : ['valid.pattern']),
  prefix: (v) => (isPrefix(v) ? null : ['valid.pattern']),
  digits: (v) => (/^\d{1,20}$/.test(v) ? null : ['valid.prefix']),
  codecs: (v) => (isCodecs(v) ? null : ['valid.codecs']),
  extension: (v) => (/^\d{2,12}$/.test(v) ? null : ['valid.extension']),
  increment: (v) => {
    const m = /^(\d+)\/(\d+)$/.exec(v);
    return m && Number(m[1]) > 0 && Number(m[2]) > 0 ? null : ['valid.increment'];
  },
  username: (v) => (/^[A-Za-z0-9._-]{3,64}$/.test(v) ? null : ['valid.username']),
  password: (v) => (String(v).length >= 8 ? null : ['valid.password']),
  code: (v) => (/^[A-Za-z0-9_-]{1,64}$/.test(v) ? null : ['valid.code'])
};

/**
 * Validate one value against a field spec:
 * `{required, type: 'number'|'integer'|..., min, max, rules: [...]}`.
 * Empty optional fields pass.
 */
export function validateValue(spec, raw) {
  const v = typeof raw === 'string' ? raw.trim() : raw;
  const empty = v === '' || v === null || v === undefined || (Array.isArray(v) && v.length === 0);
  if (empty) return spec.required ? ['valid.required'] : null;
  if (spec.type === 'number' || spec.type === 'integer') {
    const n = Number(v);
    if (!Number.isFinite(n)) return ['valid.number'];
    if (spec.type === 'integer' && !Number.isInteger(n)) return ['valid.integer'];
    if (spec.min !== undefined && n < spec.min) return ['valid.min', { min: spec.min }];
    if (spec.max !== undefined && n > spec.max) return ['valid.max', { max: spec.max }];
  }
  for (const r of spec.rules || []) {
    const err = RULES[r](String(v));
    if (err) return err;
  }
  return null;
}

/** Validate a whole record; returns {field: [key, params]} (empty when valid). */
export function validateRecord(fields, values) {
  const errors = {};
  for (const f of fields) {
    if (f.readOnly) continue;
    const spec = typeof f.requiredIf === 'function' ? { ...f, required: f.requiredIf(values) } : f;
    const e = validateValue(spec, values[f.name]);
    if (e) errors[f.name] = e;
  }
  return errors;
}

/** Numbers for the conference form: split on commas, spaces or newlines. */
export function parseNumbers(text) {
  return String(text || '').split(/[\s,;]+/).map((s) => s.trim()).filter(Boolean);
}
