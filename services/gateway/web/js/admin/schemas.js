// Per-entity schemas that drive the generic table and form (crud.js).
// Field names are the API's (see the contract in the gateway's docs);
// `rules` name validators in validate.js; `ref` fills a select from another
// list and shows its label in the table.
//
// Field keys: name, label (i18n key, default field.<name>), type
// (text|number|integer|select|checkbox|password|textarea), required, min, max,
// rules, options [{value, label (i18n key)}], ref {path, label(item)}, list
// (show as a table column), readOnly (shown, never sent), createOnly,
// writeOnly (never shown), help (i18n key), default, requiredIf(values).

const opt = (...values) => values.map((v) => ({ value: v, label: `opt.${v}` }));

export const SCHEMAS = {
  customers: {
    path: 'customers',
    labelOf: (c) => `${c.code} — ${c.name}`,
    fields: [
      { name: 'code', required: true, rules: ['code'], list: true },
      { name: 'name', required: true, list: true },
      { name: 'type', type: 'select', required: true, options: opt('trunk', 'extension'), default: 'trunk', list: true },
      { name: 'trunk_ip', rules: ['ip'], list: true, requiredIf: (v) => v.type === 'trunk' },
      { name: 'channel_limit', type: 'integer', min: 0, max: 100000, default: 10, list: true },
      { name: 'status', type: 'select', options: opt('active', 'suspended'), default: 'active', list: true }
    ]
  },
  providers: {
    path: 'providers',
    labelOf: (p) => p.name,
    fields: [
      { name: 'name', required: true, list: true },
      { name: 'type', type: 'select', required: true, options: opt('sip', 'iax2'), default: 'sip', list: true },
      { name: 'cost_per_minute', type: 'number', min: 0, required: true, default: 0, list: true, money: true }
    ]
  },
  gateways: {
    path: 'gateways',
    labelOf: (g) => g.name,
    fields: [
      { name: 'name', required: true, list: true },
      { name: 'ip_address', required: true, rules: ['host'], list: true },
      { name: 'port', type: 'integer', min: 1, max: 65535, default: 5060, list: true },
      { name: 'transport', type: 'select', options: opt('udp', 'tcp', 'tls'), default: 'udp', list: true },
      { name: 'provider_id', type: 'select', ref: { path: 'providers', label: (p) => p.name }, required: true, list: true },
      { name: 'codecs', rules: ['codecs'], default: 'ulaw,alaw', codecs: true, list: true },
      { name: 'tech_prefix', rules: ['digits'] }
    ]
  },
  dids: {
    path: 'dids',
    labelOf: (d) => d.number,
    fields: [
      { name: 'number', required: true, rules: ['e164'], list: true },
      { name: 'provider_id', type: 'select', ref: { path: 'providers', label: (p) => p.name }, required: true, list: true },
      { name: 'gateway_id', type: 'select', ref: { path: 'gateways', label: (g) => g.name }, list: true },
      { name: 'status', readOnly: true, list: true, badge: true },
      { name: 'customer_id', readOnly: true, ref: { path: 'customers', label: (c) => `${c.code} — ${c.name}` }, list: true },
      { name: 'monthly_cost', type: 'number', min: 0, default: 0, list: true, money: true }
    ]
  },
  routes: {
    path: 'routes',
    labelOf: (r) => r.name,
    fields: [
      { name: 'name', required: true, list: true },
      { name: 'pattern', required: true, rules: ['dialPattern'], list: true, mono: true },
      { name: 'gateway_id', type: 'select', ref: { path: 'gateways', label: (g) => g.name }, required: true, list: true },
      { name: 'priority', type: 'integer', min: 0, max: 1000, default: 1, list: true },
      { name: 'tech_prefix', rules: ['digits'], list: true },
      { name: 'strip_digits', type: 'integer', min: 0, max: 20, default: 0, list: true }
    ]
  },
  extensions: {
    path: 'extensions',
    labelOf: (x) => x.extension,
    fields: [
      { name: 'extension', required: true, rules: ['extension'], list: true },
      { name: 'secret', type: 'password', writeOnly: true, help: 'field.secret_help', rules: ['password'] },
      { name: 'customer_id', type: 'select', ref: { path: 'customers', label: (c) => `${c.code} — ${c.name}` }, required: true, list: true },
      { name: 'caller_id', list: true },
      { name: 'codecs', rules: ['codecs'], default: 'ulaw,alaw', codecs: true, list: true },
      { name: 'max_contacts', type: 'integer', min: 1, max: 100, default: 1, list: true }
    ]
  },
  tariffs: {
    path: 'tariffs',
    labelOf: (t) => `${t.pattern} ${t.description || ''}`,
    fields: [
      { name: 'pattern', required: true, rules: ['prefix'], list: true, mono: true },
      { name: 'description', list: true },
      { name: 'cost_per_minute', type: 'number', min: 0, required: true, default: 0, list: true, money: true },
      { name: 'price_per_minute', type: 'number', min: 0, required: true, default: 0, list: true, money: true },
      { name: 'increment', required: true, rules: ['increment'], default: '60/60', list: true },
      { name: 'connection_fee', type: 'number', min: 0, default: 0, list: true, money: true }
    ]
  },
  pbx: {
    path: 'pbx',
    labelOf: (p) => p.name,
    fields: [
      { name: 'name', required: true, list: true },
      { name: 'host', required: true, rules: ['host'], list: true },
      { name: 'port', type: 'integer', min: 1, max: 65535, default: 5038, list: true },
      { name: 'username', required: true, list: true },
      { name: 'secret', label: 'field.secret_ami', type: 'password', writeOnly: true, help: 'field.secret_ami_help', requiredIf: (v) => !v.id },
      { name: 'tls', type: 'checkbox', default: false, list: true },
      // As the API: `file` writes into config_dir (PBX on this host), `ami` sends UpdateConfig.
      { name: 'apply_mode', type: 'select', options: opt('file', 'ami'), default: 'ami', list: true },
      { name: 'config_dir', default: '/etc/asterisk' },
      { name: 'enabled', type: 'checkbox', default: true, list: true },
      { name: 'connected', readOnly: true, type: 'checkbox', list: true, badgeBool: true, liveConnected: true }
    ]
  },
  users: {
    path: 'users',
    labelOf: (u) => u.username,
    noEdit: true,
    noDelete: true,
    fields: [
      { name: 'username', required: true, rules: ['username'], list: true },
      { name: 'password', type: 'password', writeOnly: true, required: true, rules: ['password'] },
      { name: 'role', type: 'select', required: true, options: ['viewer', 'operator', 'tenant_admin', 'platform_admin'].map((r) => ({ value: r, label: `role.${r}` })), default: 'operator', list: true },
      { name: 'tenant', readOnly: true, list: true }
    ]
  },
  tenants: {
    path: 'tenants',
    labelOf: (t) => t.name || t.slug || t.id,
    noEdit: true,
    noDelete: true,
    // `slug` is the tenant's permanent short name, the one tokens, live
    // views and the tenant switcher use; `id` is its UUID.
    fields: [
      { name: 'slug', required: true, rules: ['code'], list: true, createOnly: true },
      { name: 'name', required: true, list: true }
    ]
  }
};
