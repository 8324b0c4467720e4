// Browser tests of the web UI (playwright-core + Debian's chromium).
//
//   RINGSIDE_URL=http://127.0.0.1:8080/ RINGSIDE_ADMIN_USER=admin \
//   RINGSIDE_ADMIN_PASSWORD=... SCREENSHOT_DIR=./shots node --test e2e/
//
// They drive a running server: the real monolithic binary in CI (its PBX
// simulator makes the calls watched here), or mock-server.mjs while
// developing (RINGSIDE_MOCK=1: the tenant switcher then uses the mock's
// second tenant instead of creating one).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, login, shot, BASE_URL, ADMIN_USER, ADMIN_PASSWORD } from '../lib.mjs';

const MOCK = process.env.RINGSIDE_MOCK === '1';
const CALL_TIMEOUT = Number(process.env.RINGSIDE_CALL_TIMEOUT_MS || 90000);
const suffix = `${Date.now().toString(36)}${Math.floor(Math.random() * 1000)}`.toUpperCase();
let browser;
let page;

before(async () => {
  browser = await launch();
  page = await newPage(browser);
});

after(async () => {
  if (browser) await browser.close();
});

const go = async (route) => {
  await page.evaluate((r) => { location.hash = r; }, `#/${route}`);
  await page.locator(`main.page-${route}`).waitFor();
};

test('login: a wrong password is refused, the right one opens the live panel', async () => {
  await page.goto(`${BASE_URL}#/live`);
  await page.locator('#login-form').waitFor();
  await shot(page, '01-login');
  await page.locator('#login-user').fill(ADMIN_USER);
  await page.locator('#login-pass').fill(`${ADMIN_PASSWORD}-wrong`);
  await page.locator('#login-submit').click();
  await page.locator('#login-error:not([hidden])').waitFor();
  assert.match(await page.locator('#login-error').textContent(), /wrong|incorret|many|muitas/i);
  await login(page);
  await page.locator('main.page-live').waitFor();
  await page.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15000 });
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ringside.token') !== null), true, 'JWT kept in sessionStorage');
});

/**
 * Polls the calls list until one call has been seen ringing, then up with its
 * duration ticking, then gone. Real simulated calls end on their own (busy, no
 * answer, hang-ups after a few seconds), so any single call may skip a step:
 * the watch follows every call and succeeds on the first one that shows the
 * whole life cycle. `onUp` runs once, while a call is up and ticking.
 */
async function watchCallLifecycle(p, { timeout = CALL_TIMEOUT, onUp = async () => {} } = {}) {
  const seen = new Map(); // "pbx/id" -> { states: [], upDurations: Set, gone: bool }
  let shotTaken = false;
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    const rows = await p.locator('#calls-list .call-row').evaluateAll((rs) => rs.map((r) => ({
      key: `${r.dataset.pbx}/${r.dataset.call}`, pbx: r.dataset.pbx, id: r.dataset.call, state: r.dataset.state,
      dur: (r.querySelector('.c-dur')?.textContent || '').trim()
    })));
    const present = new Set(rows.map((r) => r.key));
    for (const r of rows) {
      assert.ok(r.id && r.pbx, 'call rows carry the call id and PBX');
      const h = seen.get(r.key) || { states: [], upDurations: new Set(), gone: false };
      if (h.states.at(-1) !== r.state) h.states.push(r.state);
      if (r.state === 'up' && r.dur) h.upDurations.add(r.dur);
      seen.set(r.key, h);
    }
    for (const [key, h] of seen) {
      if (present.has(key) || h.gone) continue;
      h.gone = true;
      const rang = h.states.indexOf('ringing');
      const up = h.states.indexOf('up');
      if (rang >= 0 && up > rang && h.upDurations.size >= 2) return { key, ...h };
    }
    if (!shotTaken && [...seen.values()].some((h) => !h.gone && h.upDurations.size >= 2)) {
      shotTaken = true;
      await onUp();
    }
    await p.waitForTimeout(150);
  }
  assert.fail(`no call went ringing -> up (timer ticking) -> gone within ${timeout} ms: ${JSON.stringify([...seen].slice(-10))}`);
}

test('live panel: a simulated call appears ringing, is answered, and disappears', async () => {
  await go('live');
  const call = await watchCallLifecycle(page, { onUp: () => shot(page, '02-live-panel') });
  // The timer is computed from the answer time and ticks every second.
  assert.ok(call.upDurations.size >= 2, `duration ticks (${[...call.upDurations].join(' -> ')})`);
  // Extensions, trunks and the counters are there too.
  assert.ok(await page.locator('#col-endpoints .card-row').count() > 0, 'endpoints listed');
  assert.ok(await page.locator('#col-trunks .card-row').count() > 0, 'trunks listed');
});

test('live panel: search and PBX filter narrow the columns', async () => {
  await go('live');
  await page.locator('#col-endpoints .card-row').first().waitFor();
  const all = await page.locator('#col-endpoints .card-row').count();
  const name = (await page.locator('#col-endpoints .card-row .e-name').first().textContent()).trim();
  await page.locator('#live-search').fill(name);
  await page.waitForFunction((n) => [...document.querySelectorAll('#col-endpoints .card-row .e-name')].every((e) => e.textContent.toLowerCase().includes(n.toLowerCase())), name);
  assert.ok(await page.locator('#col-endpoints .card-row').count() <= all);
  await page.locator('#live-search').fill('');
  const pbxs = await page.locator('#live-pbx option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(pbxs.length >= 1, 'PBX filter lists the PBXs');
  await page.locator('#live-pbx').selectOption(pbxs[0]);
  await page.waitForFunction((p) => [...document.querySelectorAll('#col-endpoints .card-row .e-meta')].every((e) => e.textContent.includes(p)), pbxs[0]);
  await page.locator('#live-pbx').selectOption('');
});

/**
 * Puts Playwright between `p` and the server's /ws: every frame is relayed
 * unchanged (the server is the real one), and the test can drop the
 * connection like a broken network does, or mark a PBX stale in the
 * InitialState of the next connection (the state service's stale marking
 * has its own tests; here the UI's handling of it is checked).
 */
async function relayLiveSocket(p) {
  const ctl = { routes: [], stalePbx: null };
  await p.routeWebSocket(/\/ws(\?.*)?$/, (ws) => {
    const server = ws.connectToServer();
    ctl.routes.push({ ws, server });
    server.onMessage((m) => {
      if (ctl.stalePbx && typeof m === 'string' && m.includes('"InitialState"')) {
        const msg = JSON.parse(m);
        for (const pbx of msg.snapshot?.pbxs || []) if (pbx.pbx === ctl.stalePbx) pbx.stale = true;
        m = JSON.stringify(msg);
      }
      ws.send(m);
    });
    server.onClose(() => ws.close());
  });
  ctl.drop = async () => {
    const { ws, server } = ctl.routes.at(-1);
    await server.close();
    await ws.close({ code: 4001, reason: 'test: network dropped' });
  };
  return ctl;
}

test('live panel: a dropped socket shows "reconnecting" and re-syncs; a stale PBX is flagged', async () => {
  const p = await newPage(browser);
  const relay = await relayLiveSocket(p);
  await login(p);
  await p.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15000 });
  await p.locator('#col-endpoints .card-row').first().waitFor();
  assert.equal(relay.routes.length, 1, 'the live socket goes through the relay');
  const pbx = await p.locator('#live-pbx option').evaluateAll((os) => os.map((o) => o.value).find(Boolean));
  assert.ok(pbx, 'a PBX is listed');

  await relay.drop();
  await p.locator('#conn-state[data-state="reconnecting"]').waitFor({ timeout: 5000 });
  assert.match(await p.locator('#conn-state').textContent(), /attempt 1|tentativa 1/);
  await p.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15000 });
  assert.equal(relay.routes.length, 2, 'reconnected with a new socket');
  await p.locator('#col-endpoints .card-row').first().waitFor();

  relay.stalePbx = pbx;
  await relay.drop();
  await p.locator(`.conn-stale[data-pbx="${pbx}"]`).waitFor({ timeout: 15000 });
  await shot(p, '03-live-stale-pbx');
  relay.stalePbx = null;
  await relay.drop();
  await p.locator(`.conn-stale[data-pbx="${pbx}"]`).waitFor({ state: 'detached', timeout: 15000 });
  await p.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15000 });
  assert.deepEqual(p.problems, []);
  await p.context().close();
});

test('operator action: hang up asks for confirmation first, then ends the call', async () => {
  await go('live');
  // A simulated call may end by itself between the click and the request
  // (404): then try the next one.
  let done = false;
  for (let attempt = 1; attempt <= 8 && !done; attempt++) {
    const row = page.locator('#calls-list .call-row[data-state="up"]').first();
    await row.waitFor({ timeout: CALL_TIMEOUT });
    const id = await row.getAttribute('data-call');
    const pbx = await row.getAttribute('data-pbx');
    try {
      await row.locator('button[data-action="hangup"]').click({ timeout: 2000 });
    } catch {
      continue; // the row went away before the click
    }
    const dlg = page.locator('dialog.modal');
    await dlg.waitFor();
    await shot(page, '04-confirm-hangup');
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.request().method() === 'POST' && /\/calls\/[^/]+\/hangup/.test(r.url())),
      dlg.locator('[data-testid="dialog-confirm"]').click()
    ]);
    await dlg.waitFor({ state: 'detached' });
    if (response.status() === 404) continue; // ended by itself first
    assert.ok(response.ok(), `hangup answered ${response.status()}: ${await response.text()}`);
    await page.locator(`#calls-list .call-row[data-call="${id}"][data-pbx="${pbx}"]`).waitFor({ state: 'detached', timeout: 10000 });
    done = true;
  }
  assert.ok(done, 'a call was hung up');
});

const otherTenant = `e2e-${suffix.toLowerCase()}`;

test('tenant switcher (platform admin) follows another tenant', async () => {
  if (!MOCK) {
    // The monolith has one tenant: create a second one (empty) in the tenants page.
    await go('tenants');
    await page.locator('#new-tenants').click();
    const dlg = page.locator('dialog.modal');
    await dlg.waitFor();
    await dlg.locator('[data-field="slug"] input').fill(otherTenant);
    await dlg.locator('[data-field="name"] input').fill(`E2E tenant ${suffix}`);
    await dlg.locator('[data-testid="dialog-confirm"]').click();
    await dlg.waitFor({ state: 'detached' });
    await page.locator('#table-tenants tr', { hasText: otherTenant }).waitFor();
    await page.reload(); // the switcher lists the tenants at start
  }
  const [other, otherPbx, home, homePbx] = MOCK ? ['globex', 'gx-pbx', 'acme', 'pbx-sp1'] : [otherTenant, null, 'default', 'simulator'];
  await go('live');
  await page.locator('#tenant-switch:not([hidden])').waitFor();
  await page.locator('#col-endpoints .card-row .e-meta', { hasText: homePbx }).first().waitFor();
  await page.locator('#tenant-select').selectOption(other);
  if (otherPbx) await page.locator('#col-endpoints .card-row .e-meta', { hasText: otherPbx }).first().waitFor();
  else await page.locator('#col-endpoints .card-row').first().waitFor({ state: 'detached', timeout: 15000 });
  await page.locator('#conn-state[data-state="live"]').waitFor();
  assert.equal(await page.locator('#col-endpoints .card-row .e-meta', { hasText: homePbx }).count(), 0);
  assert.equal(await page.locator('#calls-list .call-row[data-pbx="' + homePbx + '"]').count(), 0);
  await page.locator('#tenant-select').selectOption(home);
  await page.locator('#col-endpoints .card-row .e-meta', { hasText: homePbx }).first().waitFor({ timeout: 15000 });
});

async function openNew(entity) {
  await go(entity);
  await page.locator(`#new-${entity}`).click();
  const dlg = page.locator('dialog.modal');
  await dlg.waitFor();
  return dlg;
}

async function fill(dlg, name, value) {
  const el = dlg.locator(`[data-field="${name}"] :is(input, select, textarea)`);
  if (await el.evaluate((e) => e.tagName) === 'SELECT') await el.selectOption(value);
  else await el.fill(value);
}

async function selectFirstReal(dlg, name) {
  const el = dlg.locator(`[data-field="${name}"] select`);
  const values = await el.locator('option').evaluateAll((os) => os.map((o) => o.value).filter(Boolean));
  assert.ok(values.length, `options for ${name}`);
  await el.selectOption(values[0]);
}

const customerCode = `E2E-${suffix}`;
const extNumber = String(70000 + Math.floor(Math.random() * 29999));
const didNumber = `+5511${String(30000000 + Math.floor(Math.random() * 69999999))}`;

test('tariffs: a price per minute for calls to extensions (the rater uses it)', async () => {
  const dlg = await openNew('tariffs');
  await fill(dlg, 'pattern', '1');
  await fill(dlg, 'description', `E2E internal ${suffix}`);
  await fill(dlg, 'cost_per_minute', '0.40');
  await fill(dlg, 'price_per_minute', '1.20');
  await fill(dlg, 'increment', '6/6');
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.waitFor({ state: 'detached' });
  await page.locator('#table-tariffs tr', { hasText: `E2E internal ${suffix}` }).waitFor();
});

test('customers: validation errors show next to the fields, then a customer is created', async () => {
  let dlg = await openNew('customers');
  await fill(dlg, 'code', customerCode);
  await fill(dlg, 'name', `E2E customer ${suffix}`);
  await fill(dlg, 'type', 'trunk');
  await fill(dlg, 'trunk_ip', '300.1.2.3');
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  const err = dlg.locator('[data-field="trunk_ip"] .field-error');
  await err.waitFor();
  assert.match(await err.textContent(), /IP/);
  assert.equal(await dlg.locator('[data-field="trunk_ip"] input').getAttribute('aria-invalid'), 'true');
  await shot(page, '05-customer-form-errors');
  await fill(dlg, 'trunk_ip', '203.0.113.7');
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.waitFor({ state: 'detached' });
  await page.locator('#table-customers tr', { hasText: customerCode }).waitFor();

  // The same code again: the API answers 422 (or 409) and the error is shown, not lost.
  dlg = await openNew('customers');
  await fill(dlg, 'code', customerCode);
  await fill(dlg, 'name', 'duplicate');
  await fill(dlg, 'type', 'extension');
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.locator('.field-error:not([hidden]), .form-error:not([hidden])').first().waitFor();
  await dlg.locator('button', { hasText: /Cancel|Cancelar/ }).click();
  await shot(page, '06-customers');
});

test('extensions: create one for the new customer', async () => {
  const dlg = await openNew('extensions');
  await fill(dlg, 'extension', extNumber);
  const cust = dlg.locator('[data-field="customer_id"] select');
  const value = await cust.locator('option', { hasText: customerCode }).getAttribute('value');
  await cust.selectOption(value);
  await fill(dlg, 'caller_id', `E2E ${suffix}`);
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.waitFor({ state: 'detached' });
  await page.locator('#table-extensions tr', { hasText: extNumber }).first().waitFor();
  await shot(page, '07-extensions');
});

test('DIDs: create one (E.164 checked) and allocate it to the customer', async () => {
  // A provider to hold the number.
  let dlg = await openNew('providers');
  await fill(dlg, 'name', `E2E provider ${suffix}`);
  await fill(dlg, 'cost_per_minute', '0.03');
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.waitFor({ state: 'detached' });

  dlg = await openNew('dids');
  await fill(dlg, 'number', '12345');
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.locator('[data-field="number"] .field-error:not([hidden])').waitFor();
  await fill(dlg, 'number', didNumber);
  const prov = dlg.locator('[data-field="provider_id"] select');
  await prov.selectOption(await prov.locator('option', { hasText: `E2E provider ${suffix}` }).getAttribute('value'));
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.waitFor({ state: 'detached' });
  const row = page.locator('#table-dids tr', { hasText: didNumber });
  await row.waitFor();
  await row.locator('button[data-action="allocate"]').click();
  dlg = page.locator('dialog.modal');
  await dlg.waitFor();
  const cust = dlg.locator('[data-field="customer_id"] select');
  await cust.selectOption(await cust.locator('option', { hasText: customerCode }).getAttribute('value'));
  await fill(dlg, 'destination', extNumber);
  await dlg.locator('[data-testid="dialog-confirm"]').click();
  await dlg.waitFor({ state: 'detached' });
  await page.locator('#table-dids tr', { hasText: didNumber }).filter({ hasText: customerCode }).waitFor();
  await shot(page, '08-dids');
});

test('deployments: a dry run shows the diff with added lines', async () => {
  await go('deployments');
  await page.locator('#dep-dry-run:not([disabled])').waitFor();
  await page.locator('#dep-dry-run').click();
  await page.locator('#dep-result pre.diff, #dep-result .muted').first().waitFor();
  assert.ok(await page.locator('#dep-result .dl-add').count() > 0, 'the new extension shows as added lines');
  await shot(page, '09-deployment-dry-run');
});

test('CDR report: rated calls with totals and a CSV export', async () => {
  await go('cdr');
  await page.locator('#cdr-totals .stat').first().waitFor();
  await page.locator('#cdr-table tbody tr td.num').first().waitFor({ timeout: 20000 });
  const calls = await page.locator('#cdr-totals [data-stat="calls"] .stat-value').textContent();
  assert.ok(Number(calls.replace(/\D/g, '')) > 0, 'there are call records');
  // Calls that ended after the tariff was created are rated: wait for a price.
  const priced = async () => /[1-9]/.test(await page.locator('#cdr-totals [data-stat="price"] .stat-value').textContent());
  for (let i = 0; i < 45 && !(await priced()); i++) {
    await page.waitForTimeout(2000);
    await page.locator('#cdr-table').evaluate(() => document.querySelector('form.filters').requestSubmit());
    await page.locator('#cdr-totals .stat').first().waitFor();
  }
  assert.ok(await priced(), 'rated calls have a price');
  assert.ok(await page.locator('#cdr-table tbody tr').filter({ has: page.locator('td.num:nth-child(8)', { hasNotText: /^0[.,]00$/ }) }).count() > 0, 'a call row shows its price');
  const href = await page.locator('#cdr-csv').getAttribute('href');
  assert.match(href, /api\/v1\/reports\/cdr\?.*format=csv/);
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#cdr-csv').click()]);
  assert.equal(download.suggestedFilename(), 'cdr.csv');
  await shot(page, '10-cdr-report');
});

test('live cost: a call in progress shows its price so far under the new tariff', async () => {
  await go('live');
  const priced = page.locator('#calls-list .call-row[data-state="up"] .c-price', { hasText: /[1-9]/ });
  await priced.first().waitFor({ timeout: 45000 });
  assert.match(await priced.first().textContent(), /^\d+\.\d{4}$/);
});

test('other screens render without errors', async () => {
  for (const [route, name] of [['dashboard', '11-dashboard'], ['conference', '12-conference'], ['pbx', '13-pbx-servers'], ['users', '14-users'], ['audit', '15-audit-log'], ['tariffs', '16-tariffs'], ['gateways', '17-gateways'], ['routes', '18-routes']]) {
    await go(route);
    await page.locator('main h1').waitFor();
    await page.waitForLoadState('networkidle');
    if (route === 'pbx') {
      // The REST list does not say whether a PBX is connected: the page takes it
      // from the live views, where the simulator is connected and not stale.
      const row = page.locator('#table-pbx tbody tr').filter({ hasText: MOCK ? 'pbx-sp1' : 'simulator' });
      await row.locator('.badge.badge-online').waitFor();
    }
    await shot(page, name);
  }
  assert.ok(await page.locator('#table-routes').count() === 1);
});

test('language: switch to Brazilian Portuguese, remembered after a reload', async () => {
  await go('live');
  await page.locator('#lang-select').selectOption('pt-BR');
  await page.locator('#nav-live', { hasText: 'Painel ao vivo' }).waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'pt-BR');
  await page.reload();
  await page.locator('#nav-live', { hasText: 'Painel ao vivo' }).waitFor();
  await page.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15000 });
  assert.match(await page.locator('#conn-state').textContent(), /Ao vivo/);
  await page.waitForTimeout(1500);
  await shot(page, '19-live-pt-BR');
  await page.locator('#lang-select').selectOption('en');
  await page.locator('#nav-live', { hasText: 'Live panel' }).waitFor();
});

test('theme: dark mode toggle is remembered', async () => {
  await page.locator('#theme-toggle').click();
  const theme = await page.evaluate(() => document.documentElement.dataset.theme);
  await page.reload();
  await page.locator('#conn-state').waitFor();
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), theme);
  if (theme === 'dark') { await page.waitForTimeout(1500); await shot(page, '20-live-dark'); }
  await page.evaluate(() => localStorage.removeItem('ringside.theme'));
});

test('embed view shows only the live panel', async () => {
  await page.goto(`${BASE_URL}?embed=1#/embed`);
  await page.locator('main.page-embed .live-grid').waitFor();
  assert.equal(await page.locator('#sidenav').isVisible(), false);
  await page.locator('.embed-conn .conn[data-state="live"]').waitFor({ timeout: 15000 });
  await page.waitForTimeout(1000);
  await shot(page, '21-embed');
});

test('narrow screen: the navigation collapses behind a menu button', async () => {
  const p = await newPage(browser, { viewport: { width: 390, height: 844 } });
  await login(p);
  assert.equal(await p.locator('#nav-toggle').isVisible(), true);
  await p.locator('#nav-toggle').click();
  await p.locator('#nav-dashboard').click();
  await p.locator('main.page-dashboard').waitFor();
  await p.goto(`${BASE_URL}#/live`);
  await p.locator('#conn-state[data-state="live"]').waitFor({ timeout: 15000 });
  await p.waitForTimeout(1500);
  await shot(p, '22-live-mobile');
  assert.deepEqual(p.problems, []);
  await p.context().close();
});

test('logging out returns to the login page and drops the token', async () => {
  await page.goto(`${BASE_URL}#/live`);
  await page.locator('#logout-btn').click();
  await page.locator('#login-form').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('ringside.token')), null);
});

test('no script errors or CSP violations happened', () => {
  assert.deepEqual(page.problems, []);
});
